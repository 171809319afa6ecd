/**
 * The first steps of a migrate part: both logins, the junk folder, and the
 * plan (what the journal vouches for, what must be moved, what an earlier
 * run left unknown or failed for good).
 */
import { option } from '../option-hint.js';
import { sketchFromText } from '../message/line-sketch.js';
import { markedAsSpam } from '../message/spam-verdict.js';
import type { JournalState, KnownMessage } from '../state/journal.js';
import type { Listing } from '../store/listing.js';
import type { FolderInfo } from '../store/mail-store.js';
import type { MigrateOptions, MigrateRun, Opened } from './migrate-run.js';
import { POISON_RUNS } from './poison.js';
import type { Sessions } from './sessions.js';

/** What this run must move: the listed messages the journal does not vouch for. */
export function plan(
  listing: Listing,
  folder: FolderInfo,
  journal: JournalState | undefined,
  warn: (message: string) => void,
  folderName: string,
): { vouched: (uidl: string) => boolean; recreated: boolean } {
  // What the journal knows holds only while the folder is the one it was written for,
  // and only when message ids are stable (without them it is keyed by shifting numbers).
  let known = new Map<string, KnownMessage>();
  let recreated = false;
  if (journal && listing.hasUidl) {
    const recorded = journal.folder?.uidValidity;
    if (recorded !== undefined && folder.uidValidity !== undefined && recorded !== String(folder.uidValidity)) {
      warn(`IMAP folder '${folderName}' was recreated (UIDVALIDITY changed); checking every message against it again.`);
      recreated = true;
    } else {
      known = journal.done;
    }
  }
  // An entry speaks for the message now listed under its id only when that id names one message
  // and the size is the one recorded: a server that reuses or repeats ids would otherwise make a
  // new message pass for an old one.
  const vouched = (u: string) => {
    const k = known.get(u);
    return k !== undefined && listing.identified(u) && (k.listSize ?? k.size) === listing.size(u);
  };
  return { vouched, recreated };
}

/**
 * Whether messages were expunged from the folder since the journal recorded
 * it: UIDNEXT moved further than the number of messages grew. Unknown (no
 * count in an older journal, another UIDVALIDITY) counts as no.
 */
function expungedSince(folder: FolderInfo, recorded: JournalState['folder']): boolean {
  const now = folder.seen;
  if (now?.uidNext === undefined || recorded?.uidNext === undefined || recorded.messages === undefined) return false;
  if (folder.uidValidity === undefined || recorded.uidValidity !== String(folder.uidValidity)) return false;
  return now.uidNext - recorded.uidNext > now.messages - recorded.messages;
}

/** Those of `uidls` (vouched for by the journal) whose copy is no longer in the folder. */
async function missingCopies(sessions: Sessions, journal: JournalState, uidls: readonly string[]): Promise<string[]> {
  const index = await sessions.folderIndex({ index: true, flags: false });
  const present = new Set<number>();
  for (const copies of index.values()) for (const m of copies) present.add(m.uid);
  const lookup = sessions.lookup(index);
  const validity = String(sessions.folder?.uidValidity);
  const missing: string[] = [];
  for (const uidl of uidls) {
    const known = journal.done.get(uidl);
    if (known === undefined) continue;
    // The UID the copy was stored or found under names it while the folder keeps its UIDVALIDITY; else its key finds it.
    const there =
      known.uid !== undefined && known.uidValidity === validity ? present.has(known.uid) : (await lookup.copies([known.key])).length > 0;
    if (!there) missing.push(uidl);
  }
  return missing;
}

/** Whether `journal` vouches for the message `listing` names `uidl`, as plan() decides it for the run's own journal. */
function vouchedBy(journal: MigrateOptions['journal'], listing: Listing, uidl: string): boolean {
  const k = journal?.state.done.get(uidl);
  // A copy stored changed is not proven: the junk part reports it again (it is read and routed again).
  if (k === undefined || k.outcome === 'changed' || !listing.hasUidl) return false;
  return listing.identified(uidl) && (k.listSize ?? k.size) === listing.size(uidl);
}

