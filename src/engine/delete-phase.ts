/**
 * Deleting from the source what is proven to be on the destination. Before
 * a message is deleted:
 * - this session's listing must name it by a unique, well-formed id, with
 *   the size it had when it was copied (a number alone names whatever
 *   message sits there now);
 * - its copy in the folder must be the message by the copy rule
 *   (message/copy-rule.ts): the copy is fetched and compared with the
 *   digests of the original, taken when this run read it (a message an
 *   earlier run copied is read again now).
 * What cannot be proven stays, and the run says how many and why; one whose
 * copy is shown not to be it also fails the run (exit 1: not every message
 * is proven there), and the journal stops vouching for it.
 * Deletions are committed every `deleteEvery` messages, so a run that dies
 * keeps what it had committed, and a crash before a commit deletes nothing.
 */
import { copyDigests, judgeCopy, type CopyDigests } from '../message/copy-rule.js';
import { contentKeyOfMessage } from '../message/identity-key.js';
import type { JournalState } from '../state/journal.js';
import type { Listing } from '../store/listing.js';
import type { FolderIndex, IndexedMessage, MailSource } from '../store/mail-store.js';
import type { Ledger } from './ledger.js';
import type { Sessions } from './sessions.js';
import { storedChangedReason } from './unproven-reasons.js';
import { option } from '../option-hint.js';

export interface DeleteOptions {
  dryRun: boolean;
  /** Deletions committed per source session. */
  deleteEvery: number;
  warnOnce(key: string, message: string): void;
  /** True once the user asked to stop: marking stops within about a second, and what was marked is committed. */
  stopRequested(): boolean;
}

interface Candidate {
  uidl: string;
  key: string;
  /** The copy's UID when this run or the journal knows it (in the folder's current UIDVALIDITY). */
  uid: number | undefined;
  digests: CopyDigests | undefined;
}

/** Says how many messages stay, and why, by reason. */
function warnKept(options: DeleteOptions, server: string, kept: { unidentified: number; suspect: number; resized: number }): void {
  const { unidentified, suspect, resized } = kept;
  if (unidentified > 0) {
    options.warnOnce(
      'delete-unidentified',
      `${unidentified} message(s) stay on POP3 server ${server}: it does not give every message a unique, well-formed UIDL of its own (some are missing, repeated, malformed, or all are just message numbers), so which message a number names cannot be proven.`,
    );
  }
  if (suspect > 0) {
    options.warnOnce(
      'delete-suspect',
      `${suspect} message(s) stay on POP3 server ${server}: it sent them with another length than it listed, so what it stores may not be what was copied (check them there).`,
    );
  }
  if (resized > 0) {
    options.warnOnce(
      'delete-resized',
      `${resized} message(s) stay on POP3 server ${server}: it now lists them with another size than when they were copied.`,
    );
  }
}

/**
 * Messages copied by an earlier run are read again; their key is made anew from the bytes, since
 * the journal may hold it in a format older versions of poplift wrote.
 */
async function readAgain(source: MailSource, listing: Listing, out: Candidate[]): Promise<void> {
  const unread = out.filter((c) => c.digests === undefined);
  if (unread.length > 0) {
    const byNumber = new Map(unread.map((c) => [listing.number(c.uidl)!, c] as const));
    await source.retrieve(
      [...byNumber.keys()],
      (n, content, info) => {
        if (info.sizeSuspect) return;
        const c = byNumber.get(n)!;
        c.digests = copyDigests(content);
        c.key = contentKeyOfMessage(content);
      },
      { onError: () => undefined },
    );
  }
}

