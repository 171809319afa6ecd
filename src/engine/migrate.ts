/**
 * The migration engine: plans and moves one POP3 mailbox into one IMAP
 * folder. It decides from the POP3 listing and the journal what is new,
 * moves it in passes (see transfer.ts), reconnects a side that drops with
 * backoff and goes on where it was, and deletes from the source only what is
 * confirmed on the destination.
 */
import { PopliftError } from '../errors.js';
import { Pop3ErrorCode } from '../pop3/pop3-errors.js';
import type { Pop3Session } from '../pop3/pop3-session.js';
import type { FolderIndex, FolderInfo, ImapTarget } from '../imap/imap-target.js';
import type { JournalState, JournalWriter, KnownMessage } from '../state/journal.js';
import { DedupIndex } from './dedup-index.js';
import { emptySummary, type FailureReport, type MigrationSummary } from './summary.js';
import { listSource, type Listing } from './listing.js';
import { SettledMessages } from './settled.js';
import { transfer, type Settled, type TransferContext, type TransferOptions } from './transfer.js';

export interface MigrateOptions extends TransferOptions {
  /** Destination folder, split into levels on '/'. */
  folder: string[];
  /** Reconnect attempts after a dropped, reset or stalled connection. */
  retries: number;
  /** First backoff delay; doubles per attempt, with jitter. */
  backoffMs: number;
  delete: boolean;
  /** DELEs committed per POP3 session (QUIT, then reconnect). */
  deleteEvery: number;
  journal: { state: JournalState; writer: JournalWriter | undefined } | undefined;
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

export interface Endpoints {
  /** Labels for the summary, e.g. pop3s://alice@pop.example.org:995 (never with a password). */
  pop3Label: string;
  imapLabel: string;
  connectSource(): Promise<Pop3Session>;
  connectTarget(): Promise<ImapTarget>;
}

const RETRYABLE = new Set<string>([
  Pop3ErrorCode.CONNECTION_LOST,
  Pop3ErrorCode.TIMEOUT,
  Pop3ErrorCode.CONNECT,
  Pop3ErrorCode.CLOSED,
  'IMAP_CONNECTION_LOST',
  'IMAP_TIMEOUT',
  'IMAP_CLOSED',
  'IMAP_CONNECT',
]);

function retryable(err: unknown): err is PopliftError {
  return err instanceof PopliftError && err.code !== undefined && RETRYABLE.has(err.code);
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export async function migrateMailbox(endpoints: Endpoints, options: MigrateOptions, hooks: MigrateHooks): Promise<MigrationSummary> {
  const started = performance.now();
  const summary = emptySummary(endpoints.pop3Label, endpoints.imapLabel, options.folder.join('/'), options.dryRun);
  const warned = new Set<string>();
  const warnOnce = (key: string, message: string) => {
    if (warned.has(key)) return;
    warned.add(key);
    summary.warnings.push(message);
    hooks.warn(message);
  };
  const journal = options.journal;
  const writer = journal?.writer;
  const settled = new SettledMessages();
  /** Uploads cut off before the server answered: found on the destination later, they count as appended. */
  const unknown = new Set<string>();
  /** UIDLs that disappeared from the source during the run (another client deleted them). */
  const vanished = new Set<string>();

  let source: Pop3Session | undefined;
  let target: ImapTarget | undefined;
  let listing: Listing | undefined;
  let folder: FolderInfo | undefined;
  let index: FolderIndex | undefined;

  const closeSource = () => {
    source?.close();
    source = undefined;
    listing = undefined;
  };
  const closeTarget = async () => {
    const t = target;
    target = undefined;
    index = undefined;
    await t?.close().catch(() => undefined);
  };
  const openSource = async () => {
    source ??= await endpoints.connectSource();
    listing ??= await listSource(source);
    return { source, listing };
  };
  const openTarget = async () => {
    target ??= await endpoints.connectTarget();
    if (!folder || !folder.exists) folder = await target.openFolder(options.folder, !options.dryRun);
    return { target, folder };
  };
  /** The dedup index and, before uploading, the folder's flags: one visit to the folder. */
  const ensureIndex = async (forUpload = false) => {
    const { target: t, folder: f } = await openTarget();
    const wantIndex = options.dedupe || options.delete;
    const wantFlags = forUpload && !options.dryRun && !f.flagsKnown;
    if ((index !== undefined || !wantIndex) && !wantFlags) return index ?? (new Map() as FolderIndex);
    const seen = await t.inspect(f, { index: wantIndex && index === undefined, flags: wantFlags });
    folder = seen.folder;
    if (wantIndex) index ??= seen.index;
    return index ?? (new Map() as FolderIndex);
  };

  /** Runs `step` until it succeeds, reconnecting the side that failed with backoff. */
  const withRetries = async <T>(what: string, step: () => Promise<T>): Promise<T> => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await step();
      } catch (err) {
        if (!retryable(err) || attempt >= options.retries || hooks.stopRequested?.()) throw err;
        if (err.side === 'POP3') closeSource();
        else await closeTarget();
        const delay = options.backoffMs * 2 ** attempt * (0.5 + Math.random());
        hooks.warn(`${err.message} Reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${attempt + 1} of ${options.retries}) to ${what}.`);
        summary.reconnects++;
        await sleep(delay);
      }
    }
  };

  try {
    // Both logins first, in parallel: a wrong password on either side should fail before any work.
    const [s, t] = await Promise.allSettled([openSource(), openTarget()]);
    if (s.status === 'rejected' || t.status === 'rejected') {
      throw s.status === 'rejected' ? s.reason : (t as PromiseRejectedResult).reason;
    }
    const first = s.value.listing;
    settled.useListing(first);
    if (!first.hasUidl) {
      warnOnce('no-uidl', `POP3 server ${s.value.source.server} does not support UIDL: messages are tracked by number, so later runs rely on Message-ID deduplication alone.`);
    }
    if (!t.value.folder.exists) warnOnce('no-folder', `IMAP folder '${summary.folder}' does not exist yet; it would be created.`);

    // What the journal knows holds only while the folder is the one it was written for.
    let known = new Map<string, KnownMessage>();
    if (journal && first.hasUidl) {
      const f = t.value.folder;
      const recorded = journal.state.folder?.uidValidity;
      if (recorded !== undefined && f.uidValidity !== undefined && recorded !== String(f.uidValidity)) {
        hooks.warn(`IMAP folder '${summary.folder}' was recreated (UIDVALIDITY changed); checking every message against it again.`);
      } else {
        known = journal.state.done;
      }
    }
    const fresh = first.order.filter((u) => !known.has(u));
    summary.found = first.order.length;
    summary.knownFromJournal = first.order.length - fresh.length;
    const totalBytes = fresh.reduce((n, u) => n + first.size(u)!, 0);
    const progress: ProgressEvent = { found: fresh.length, totalBytes, done: 0, doneBytes: 0 };
    hooks.onListed?.({ ...progress });

    const onSettled = (uidl: string, r: Settled, failure?: FailureReport) => {
      if (r.outcome === 'appended') {
        writer?.add({ t: 'appended', uidl, key: r.key, size: r.size, uid: r.uid, uidValidity: r.uidValidity?.toString() });
      } else if (r.outcome === 'duplicate') {
        writer?.add({
          t: 'duplicate',
          uidl,
          key: r.key,
          size: r.size,
          sizeDiffers: r.sizeDiffers,
          uid: r.keptUid,
          uidValidity: r.keptUid === undefined ? undefined : folder?.uidValidity?.toString(),
        });
      } else if (r.outcome === 'failed') {
        writer?.add({ t: 'failed', uidl, reason: failure?.reason ?? 'failed' });
        if (failure) hooks.onFailure?.(failure);
      }
    };

    if (fresh.length > 0) {
      await withRetries('continue the transfer', async () => {
        for (;;) {
          const remaining = fresh.filter((u) => !settled.has(u));
          if (remaining.length === 0 || summary.stopped !== undefined || hooks.stopRequested?.()) return;
          const destination = (async () => {
            const { target: tgt } = await openTarget();
            // The upload connection logs in while the folder is read.
            if (!options.dryRun) tgt.uploadChannel().catch(() => undefined);
            const dedup = new DedupIndex(await ensureIndex(true));
            for (const [uidl, r] of settled) if (r.outcome === 'appended') dedup.remember(r.key, r.size, uidl);
            return { target: tgt, folder: folder!, dedup };
          })();
          // Failures surface through the first message that waits for it.
          destination.catch(() => undefined);
          const { source: src, listing: list } = await openSource();
          const ctx: TransferContext = {
            source: src,
            destination,
            listing: list,
            summary,
            settled,
            unknown,
            onSettled,
            onBatch: () => writer?.flush(),
            warnOnce,
            shouldStop: () => hooks.stopRequested?.() ?? false,
            advance: (bytes) => {
              progress.done++;
              progress.doneBytes += bytes;
              hooks.onProgress?.({ ...progress });
            },
          };
          const before = settled.size;
          try {
            await transfer(remaining, ctx, options);
            // A destination that failed before any message needed it still fails the pass.
            await destination;
          } finally {
            writer?.flush();
          }
          // Messages that vanished from the source (deleted by another client) are not retried,
          // and a pass that settled nothing would only repeat itself.
          const gone = remaining.filter((u) => !settled.has(u) && !list.has(u));
          for (const u of gone) vanished.add(u);
          if (gone.length > 0 || settled.size === before || hooks.stopRequested?.()) return;
        }
      });
    }

    if (hooks.stopRequested?.() && summary.stopped === undefined) summary.stopped = 'interrupted; run poplift again to continue.';
    const left = fresh.filter((u) => !settled.has(u) && !vanished.has(u)).length;
    if (left > 0 && summary.stopped === undefined) {
      // Exit 0 promises every message is on the destination: say why some are not.
      summary.stopped = `${left} message(s) were neither uploaded nor found on the destination; run poplift again.`;
    }

    if (options.delete && summary.stopped === undefined) {
      await withRetries('delete confirmed messages', () => deletePhase());
    }

    // The folder's state for the journal and QUIT on the source need no order: one round trip for both.
    const recordFolder = async () => {
      if (options.dryRun || !writer || !target || !folder?.exists) return;
      const status = await target.status(folder).catch(() => undefined);
      if (status) writer.add({ t: 'folder', uidValidity: status.uidValidity.toString(), uidNext: status.uidNext, at: new Date().toISOString() });
    };
    const quitSource = async () => {
      if (source) await source.quit().catch(() => undefined);
      source = undefined;
    };
    await Promise.all([recordFolder(), quitSource()]);
    writer?.flush();
    summary.seconds = (performance.now() - started) / 1000;
    return summary;
  } finally {
    closeSource();
    await closeTarget();
  }

  /**
   * Removes from the source only messages whose copy is confirmed: an
   * APPENDUID from this run, or a destination message with the same key and
   * size. DELE is committed by QUIT every `deleteEvery` messages, so a run
   * that dies keeps what it had committed and a crash before QUIT deletes
   * nothing.
   */
  async function deletePhase(): Promise<void> {
    const { listing: list } = await openSource();
    const confirmed: string[] = [];
    /** Confirmed by our own APPENDUID (still in the folder) or by the same key and size there. */
    const toCheck: Array<{ uidl: string; key: string; size: number; uid?: number; uidValidity?: string }> = [];
    for (const uidl of list.order) {
      const r = settled.get(uidl);
      if (r?.outcome === 'appended') {
        if (r.uid !== undefined) confirmed.push(uidl);
        else toCheck.push({ uidl, key: r.key, size: r.size });
      } else if (r?.outcome === 'duplicate') {
        if (r.sizeDiffers) continue;
        if (r.keptIn === 'destination') confirmed.push(uidl);
        else {
          const kept = settled.get(r.keptAs);
          if (kept?.outcome === 'appended' && kept.size === r.size) {
            if (kept.uid !== undefined) confirmed.push(uidl);
            else toCheck.push({ uidl, key: r.key, size: r.size });
          }
        }
      } else if (r === undefined) {
        // Without UIDL the journal is keyed by message numbers, which shift when messages go: never trust it to delete.
        const k = list.hasUidl ? journal?.state.done.get(uidl) : undefined;
        if (k && !k.sizeDiffers) toCheck.push({ uidl, key: k.key, size: k.size, uid: k.uid, uidValidity: k.uidValidity });
      }
    }
    if (toCheck.length > 0) {
      // Confirm against the folder as it is now, after this run's uploads.
      index = undefined;
      const now = await ensureIndex();
      const uids = new Set([...now.values()].flat().map((m) => m.uid));
      const validity = folder?.uidValidity?.toString();
      for (const c of toCheck) {
        // A server may store a message slightly rewritten (CR runs), so our own UID is the better proof.
        const ownCopy = c.uid !== undefined && c.uidValidity !== undefined && c.uidValidity === validity && uids.has(c.uid);
        if (ownCopy || now.get(c.key)?.some((m) => m.size === c.size)) confirmed.push(c.uidl);
      }
    }
    const pending = confirmed;
    if (options.dryRun) {
      summary.wouldDelete.push(...pending);
      return;
    }
    while (pending.length > 0) {
      const { source: src, listing: current } = await openSource();
      const chunk = pending.slice(0, options.deleteEvery).filter((u) => current.has(u));
      for (const uidl of chunk) await src.dele(current.number(uidl)!);
      await src.quit();
      source = undefined;
      listing = undefined;
      for (const uidl of chunk) writer?.add({ t: 'deleted', uidl });
      writer?.flush();
      summary.deleted += chunk.length;
      pending.splice(0, options.deleteEvery);
    }
  }
}