/** Whether the junk folder's journal vouches for the message (then this part does not read it). */
export function vouchedThere(run: MigrateRun, listing: Listing, uidl: string): boolean {
  return run.lane !== undefined && vouchedBy(run.lane.journal, listing, uidl);
}

/** Both logins, then what the first listing and the folder say before any work. */
export async function login(run: MigrateRun): Promise<Opened> {
  const { sessions, summary, journal } = run;
  // Both logins first, in parallel: a wrong password on either side should fail before any work.
  const [s, t] = await Promise.allSettled([sessions.openSource(), sessions.openDestination()]);
  if (s.status === 'rejected' || t.status === 'rejected') {
    throw s.status === 'rejected' ? s.reason : (t as PromiseRejectedResult).reason;
  }
  const first = s.value.listing;
  const sourceServer = s.value.source.server;
  summary.destinationKind = t.value.destination.recognisedAs;
  run.ledger.settled.useListing(first);
  if (!first.hasUidl) {
    run.warnOnce(
      'no-uidl',
      `POP3 server ${sourceServer} does not support UIDL: messages are tracked by number, so later runs rely on Message-ID deduplication alone.`,
    );
  }
  if (first.window !== undefined) {
    const w = first.window;
    const state = journal?.state;
    summary.window = {
      ...w,
      listed: first.order.length,
      reportedBefore: state !== undefined && (state.folder !== undefined || state.done.size > 0 || state.deleted.size > 0),
    };
    run.warnOnce(
      'window',
      `POP3 server ${sourceServer} (${w.server}) lists at most a set number of its newest messages (${w.limit} by default; this session listed ${first.order.length}); older messages may be unreachable over POP3: ${w.advice}.`,
    );
  }
  if (run.options.dryRun && !t.value.folder.exists)
    run.warnOnce('no-folder', `IMAP folder '${summary.folder}' does not exist yet; it would be created.`);
  return { first, sourceServer, destination: t.value.destination, folder: t.value.folder };
}

/** Finds the junk folder (the main part with --junk) and decides what the passes do with marked messages. */
export async function route(run: MigrateRun, opened: Opened): Promise<void> {
  const routing = run.part.route ? await run.part.route(opened.destination) : undefined;
  run.lane = routing?.lane;
  run.whyNot = routing?.whyNot;
  run.elsewhere =
    run.lane !== undefined
      ? markedAsSpam
      : run.whyNot === undefined
        ? undefined
        : (content: Buffer) => {
            if (markedAsSpam(content)) run.kept++;
            return false;
          };
}

/** Plans the part: `run.fresh` are the listed messages to move; the others are vouched for, or failed for good. */
export async function planPart(run: MigrateRun, opened: Opened): Promise<void> {
  const { first } = opened;
  const { journal, summary } = run;
  const { vouched: vouchedHere } = plan(first, opened.folder, journal?.state, (message) => run.hooks.warn(message), summary.folder);
  const vouched = (u: string) => vouchedHere(u) || vouchedThere(run, first, u);
  for (const u of first.order) if (vouchedThere(run, first, u)) run.vouchedElsewhere.push(u);
  failRoutedGone(run, opened);
  const recopy = await lookForMissing(run, opened, vouched);
  run.fresh.push(...first.order.filter((u) => run.mine(u) && (!vouched(u) || recopy.has(u))));
  // An earlier run that ended before confirming its uploads left their outcome unknown.
  for (const u of journal?.state.unconfirmed ?? []) {
    if (!first.has(u)) continue;
    run.unknown.add(u);
    const known = journal!.state.unanswered.get(u);
    const sketch = sketchFromText(known?.sketch);
    if (known?.keys && known.digests && sketch) run.unknownUploads.set(u, { keys: known.keys, digests: known.digests, sketch });
  }
  summary.found = first.order.length;
  summary.knownFromJournal = first.order.length - run.fresh.length;
  // What an earlier run found stored changed is not uploaded again, and is still not proven.
  for (const u of first.order) {
    if (vouched(u) && journal?.state.done.get(u)?.outcome === 'changed')
      run.ledger.stillChanged(
        u,
        `an earlier run found IMAP folder '${summary.folder}' holds it changed beyond what the copy rule accepts: not proven, so it stays on the source and is not uploaded again (see poplift verify).`,
      );
  }
}

