/**
 * The migration engine: moves one source mailbox into one destination
 * folder. It plans from the source listing and the journal what is new,
 * moves it in passes (transfer.ts), reconnects a side that drops with
 * backoff and goes on where it was, and deletes from the source only what is
 * proven on the destination (delete-phase.ts). It talks to the stores only
 * through the interfaces of store/mail-store.ts.
 */
import type { JournalState, JournalWriter, KnownMessage } from '../state/journal.js';
import type { Listing } from '../store/listing.js';
import type { FolderIndex, FolderInfo, FolderStatus, StoreEndpoints } from '../store/mail-store.js';
import { DedupIndex } from './dedup-index.js';
import { FolderWatch } from './folder-watch.js';
import { confirmUploads } from './confirm-uploads.js';
import { deletePhase } from './delete-phase.js';
import { Ledger } from './ledger.js';
import { isTransient } from '../errors.js';
import { POISON_RUNS, PoisonTracker, type Charge } from './poison.js';
import { Sessions, type RetryHooks } from './sessions.js';
import { SettledMessages } from './settled.js';
import { StopSignal } from './stop-signal.js';
import { emptySummary, type FailureReport, type MigrationSummary } from './summary.js';
import { transfer, type Destination, type TransferOptions } from './transfer.js';
import { option } from '../option-hint.js';

export interface MigrateOptions extends TransferOptions {
  /** Destination folder, split into levels on '/'. */
  folder: string[];
  /** Reconnect attempts after a dropped, reset or stalled connection. */
  retries: number;
  /** First backoff delay; doubles per attempt, with jitter. */
  backoffMs: number;
  delete: boolean;
  /** Deletions committed per source session. */
  deleteEvery: number;
  /**
   * Most source sessions a run opens: a source that lists only part of the
   * mailbox per session (Gmail's POP3 window) shows the rest in later ones.
   */
  maxSessions: number;
  journal: { state: JournalState; writer: JournalWriter | undefined } | undefined;
  /** Try again the messages the server dropped the connection on in the last runs (otherwise skipped). */
  retryFailed?: boolean;
  /**
   * Copy again the messages an earlier run copied whose copy is no longer in
   * the folder. Off by default: in a folder bridged from cron for months,
   * those are mostly the user's own deletions.
   */
  recopyMissing?: boolean;
}

export interface ProgressEvent {
  found: number;
  totalBytes: number;
  done: number;
  doneBytes: number;
}

export interface MigrateHooks {
  warn(message: string): void;
  onListed?(event: ProgressEvent): void;
  onProgress?(event: ProgressEvent): void;
  /** Called as each message fails (the summary lists them all again at the end). */
  onFailure?(failure: FailureReport): void;
  /** Polled between messages: true once the user asked poplift to stop (SIGINT/SIGTERM). */
  stopRequested?(): boolean;
}

