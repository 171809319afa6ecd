/**
 * The transfer passes of a migrate part: each pass moves what is left of a
 * batch over the live sessions (transfer.ts), a dropped session is charged
 * to the message it was busy with, and further source sessions are opened
 * while each one moved everything it listed (a source that lists only part
 * of the mailbox per session).
 */
import { isTransient } from '../errors.js';
import { indexKeyOf } from '../message/identity-key.js';
import type { JournalState, KnownMessage } from '../state/journal.js';
import type { Listing } from '../store/listing.js';
import type { FolderStatus } from '../store/mail-store.js';
import { confirmUploads } from './confirm-uploads.js';
import { DedupIndex } from './dedup-index.js';
import { FolderWatch } from './folder-watch.js';
import { plan, vouchedThere } from './migrate-plan.js';
import type { MigrateRun, Opened } from './migrate-run.js';
import type { Charge } from './poison.js';
import type { Destination } from './transfer-context.js';
import { transfer } from './transfer.js';

/** The destination side of a pass: the session, the folder indexed, and the dedup index over it and this run. */
async function readyDestination(run: MigrateRun): Promise<Destination> {
  const { sessions, options, unknown, ledger, watched } = run;
  const { destination: d } = await sessions.openDestination(!options.dryRun);
  run.changesCopies ||= d.rebuildsMessages === true || [...provenCopies(run)].some((k) => k.outcome === 'changed');
  // The upload session logs in while the folder is read.
  if (!options.dryRun) d.prepareUpload();
  const wantIndex = options.dedupe || options.delete || unknown.size > 0;
  const index = await sessions.folderIndex({ index: wantIndex, flags: !options.dryRun });
  // The folder is watched for another writer from the moment its index was read.
  if (index !== watched.index) {
    watched.index = index;
    watched.watch = options.dedupe && !options.dryRun ? new FolderWatch(sessions.folder?.seen?.uidNext) : undefined;
  }
  const dedup = new DedupIndex(sessions.lookup(index), {
    trackClaims: unknown.size > 0 || options.multiAppend || watched.watch !== undefined,
    newFrom: sessions.firstSeen?.uidNext,
  });
  for (const [uidl, r] of ledger.settled) {
    if (r.outcome !== 'appended' && r.outcome !== 'changed') continue;
    // A copy stored changed is one too: the same mail delivered twice is not sent again for it.
    dedup.remember(r.key, r.size, uidl, ledger.settled.digests(uidl));
    dedup.claim(r.uid, ledger.settled.digests(uidl));
  }
  // A copy the journal ties to another message is not the copy of an upload cut off earlier.
  const validity = sessions.folder?.uidValidity?.toString();
  if (unknown.size > 0 && validity !== undefined) for (const k of provenCopies(run)) if (k.uidValidity === validity) dedup.claim(k.uid);
  if (!options.dryRun) run.noteFolder(sessions.folder!);
  const reread = async () => {
    sessions.forgetIndex();
    dedup.use(sessions.lookup(await sessions.folderIndex({ index: true, flags: false })));
  };
  return { destination: d, folder: sessions.folder!, dedup, reread, watch: watched.watch };
}

/** What the journal says of the copies in the folder: of the messages still to move, and of those deleted since. */
function* provenCopies(run: MigrateRun): Iterable<KnownMessage> {
  yield* run.journal?.state.done.values() ?? [];
  yield* run.journal?.state.deletedCopies ?? [];
}

/** For an upload an earlier run cut off: the folder's UIDNEXT before it (TransferContext.sentFrom). */
function sentFrom(run: MigrateRun, uidl: string, keys: readonly string[]): number | undefined {
  const journal = run.journal;
  const sent = journal?.state.unanswered.get(uidl);
  if (sent?.from === undefined || sent.uidValidity !== run.sessions.folder?.uidValidity?.toString()) return undefined;
  // Only on a server known to change what it stores: elsewhere the copy of an upload cut off earlier is
  // the message by the copy rule, and a message the folder took since is another writer's (a run with
  // another state directory, a mail client).
  if (!run.changesCopies && run.ledger.summary.storedChanged === 0) return undefined;
  // A message an earlier run proved under one of its keys without learning its UID may be any
  // copy the folder took since: none of them can then be told to be this one's.
  run.unplaced ??= new Set([...provenCopies(run)].filter((k) => k.uid === undefined).map((k) => indexKeyOf(k.key)));
  const unplaced = run.unplaced;
  return keys.some((k) => unplaced.has(indexKeyOf(k))) ? undefined : sent.from;
}

/**
 * A dropped session is charged to the message it was busy with; one that keeps
 * dropping on the same message fails alone, and the reconnect goes on with the rest.
 */
function chargeDrop(run: MigrateRun, opened: Opened, hit: Charge[], listing: Listing): void {
  const { ledger, options } = run;
  for (const c of run.poison.charge(hit)) {
    if (ledger.settled.has(c.uidl)) continue;
    const server = c.side === 'POP3' ? opened.sourceServer : opened.destination.server;
    const doing = c.side === 'POP3' ? 'sending' : 'receiving';
    const times = options.retries === 1 ? 'once' : `${options.retries} times in a row`;
    ledger.failed(
      {
        uidl: c.uidl,
        side: c.side,
        reason: `${c.side} server ${server} dropped the connection while ${doing} this message, ${times}; it stays on the POP3 server.`,
      },
      listing.size(c.uidl) ?? 0,
      true,
    );
  }
}

