/**
 * One pass of reading and uploading over live connections: pipelined RETR
 * feeds per-message decisions, and batches upload while reading goes on,
 * with the bytes held bounded. A pass ends when every message given to it is
 * settled, or when a connection fails; in-flight uploads are always awaited
 * first, so every message is either settled or known to be unsettled.
 */
import type { Pop3Session } from '../pop3/pop3-session.js';
import { isThrottling, type AppendItem, type AppendOutcome } from '../imap/imap-append-channel.js';
import { ImapTarget, type FolderInfo } from '../imap/imap-target.js';
import type { DedupIndex } from './dedup-index.js';
import type { Listing } from './listing.js';
import type { SettledMessages } from './settled.js';
import { prepareMessage, type PrepareOptions } from './prepare.js';
import { Reclaimer } from './reclaim.js';
import type { FailureReport, MigrationSummary } from './summary.js';

export interface TransferOptions extends PrepareOptions {
  dedupe: boolean;
  dryRun: boolean;
  multiAppend: boolean;
  batchMessages: number;
  batchBytes: number;
  maxInflightBytes: number;
  maxErrors: number | undefined;
}

/** What became of one message in this run. */
export type Settled =
  | { outcome: 'appended'; key: string; size: number; uid: number | undefined; uidValidity: bigint | undefined }
  | { outcome: 'duplicate'; key: string; size: number; sizeDiffers: boolean; keptIn: 'destination' | 'this-run'; keptAs: string; keptUid: number | undefined }
  | { outcome: 'failed' }
  /** Dry run: would be uploaded. */
  | { outcome: 'planned' };

/** The destination side, ready for decisions and uploads. */
export interface Destination {
  target: ImapTarget;
  folder: FolderInfo;
  dedup: DedupIndex;
}

export interface TransferContext {
  source: Pop3Session;
  /**
   * Resolves once the folder is indexed. Reading starts before that, so the
   * POP3 round trips overlap the IMAP ones; the first message waits for it.
   */
  destination: Promise<Destination>;
  /** Message number and LIST size of each UIDL on the current POP3 connection. */
  listing: Listing;
  summary: MigrationSummary;
  settled: SettledMessages;
  /** UIDLs whose upload was cut off before the server answered. */
  unknown: Set<string>;
  /** `failure` comes with a failed outcome: the report just added to summary.failures. */
  onSettled(uidl: string, s: Settled, failure?: FailureReport): void;
  /** Called after each upload batch settles (the journal is flushed there). */
  onBatch(): void;
  warnOnce(key: string, message: string): void;
  shouldStop(): boolean;
  advance(bytes: number): void;
}

interface Pending {
  uidl: string;
  key: string;
  item: AppendItem;
}

const THROTTLE_RETRIES = 5;

/** Fewer bytes let go than this between two requested collections would cost more time than memory saved. */
const RECLAIM_AT_LEAST = 4 * 1024 * 1024;

/** How long a throttling refusal asks to wait (see isThrottling), or undefined for any other outcome. */
export function throttleDelay(outcome: AppendOutcome): number | undefined {
  if (outcome.ok || !isThrottling(outcome.text)) return undefined;
  const hint = /(\d+)\s*milliseconds/i.exec(outcome.text);
  return hint ? Math.min(Number(hint[1]), 120_000) : 5_000;
}