/** What this run must move: the listed messages the journal does not vouch for. */
function plan(
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

export async function migrateMailbox(endpoints: StoreEndpoints, options: MigrateOptions, hooks: MigrateHooks): Promise<MigrationSummary> {
  const started = performance.now();
  const summary = emptySummary(endpoints.sourceLabel, endpoints.destinationLabel, options.folder.join('/'), options.dryRun);
  const warned = new Set<string>();
  const warnOnce = (key: string, message: string) => {
    if (warned.has(key)) return;
    warned.add(key);
    summary.warnings.push(message);
    hooks.warn(message);
  };
  const stop = new StopSignal(() => hooks.stopRequested?.() ?? false);
  const journal = options.journal;
  const writer = journal?.writer;
  const sessions = new Sessions(endpoints, options.folder);
  const retryHooks: RetryHooks = {
    warn: (message) => hooks.warn(message),
    giveUp: () => stop.userRequested,
    onReconnect: () => summary.reconnects++,
    progress: () => ledger.settled.size,
  };
  const withRetries = <T>(what: string, step: () => Promise<T>) => sessions.withRetries(what, step, options, retryHooks);
  const progress: ProgressEvent = { found: 0, totalBytes: 0, done: 0, doneBytes: 0 };
  const settled = new SettledMessages();
  const ledger = new Ledger(
    settled,
    summary,
    writer,
    {
      onFailure: (failure) => hooks.onFailure?.(failure),
      advance: (bytes) => {
        progress.done++;
        progress.doneBytes += bytes;
        hooks.onProgress?.({ ...progress });
      },
    },
    () => sessions.folder?.uidValidity,
    (uidl) => settled.listing?.size(uidl) ?? laterSizes.get(uidl),
    (uidl) => (settled.listing?.has(uidl) ? settled.listing.identified(uidl) : laterIdentified.has(uidl)),
  );
  /** Listed sizes of the messages first seen in a later source session. */
  const laterSizes = new Map<string, number>();
  /** Those of them the later session identified (Listing.identified). */
  const laterIdentified = new Set<string>();
  /** Uploads cut off before the server answered: found on the destination later, they count as appended. */
  const unknown = new Set<string>();
  const poison = new PoisonTracker(options.retries, () => ledger.settled.size);
  /** Ids that disappeared from the source during the run (another client deleted them). */
  const vanished = new Set<string>();

  try {
    // Both logins first, in parallel: a wrong password on either side should fail before any work.
    const [s, t] = await Promise.allSettled([sessions.openSource(), sessions.openDestination()]);
    if (s.status === 'rejected' || t.status === 'rejected') {
      throw s.status === 'rejected' ? s.reason : (t as PromiseRejectedResult).reason;
    }
    const first = s.value.listing;
    summary.destinationKind = t.value.destination.recognisedAs;
    ledger.settled.useListing(first);
    if (!first.hasUidl) {
      warnOnce(
        'no-uidl',
        `POP3 server ${s.value.source.server} does not support UIDL: messages are tracked by number, so later runs rely on Message-ID deduplication alone.`,
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
      warnOnce(
        'window',
        `POP3 server ${s.value.source.server} (${w.server}) lists at most a set number of its newest messages (${w.limit} by default; this session listed ${first.order.length}); older messages may be unreachable over POP3: ${w.advice}.`,
      );
    }
    if (options.dryRun && !t.value.folder.exists)
      warnOnce('no-folder', `IMAP folder '${summary.folder}' does not exist yet; it would be created.`);

    const { vouched } = plan(first, t.value.folder, journal?.state, (message) => hooks.warn(message), summary.folder);
    // Copies an earlier run made may have been deleted from the folder since: looked for when the
    // folder shows an expunge since the journal's record of it, or when asked to copy them again.
    const vouchedNow = first.order.filter((u) => vouched(u));
    let expunged = false;
    let recopy = new Set<string>();
    if (journal && vouchedNow.length > 0 && t.value.folder.exists) {
      expunged = expungedSince(t.value.folder, journal.state.folder);
      if (expunged || options.recopyMissing) {
        const gone = await withRetries('look for the copies of earlier runs', () => missingCopies(sessions, journal.state, vouchedNow));
        summary.missingFromFolder = gone.length;
        if (options.recopyMissing) recopy = new Set(gone);
        else if (gone.length > 0) {
          const one = gone.length === 1;
          warnOnce(
            'missing-from-folder',
            `${one ? '1 message' : `${gone.length} messages`} copied earlier by poplift ${one ? 'is' : 'are'} no longer in IMAP folder '${summary.folder}' (deleted there?); ${one ? 'it was' : 'they were'} not copied again: run with ${option('recopyMissing')} to copy ${one ? 'it' : 'them'} again.`,
          );
        }
      }
    }
    const fresh = first.order.filter((u) => !vouched(u) || recopy.has(u));
    // An earlier run that ended before confirming its uploads left their outcome unknown.
    for (const u of journal?.state.unconfirmed ?? []) if (first.has(u)) unknown.add(u);
    summary.found = first.order.length;
    summary.knownFromJournal = first.order.length - fresh.length;
    // What an earlier run found stored changed is not uploaded again, and is still not proven.
    for (const u of first.order) {
      if (vouched(u) && journal?.state.done.get(u)?.outcome === 'changed')
        ledger.stillChanged(
          u,
          `an earlier run found IMAP folder '${summary.folder}' holds it changed beyond what the copy rule accepts: not proven, so it stays on the source and is not uploaded again (see poplift verify).`,
        );
    }
    // The folder's UIDVALIDITY is recorded before the first upload: if the folder is recreated after
    // a crash, the next run sees another one and trusts none of what the journal says was copied into it.
    let folderNoted = false;
    const noteFolder = (folder: FolderInfo) => {
      if (folderNoted || folder.uidValidity === undefined) return;
      folderNoted = true;
      if (journal?.state.folder?.uidValidity !== String(folder.uidValidity)) ledger.folder(folder.uidValidity);
    };
    // The folder is created only now that there is something to upload into it, and before any
    // progress is shown: a name the server refuses is the run's one line of output.
    if (fresh.length > 0 && !options.dryRun) {
      // A folder just created may come back before its UIDVALIDITY is known (the destination
      // selects it while the source is read): then it is noted once the folder is read, below.
      const { folder } = await sessions.openDestination(true);
      noteFolder(folder);
    }
    progress.found = fresh.length;
    progress.totalBytes = fresh.reduce((n, u) => n + first.size(u)!, 0);
    hooks.onListed?.({ ...progress });
    if (journal && first.hasUidl && !options.dryRun && !options.retryFailed) {
      for (const u of fresh) {
        const runs = journal.state.poisoned.get(u) ?? 0;
        const size = journal.state.poisonSize.get(u);
        if (runs < POISON_RUNS || !first.identified(u) || (size !== undefined && size !== first.size(u))) continue;
        const side = journal.state.poisonSide.get(u) ?? 'POP3';
        ledger.failed(
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

    /** The folder index the passes use, and the watch for another writer since it was read. */
    const watched: { index: FolderIndex | undefined; watch: FolderWatch | undefined } = { index: undefined, watch: undefined };
    /** Moves `batch` (ids of the current source session) in passes until each is settled or gone. */
    const moveAll = (batch: readonly string[]) =>
      withRetries('continue the transfer', async () => {
        for (;;) {
          const remaining = batch.filter((u) => !ledger.settled.has(u) && !vanished.has(u));
          if (remaining.length === 0 || stop.stopping) return;
          const destination = (async (): Promise<Destination> => {
            const { destination: d } = await sessions.openDestination(!options.dryRun);
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
              if (r.outcome === 'appended') dedup.remember(r.key, r.size, uidl, ledger.settled.digests(uidl));
              dedup.claim(r.uid);
            }
            if (!options.dryRun) noteFolder(sessions.folder!);
            const reread = async () => {
              sessions.forgetIndex();
              dedup.use(sessions.lookup(await sessions.folderIndex({ index: true, flags: false })));
            };
            return { destination: d, folder: sessions.folder!, dedup, reread, watch: watched.watch };
          })();
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
                stop,
                unknown,
                onBatch: () => ledger.flush(),
                warnOnce,
                uploadAlone: (uidl) => poison.suspect(uidl),
                hit: (charges) => (hit = charges),
              },
              options,
            );
            // A destination that failed before any message needed it still fails the pass.
            await destination;
          } catch (err) {
            // A dropped session is charged to the message it was busy with; one that keeps
            // dropping on the same message fails alone, and the reconnect goes on with the rest.
            if (isTransient(err)) {
              for (const c of poison.charge(hit)) {
                if (ledger.settled.has(c.uidl)) continue;
                const server = c.side === 'POP3' ? s.value.source.server : t.value.destination.server;
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
            throw err;
          } finally {
            ledger.flush();
          }
          // Messages that vanished from the source (deleted by another client) are not retried,
          // and a pass that settled nothing would only repeat itself.
          const gone = remaining.filter((u) => !ledger.settled.has(u) && !listing.has(u));
          for (const u of gone) vanished.add(u);
          if (gone.length > 0 || ledger.settled.size === before || stop.userRequested) return;
        }
      });

    if (fresh.length > 0) await moveAll(fresh);

    // A source may list only part of the mailbox per session (Gmail's POP3 lists about 250 messages
    // not yet downloaded, and counts a message downloaded once it was read and the session ended).
    // While a session moved everything it listed, end it and look at what the next one lists.
    const listed = new Set(first.order);
    let latest = fresh;
    summary.sessions = 1;
    const confirm = () => withRetries('confirm the uploads', () => confirmUploads(sessions, ledger));
    /** The confirmation of every upload of the run, once made. */
    let confirmation: { status: FolderStatus | undefined } | undefined;
    while (
      latest.length > 0 &&
      summary.sessions < options.maxSessions &&
      !options.dryRun &&
      !stop.stopping &&
      latest.every((u) => ledger.settled.has(u))
    ) {
      // The uploads so far are confirmed while the next session is opened: when it lists nothing
      // new (a source that lists the whole mailbox at once), that confirmation covers the run.
      // Nothing is uploaded meanwhile, and moving new messages waits for it.
      const [status, next] = await Promise.all([
        confirm(),
        withRetries('look for more messages', async () => {
          return (await sessions.renewSource()).listing;
        }),
      ]);
      confirmation = { status };
      summary.sessions++;
      const { vouched: vouchedNow } = plan(next, sessions.folder ?? t.value.folder, journal?.state, () => undefined, summary.folder);
      latest = next.order.filter((u) => !listed.has(u) && !ledger.settled.has(u) && !vouchedNow(u));
      for (const u of next.order) listed.add(u);
      if (latest.length === 0) break;
      confirmation = undefined;
      for (const u of latest) {
        if (journal?.state.unconfirmed.has(u)) unknown.add(u);
        laterSizes.set(u, next.size(u)!);
        if (next.identified(u)) laterIdentified.add(u);
      }
      fresh.push(...latest);
      summary.found += latest.length;
      progress.found += latest.length;
      progress.totalBytes += latest.reduce((n, u) => n + next.size(u)!, 0);
      hooks.onListed?.({ ...progress });
      await moveAll(latest);
    }

    const settledStatus = options.dryRun ? undefined : (confirmation ?? { status: await confirm() }).status;
    if (ledger.suspectCount > 0) {
      warnOnce(
        'size-suspect',
        `${ledger.suspectCount} message(s) came from POP3 server ${s.value.source.server} with another length than it listed: they were copied as sent, but stay on the server (check them there).`,
      );
    }

    const left = fresh.filter((u) => !ledger.settled.has(u) && !vanished.has(u)).length;
    // A stop asked for once every message was settled cut nothing short, unless deleting was still to come.
    if (stop.userRequested && left > 0) stop.stop('interrupted', 'interrupted; run poplift again to continue.');
    else if (stop.userRequested && options.delete && !options.dryRun)
      stop.stop('interrupted', 'interrupted before deleting from the source; every message was copied: run poplift again to delete.');
    if (left > 0) {
      // Exit 0 promises every message is on the destination: say why some are not.
      stop.stop('incomplete', `${left} message(s) were neither uploaded nor found on the destination; run poplift again.`);
    }
    summary.stopped = stop.message;
    summary.stopReason = stop.reason;

    if (options.delete && stop.reason === undefined) {
      await withRetries('delete confirmed messages', () =>
        deletePhase(sessions, ledger, journal?.state, { ...options, warnOnce, stopRequested: () => stop.userRequested }),
      );
    }

    // The folder's state for the journal and ending the sessions need no order.
    const recordFolder = async () => {
      const folder = sessions.folder;
      if (options.dryRun || !writer || !folder?.exists) return;
      // A run that uploaded nothing into a folder the journal already knows has nothing new to record.
      // One that saw an expunge records the folder as it is now, so the next run looks only after another;
      // so does one whose journal's record has no message count yet (written before it was kept).
      const recorded = journal.state.folder;
      if (summary.appended === 0 && !expunged && recorded?.uidValidity === String(folder.uidValidity) && recorded.messages !== undefined)
        return;
      const status = settledStatus ?? (await sessions.openedDestination?.status(folder).catch(() => undefined));
      if (status)
        writer.add({
          t: 'folder',
          uidValidity: status.uidValidity.toString(),
          uidNext: status.uidNext,
          messages: status.messages,
          at: new Date().toISOString(),
        });
    };
    const quitSource = () => (sessions.listing ? sessions.commitSource().catch(() => undefined) : undefined);
    // Neither answer tells the run anything: deletions were committed, and waited for, by the delete
    // phase, and the uploads are confirmed. The source's QUIT goes out now and the destination's
    // LOGOUT once the folder's state is recorded; neither answer is waited for.
    void quitSource();
    await recordFolder();
    void sessions.closeDestination();
    ledger.flush();
    summary.seconds = (performance.now() - started) / 1000;
    return summary;
  } finally {
    await sessions.closeAll();
  }
}