/**
 * What the main part routed must be here to be moved: a source that no longer lists it
 * (another client deleted it, or a server that lists a message only until it is read) leaves it undone.
 */
function failRoutedGone(run: MigrateRun, opened: Opened): void {
  for (const u of run.part.routed ?? []) {
    if (opened.first.has(u)) continue;
    run.ledger.failed(
      {
        uidl: u,
        side: 'POP3',
        reason: `POP3 server ${opened.sourceServer} no longer lists this message, which it marked as spam, when it was to be copied into IMAP folder '${run.summary.folder}'; run poplift again.`,
      },
      0,
    );
  }
}

/**
 * Copies an earlier run made may have been deleted from the folder since: looked for when the
 * folder shows an expunge since the journal's record of it, or when asked to copy them again.
 * Returns those to copy again (with --recopy-missing).
 */
async function lookForMissing(run: MigrateRun, opened: Opened, vouched: (uidl: string) => boolean): Promise<Set<string>> {
  const { journal, summary } = run;
  const { first } = opened;
  if (!journal || !opened.folder.exists || !first.order.some((u) => vouched(u))) return new Set();
  run.expunged = expungedSince(opened.folder, journal.state.folder);
  if (!run.expunged && !run.options.recopyMissing) return new Set();
  // Made only here: on a re-run of a large mailbox it holds a string per message.
  const vouchedNow = first.order.filter((u) => vouched(u));
  const gone = await run.withRetries('look for the copies of earlier runs', () => missingCopies(run.sessions, journal.state, vouchedNow));
  summary.missingFromFolder = gone.length;
  if (run.options.recopyMissing) return new Set(gone);
  if (gone.length > 0) {
    const one = gone.length === 1;
    run.warnOnce(
      'missing-from-folder',
      `${one ? '1 message' : `${gone.length} messages`} copied earlier by poplift ${one ? 'is' : 'are'} no longer in IMAP folder '${summary.folder}' (deleted there?); ${one ? 'it was' : 'they were'} not copied again: run with ${option('recopyMissing')} to copy ${one ? 'it' : 'them'} again.`,
    );
  }
  return new Set();
}

/**
 * Before the first pass: the folder is created, progress told what was found, and the messages
 * that made the source drop the connection in too many runs in a row are failed without a try.
 */
export async function prepareMoves(run: MigrateRun, opened: Opened): Promise<void> {
  const { options, journal, fresh, progress } = run;
  const { first } = opened;
  // The folder is created only now that there is something to upload into it, and before any
  // progress is shown: a name the server refuses is the run's one line of output.
  if (fresh.length > 0 && !options.dryRun) {
    // A folder just created may come back before its UIDVALIDITY is known (the destination
    // selects it while the source is read): then it is noted once the folder is read, below.
    const { folder } = await run.sessions.openDestination(true);
    run.noteFolder(folder);
  }
  progress.found = fresh.length;
  progress.totalBytes = fresh.reduce((n, u) => n + first.size(u)!, 0);
  run.hooks.onListed?.({ ...progress });
  if (!journal || !first.hasUidl || options.dryRun || options.retryFailed) return;
  for (const u of fresh) {
    const runs = journal.state.poisoned.get(u) ?? 0;
    const size = journal.state.poisonSize.get(u);
    if (runs < POISON_RUNS || !first.identified(u) || (size !== undefined && size !== first.size(u))) continue;
    const side = journal.state.poisonSide.get(u) ?? 'POP3';
    run.ledger.failed(
      {
        uidl: u,
        side,
        reason: `skipped: the ${side} server dropped the connection on this message in ${runs} runs in a row; it stays on the POP3 server (run poplift with ${option('retryFailed')} to try it again).`,
      },
      first.size(u)!,
      true,
    );
  }
}