export async function transfer(uidls: readonly string[], ctx: TransferContext, options: TransferOptions): Promise<void> {
  const { summary } = ctx;
  // Set by the first message, which waits for the destination; uploads only start after that.
  let target!: ImapTarget;
  let folder!: FolderInfo;
  let dedup!: DedupIndex;
  let batch: Pending[] = [];
  let batchBytes = 0;
  const uploads: Array<Promise<void>> = [];
  let inflightBytes = 0;
  let fatal: unknown;
  const reclaimer = new Reclaimer(Math.max(RECLAIM_AT_LEAST, options.maxInflightBytes / 2));

  const fail = (uidl: string, side: 'POP3' | 'IMAP', reason: string, bytes: number) => {
    const failure: FailureReport = { uidl, side, reason };
    summary.failed++;
    summary.failures.push(failure);
    ctx.settled.set(uidl, { outcome: 'failed' });
    ctx.onSettled(uidl, { outcome: 'failed' }, failure);
    ctx.advance(bytes);
    if (options.maxErrors !== undefined && summary.failed >= options.maxErrors && summary.stopped === undefined) {
      summary.stopped = `${summary.failed} messages failed, the --max-errors limit; the rest were not tried.`;
    }
  };

  const appended = (uidl: string, key: string, size: number, uid: number | undefined, uidValidity: bigint | undefined) => {
    // One bigint for the folder rather than one per message: a run keeps these for the whole mailbox.
    const validity = uidValidity !== undefined && uidValidity === folder.uidValidity ? folder.uidValidity : uidValidity;
    const s: Settled = { outcome: 'appended', key, size, uid, uidValidity: validity };
    summary.appended++;
    summary.bytes += size;
    ctx.settled.set(uidl, s);
    ctx.onSettled(uidl, s);
    ctx.advance(size);
  };

  const settle = (pending: Pending[], outcomes: AppendOutcome[]) => {
    pending.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) {
        appended(p.uidl, p.key, p.item.content.length, outcome.uid, outcome.uidValidity);
      } else {
        const code = outcome.code ? `[${outcome.code}] ` : '';
        fail(p.uidl, 'IMAP', `${outcome.status} ${code}${outcome.text}`.trim(), p.item.content.length);
        if (outcome.code === 'OVERQUOTA' && summary.stopped === undefined) {
          summary.stopped = `IMAP server ${target.server} says the account is over quota (${outcome.text}); free space or raise the quota, then run poplift again.`;
        }
      }
    });
  };

  const upload = async (pending: Pending[]): Promise<void> => {
    let todo = pending;
    for (let attempt = 0; ; attempt++) {
      const outcomes = await target.append(folder, todo.map((p) => p.item), options.multiAppend);
      const throttled = outcomes.map(throttleDelay);
      const wait = Math.max(0, ...throttled.filter((d): d is number => d !== undefined));
      if (wait === 0 || attempt >= THROTTLE_RETRIES) {
        settle(todo, outcomes);
        return;
      }
      settle(
        todo.filter((_, i) => throttled[i] === undefined),
        outcomes.filter((_, i) => throttled[i] === undefined),
      );
      todo = todo.filter((_, i) => throttled[i] !== undefined);
      ctx.warnOnce('throttle', `IMAP server ${target.server} is throttling uploads; waiting as it asks.`);
      await new Promise((r) => setTimeout(r, wait));
    }
  };

  const flush = () => {
    if (batch.length === 0) return;
    const pending = batch;
    const bytes = batchBytes;
    batch = [];
    batchBytes = 0;
    uploads.push(
      upload(pending)
        .then(() => ctx.onBatch())
        .catch((err: unknown) => {
          // The outcome of this batch is unknown: its messages stay unsettled and are looked up after a reconnect.
          for (const p of pending) if (!ctx.settled.has(p.uidl)) ctx.unknown.add(p.uidl);
          fatal ??= err;
        })
        .finally(() => {
          inflightBytes -= bytes;
          reclaimer.released(bytes);
        }),
    );
  };

  /** Waits for the oldest uploads until the bytes held fit the limit again. */
  const drain = async (limit: number) => {
    while (inflightBytes > limit && uploads.length > 0) await uploads.shift();
  };

  const stopping = () => fatal !== undefined || summary.stopped !== undefined || ctx.shouldStop();

  /** Decides what becomes of one message read; true when it was queued for upload. */
  const take = async (n: number, content: Buffer): Promise<boolean> => {
    if (stopping()) return false;
    if (dedup === undefined) ({ target, folder, dedup } = await ctx.destination);
    if (stopping()) return false;
    const uidl = listing.uidlOf(n)!;
    const prepared = prepareMessage(content, options);
    for (const bad of prepared.invalidKeywords) {
      ctx.warnOnce(`kw:${bad}`, `Keyword '${bad}' (from message ${uidl} and perhaps others) is not a valid IMAP keyword and was dropped.`);
    }
    if (options.dedupe) {
      const dup = dedup.check(prepared.key, content.length, uidl, prepared.altKeys, prepared.altSizes);
      if (dup && ctx.unknown.has(uidl) && dup.keptIn === 'destination' && !dup.sizeDiffers) {
        // Our own upload from before the connection dropped: it did land.
        appended(uidl, prepared.key, content.length, dup.keptUid, folder.uidValidity);
        return false;
      }
      if (dup) {
        summary.duplicates++;
        summary.duplicateList.push(dup);
        const s: Settled = {
          outcome: 'duplicate',
          key: prepared.key,
          size: content.length,
          sizeDiffers: dup.sizeDiffers,
          keptIn: dup.keptIn,
          keptAs: dup.keptAs,
          keptUid: dup.keptUid,
        };
        ctx.settled.set(uidl, s);
        ctx.onSettled(uidl, s);
        ctx.advance(content.length);
        return false;
      }
    }
    dedup.remember(prepared.key, content.length, uidl);
    const flags = prepared.flags.filter((flag) => {
      if (ImapTarget.acceptsFlag(folder, flag)) return true;
      ctx.warnOnce(`flag:${flag.toUpperCase()}`, `IMAP folder '${summary.folder}' does not keep the flag ${flag}; it was dropped.`);
      return false;
    });
    if (prepared.dateSource === 'server') summary.serverDates++;
    if (options.dryRun) {
      summary.wouldAppend.push({ uidl, key: prepared.key, size: content.length, flags, date: prepared.date?.toISOString() });
      summary.bytes += content.length;
      ctx.settled.set(uidl, { outcome: 'planned' });
      ctx.advance(content.length);
      return false;
    }
    if (folder.appendLimit !== undefined && content.length > folder.appendLimit) {
      fail(uidl, 'IMAP', `${content.length} octets is over the server's APPENDLIMIT of ${folder.appendLimit} octets`, content.length);
      return false;
    }
    batch.push({ uidl, key: prepared.key, item: { content, flags, date: prepared.date } });
    batchBytes += content.length;
    inflightBytes += content.length;
    if (batch.length >= options.batchMessages || batchBytes >= options.batchBytes) flush();
    return true;
  };

  const onMessage = async (n: number, content: Buffer): Promise<void> => {
    if (await take(n, content)) await drain(options.maxInflightBytes);
    else reclaimer.released(content.length);
  };

  const { listing } = ctx;
  const numbers: number[] = [];
  for (const uidl of uidls) {
    const n = listing.number(uidl);
    if (n !== undefined) numbers.push(n);
  }
  let readError: unknown;
  try {
    await ctx.source.retrMany(numbers, onMessage, {
      onError: (n, err) => fail(listing.uidlOf(n)!, 'POP3', err.message, listing.size(listing.uidlOf(n)!) ?? 0),
      stopWhen: stopping,
    });
  } catch (err) {
    readError = err;
  }
  // Messages already read are uploaded even when the POP3 side failed or a stop was asked for;
  // after over quota or a lost IMAP connection they would only fail.
  if (fatal === undefined && summary.stopped === undefined) flush();
  await Promise.all(uploads);
  if (fatal !== undefined) throw fatal;
  if (readError !== undefined) throw readError;
}