/** The messages of the current listing that may be deleted if their copy proves to be them. */
async function candidates(
  sessions: Sessions,
  ledger: Ledger,
  journal: JournalState | undefined,
  options: DeleteOptions,
): Promise<Candidate[]> {
  const { source, listing } = await sessions.openSource();
  const { settled } = ledger;
  const validity = sessions.folder?.uidValidity;
  const out: Candidate[] = [];
  let unidentified = 0;
  let resized = 0;
  let suspect = 0;
  for (const uidl of listing.order) {
    const r = settled.get(uidl);
    const k = r === undefined ? journal?.done.get(uidl) : undefined;
    if (r === undefined && k === undefined) continue;
    // A copy stored changed is not proven: the message stays.
    if (r?.outcome === 'failed' || r?.outcome === 'planned' || r?.outcome === 'changed' || k?.outcome === 'changed') continue;
    // A message routed to the junk folder is proven and deleted by the run's junk part, against that folder.
    if (r?.outcome === 'routed') continue;
    // A message that came with another length than listed may not be what the server stores.
    if (ledger.isSuspect(uidl) || k?.suspect) {
      suspect++;
      continue;
    }
    if (!listing.identified(uidl)) {
      unidentified++;
      continue;
    }
    const recordedSize = r !== undefined ? ledger.listSize(uidl) : (k!.listSize ?? k!.size);
    if (recordedSize !== listing.size(uidl)) {
      resized++;
      continue;
    }
    if (r?.outcome === 'appended') {
      out.push({ uidl, key: r.key, uid: r.uidValidity === validity ? r.uid : undefined, digests: settled.digests(uidl) });
    } else if (r?.outcome === 'duplicate') {
      // A copy of another size may be another message that shares the key, or the message as the
      // server changed it: the copy rule below tells which; a dry run, which compares nothing, keeps it.
      if (r.sizeDiffers && options.dryRun) continue;
      const kept = r.keptIn === 'this-run' ? settled.get(r.keptAs) : undefined;
      // The copy kept in this run must have been uploaded (in a dry run it was only planned).
      if (r.keptIn === 'this-run' && kept?.outcome !== 'appended') continue;
      const uid =
        r.keptIn === 'destination' ? r.keptUid : kept?.outcome === 'appended' && kept.uidValidity === validity ? kept.uid : undefined;
      out.push({ uidl, key: r.key, uid, digests: settled.digests(uidl) });
    } else if (k && !(k.sizeDiffers && options.dryRun)) {
      // The message an earlier run copied is read again: the proof is of the message this session lists
      // under that UIDL, not of what the journal recorded under it.
      out.push({ uidl, key: k.key, uid: k.uidValidity === validity?.toString() ? k.uid : undefined, digests: undefined });
    }
  }
  warnKept(options, source.server, { unidentified, suspect, resized });
  // A dry run reads no message, so it can only say what would be checked.
  if (options.dryRun) return out;
  await readAgain(source, listing, out);
  return out.filter((c) => c.digests !== undefined);
}