/** One pass over `remaining`; false when another would not move more (see moveAll). */
async function onePass(run: MigrateRun, opened: Opened, remaining: string[]): Promise<boolean> {
  const { ledger, sessions } = run;
  const destination = readyDestination(run);
  // Failures surface through the first message that waits for it.
  destination.catch(() => undefined);
  const { source, listing } = await sessions.openSource();
  const before = ledger.settled.size;
  let hit: Charge[] = [];
  try {
    await transfer(
      remaining,
      {
        source,
        destination,
        listing,
        ledger,
        stop: run.stop,
        unknown: run.unknown,
        unknownUploads: run.unknownUploads,
        sentFrom: (uidl, keys) => sentFrom(run, uidl, keys),
        onBatch: () => ledger.flush(),
        warnOnce: (key, message) => run.warnOnce(key, message),
        uploadAlone: (uidl) => run.poison.suspect(uidl),
        hit: (charges) => (hit = charges),
        elsewhere: run.elsewhere,
      },
      run.options,
    );
    // A destination that failed before any message needed it still fails the pass.
    await destination;
  } catch (err) {
    if (isTransient(err)) chargeDrop(run, opened, hit, listing);
    throw err;
  } finally {
    ledger.flush();
  }
  // Messages that vanished from the source (deleted by another client) are not retried,
  // and a pass that settled nothing would only repeat itself.
  const gone = remaining.filter((u) => !ledger.settled.has(u) && !listing.has(u));
  for (const u of gone) run.vanished.add(u);
  return !(gone.length > 0 || ledger.settled.size === before || run.stop.userRequested);
}

/** Moves `batch` (ids of the current source session) in passes until each is settled or gone. */
export function moveAll(run: MigrateRun, opened: Opened, batch: readonly string[]): Promise<void> {
  return run.withRetries('continue the transfer', async () => {
    for (;;) {
      const remaining = batch.filter((u) => !run.ledger.settled.has(u) && !run.vanished.has(u));
      if (remaining.length === 0 || run.stop.stopping) return;
      if (!(await onePass(run, opened, remaining))) return;
    }
  });
}

/** Proves every upload so far is in the folder (confirm-uploads.ts). */
export function confirm(run: MigrateRun): Promise<FolderStatus | undefined> {
  return run.withRetries('confirm the uploads', () => confirmUploads(run.sessions, run.ledger));
}

/**
 * Why a source that listed `first` may list more in a further session, or
 * undefined when nothing says so: a server that lists the whole mailbox at
 * once (most do) is not logged in to and listed a second time for nothing.
 */
export function furtherSessionsNeeded(first: Listing, journal: JournalState | undefined, asked: boolean): string | undefined {
  if (asked) return '--max-sessions';
  if (first.movingWindow !== undefined) return first.movingWindow;
  if (journal === undefined || first.order.length === 0) return undefined;
  // An earlier run's further session found more after a first listing of this length: a window's.
  if (journal.windowListed === first.order.length) return 'a window of this length seen before';
  // A server that stops listing what a run read from it without deleting it, and lists other
  // messages instead, behaves as one serving windows (Gmail counts a read message as downloaded).
  if (!first.hasUidl || journal.done.size === 0) return undefined;
  for (const uidl of journal.done.keys()) if (first.has(uidl)) return undefined;
  return 'none of the messages copied earlier and left on the server is listed';
}

/**
 * A source may list only part of the mailbox per session (Gmail's POP3 lists about 250 messages
 * not yet downloaded, and counts a message downloaded once it was read and the session ended).
 * While a session moved everything it listed, end it and look at what the next one lists.
 */
export async function laterSessions(run: MigrateRun, opened: Opened): Promise<void> {
  const { summary, options, ledger, journal, progress } = run;
  const { first } = opened;
  /** What the sessions of this run listed, made once a further session is opened. */
  let listed: Set<string> | undefined;
  let latest: string[] = [...run.fresh];
  summary.sessions = 1;
  const lookFurther = furtherSessionsNeeded(first, journal?.state, options.lookForMore === true) !== undefined;
  while (
    latest.length > 0 &&
    // Once a further session found more, the source is seen to serve windows.
    (lookFurther || summary.sessions > 1) &&
    summary.sessions < options.maxSessions &&
    !options.dryRun &&
    !run.stop.stopping &&
    latest.every((u) => ledger.settled.has(u))
  ) {
    // The uploads so far are confirmed while the next session is opened: when it lists nothing
    // new (a source that lists the whole mailbox at once), that confirmation covers the run.
    // Nothing is uploaded meanwhile, and moving new messages waits for it.
    const [status, next] = await Promise.all([
      confirm(run),
      run.withRetries('look for more messages', async () => {
        return (await run.sessions.renewSource()).listing;
      }),
    ]);
    run.confirmation = { status };
    summary.sessions++;
    const { vouched: vouchedNow } = plan(next, run.sessions.folder ?? opened.folder, journal?.state, () => undefined, summary.folder);
    const seen = (listed ??= new Set(first.order));
    latest = next.order.filter(
      (u) => run.mine(u) && !seen.has(u) && !ledger.settled.has(u) && !vouchedNow(u) && !vouchedThere(run, next, u),
    );
    for (const u of next.order) seen.add(u);
    if (latest.length === 0) break;
    // The next run opens a further session after a first listing of this length too.
    if (summary.sessions === 2) journal?.writer?.add({ t: 'window', listed: first.order.length, at: new Date().toISOString() });
    run.confirmation = undefined;
    for (const u of latest) {
      if (journal?.state.unconfirmed.has(u)) run.unknown.add(u);
      run.laterSizes.set(u, next.size(u)!);
      if (next.identified(u)) run.laterIdentified.add(u);
    }
    run.fresh.push(...latest);
    summary.found += latest.length;
    progress.found += latest.length;
    progress.totalBytes += latest.reduce((n, u) => n + next.size(u)!, 0);
    run.hooks.onListed?.({ ...progress });
    await moveAll(run, opened, latest);
  }
}
