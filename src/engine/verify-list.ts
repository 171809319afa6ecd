/**
 * The first steps of a folder's check: both logins, the source's listing,
 * the folder opened (read-only) and indexed.
 */
import { option } from '../option-hint.js';
import { PopliftError } from '../errors.js';
import type { FolderIndex } from '../store/mail-store.js';
import { CopyLookup } from './copy-lookup.js';
import { scanIndex } from './folder-index.js';
import type { VerifyRun } from './verify-run.js';

/** Both logins first, in parallel, as migrate does: a wrong password on either side fails before any work. */
export async function login(run: VerifyRun): Promise<void> {
  const [s, t] = await Promise.allSettled([run.endpoints.connectSource(), run.endpoints.connectDestination()]);
  if (s.status === 'fulfilled') run.source = s.value;
  if (t.status === 'fulfilled') run.destination = t.value;
  if (s.status === 'rejected') throw s.reason;
  if (t.status === 'rejected') throw t.reason;
}

/** Lists the source mailbox, and says what the listing cannot tell. */
export async function listSource(run: VerifyRun): Promise<void> {
  const source = run.source!;
  const listing = await source.list();
  run.listing = listing;
  if (!listing.hasUidl) run.warn(`POP3 server ${source.server} does not support UIDL: messages are named by their number in this session.`);
  if (listing.window !== undefined) {
    const w = listing.window;
    run.warn(
      `POP3 server ${source.server} (${w.server}) lists at most a set number of its newest messages (${w.limit} by default; this session listed ${listing.order.length}); older messages may be unreachable over POP3 and were not checked: ${w.advice}.`,
    );
  }
}

/**
 * Opens the folder read-only. False when the check is over: the junk folder's check of a folder that
 * does not exist reports each message missing. A folder that does not exist otherwise fails the check,
 * naming the folders the account has, unless the source mailbox is empty.
 */
export async function openTheFolder(run: VerifyRun): Promise<boolean> {
  const { report, listing, options } = run;
  const source = run.source!;
  const destination = run.destination!;
  const folder = await destination.openFolder(options.folder, false);
  run.openFolder = folder;
  report.folderExists = folder.exists;
  const only = options.only;
  for (const u of only ?? []) {
    if (listing.has(u)) continue;
    run.problem(
      { problem: 'unreadable', uidl: u, number: 0, size: 0, key: undefined, subject: undefined, date: undefined, copies: [] },
      `POP3 server ${source.server} no longer lists it.`,
    );
  }
  if (!folder.exists && run.missingFolderIsOk) {
    for (const u of listing.order)
      if (only?.has(u) !== false)
        run.problem(
          {
            problem: 'missing',
            uidl: u,
            number: listing.number(u)!,
            size: listing.size(u)!,
            key: undefined,
            subject: undefined,
            date: undefined,
            copies: [],
          },
          'The folder does not exist.',
        );
    return false;
  }
  if (!folder.exists && listing.order.length === 0)
    run.warn(`IMAP folder '${report.folder}' does not exist (and the POP3 mailbox is empty).`);
  else if (!folder.exists) {
    // Every message would be reported missing: say instead what the account has.
    const names = await destination.listFolders().catch(() => []);
    const shown = names.slice(0, 20).join(', ') + (names.length > 20 ? `, and ${names.length - 20} more` : '');
    throw new PopliftError(
      `IMAP folder '${report.folder}' does not exist on IMAP server ${destination.server}${names.length > 0 ? `; the account has: ${shown}` : ''}. Give the folder with ${option('folder')} ('/' separates levels).`,
      { side: 'IMAP', server: destination.server, code: 'IMAP_FOLDER_MISSING' },
    );
  }
  return true;
}

/** Indexes the folder by key, and decides how deep the source is read. */
export async function indexFolder(run: VerifyRun): Promise<void> {
  const { report, options } = run;
  const destination = run.destination!;
  const index: FolderIndex = new Map();
  await destination.inspect(run.openFolder!, { flags: false, scan: scanIndex(index) });
  run.index = index;
  run.lookup = new CopyLookup(index, (uids, binary, each) => run.fetchCopies(uids, binary, each));
  for (const list of index.values()) report.folderMessages += list.length;
  report.found = run.listing.order.length;
  // Headers and LIST size settle most messages without reading them whole.
  // A server that rebuilds what it serves keeps the size it computed: a copy's size proves nothing there.
  run.deep = options.deep || destination.rebuildsMessages === true;
  if (run.deep && !options.deep) {
    report.deep = true;
    run.warn(
      `IMAP server ${destination.server} serves each message rebuilt from what it stored (WildDuck), so a copy's size proves nothing: every message was read whole and judged by the copy rule, as with ${option('deep')}.`,
    );
  }
  run.useTop = !run.deep && run.source!.readsHeaders;
  report.read = run.useTop ? 'TOP' : 'RETR';
}