/** The ids whose copy in the folder is the message, by the copy rule; in listing order. */
async function provenCopies(
  sessions: Sessions,
  ledger: Ledger,
  journal: JournalState | undefined,
  options: DeleteOptions,
): Promise<string[]> {
  const list = await candidates(sessions, ledger, journal, options);
  if (list.length === 0 || options.dryRun) return list.map((c) => c.uidl);
  // Copies without a known UID are looked for by key: every message of the folder with it is a candidate.
  const needIndex = list.some((c) => c.uid === undefined);
  // Read as the folder is now, after this run's uploads.
  if (needIndex) sessions.forgetIndex();
  const index: FolderIndex = needIndex ? await sessions.folderIndex({ index: true, flags: false }) : new Map<string, IndexedMessage[]>();
  const lookup = sessions.lookup(index);
  const uidsOf = (c: Candidate): number[] => (c.uid !== undefined ? [c.uid] : lookup.candidates([c.key]).map((m) => m.uid));
  const wanted = [...new Set(list.flatMap(uidsOf))];
  const { destination, folder } = await sessions.openDestination();
  const fetched = new Map<number, CopyDigests>();
  await destination.fetchBodies(folder, wanted, false, (uid, content) => fetched.set(uid, copyDigests(content)));
  const proven: string[] = [];
  const unproven: Candidate[] = [];
  let changed = 0;
  const judge = (c: Candidate) => {
    const verdicts = uidsOf(c).map((uid) => (fetched.has(uid) ? judgeCopy(c.digests!, fetched.get(uid)!) : 'different'));
    return verdicts.includes('identical') ? 'identical' : verdicts.includes('server-changed') ? 'server-changed' : 'different';
  };
  for (const c of list) if (judge(c) === 'different') unproven.push(c);
  // A message with NUL bytes comes back whole only through FETCH BINARY.
  if (unproven.length > 0 && destination.readsBinary) {
    const again = [...new Set(unproven.flatMap(uidsOf))];
    await destination.fetchBodies(folder, again, true, (uid, content) => fetched.set(uid, copyDigests(content)));
  }
  const missed: string[] = [];
  /** Uploads whose copy is at the UID the server named, but is not the message: stored changed. */
  const changedCopies: Candidate[] = [];
  for (const c of list) {
    const verdict = judge(c);
    const uploaded = (ledger.settled.get(c.uidl)?.outcome ?? journal?.done.get(c.uidl)?.outcome) === 'appended';
    if (verdict === 'different' && uploaded && c.uid !== undefined && fetched.has(c.uid)) changedCopies.push(c);
    else if (verdict === 'different') missed.push(c.uidl);
    else {
      if (verdict === 'server-changed') changed++;
      proven.push(c.uidl);
    }
  }
  if (changed > 0) {
    options.warnOnce(
      'delete-server-changed',
      `${changed} message(s) were deleted whose copy differs only by what IMAP server ${destination.server} changes when it stores mail (line ends, 8-bit header bytes, its own header fields).`,
    );
  }
  for (const c of changedCopies) {
    const r = ledger.settled.get(c.uidl);
    const size = r?.outcome === 'appended' ? r.size : (journal?.done.get(c.uidl)?.size ?? 0);
    ledger.storedChanged(c.uidl, c.key, size, c.uid, storedChangedReason(destination.server, c.uid), false);
  }
  if (missed.length > 0) {
    const { source } = await sessions.openSource();
    options.warnOnce(
      'delete-different',
      `${missed.length} message(s) stay on POP3 server ${source.server}: no copy in the folder is the same message (first: ${missed[0]}); run poplift verify ${option('deep')} to see them.`,
    );
    // The run's own check shows these are not in the folder: the run is not done (exit 1).
    for (const uidl of missed) {
      ledger.unproven(
        uidl,
        `no copy in IMAP folder '${ledger.summary.folder}' on ${destination.server} is this message (compared by the copy rule); it stays on POP3 server ${source.server}, and the next run looks for it again.`,
      );
    }
  }
  return proven;
}

export async function deletePhase(
  sessions: Sessions,
  ledger: Ledger,
  journal: JournalState | undefined,
  options: DeleteOptions,
): Promise<void> {
  const pending = await provenCopies(sessions, ledger, journal, options);
  if (options.dryRun) {
    ledger.summary.wouldDelete.push(...pending);
    return;
  }
  while (pending.length > 0 && !options.stopRequested()) {
    const { source, listing } = await sessions.openSource();
    const chunk = pending.slice(0, options.deleteEvery).filter((u) => listing.has(u));
    const result = await source.markDeleted(
      chunk.map((uidl) => ({ n: listing.number(uidl)!, uidl, size: listing.size(uidl)! })),
      { stopWhen: () => options.stopRequested() },
    );
    // QUIT commits what was marked, also after a stop: those copies are proven.
    await sessions.commitSource();
    const marked = new Set(result.marked);
    ledger.deleted(chunk.filter((u) => marked.has(listing.number(u)!)));
    if (result.kept.length > 0 && !result.stopped) {
      options.warnOnce(
        `delete-kept:${result.kept[0]!.n}`,
        `${result.kept.length} message(s) stay on POP3 server ${source.server}: ${result.kept[0]!.reason}${result.kept.length > 1 ? ' (and others)' : ''}.`,
      );
    }
    if (result.stopped) return;
    pending.splice(0, options.deleteEvery);
  }
}
