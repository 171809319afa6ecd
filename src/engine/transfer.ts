/**
 * One pass of reading and uploading over live sessions: the source streams
 * messages, each is decided on (duplicate, planned, queued), and batches
 * upload while reading goes on, with the bytes held bounded. A pass ends
 * when every message given to it is settled, or when a session fails;
 * uploads in flight are always awaited first, so every message is either
 * settled or known to be unsettled.
 */
import { copyDigests, type CopyDigests } from '../message/copy-rule.js';
import { prepareMessage, type PrepareOptions } from '../message/prepared-message.js';
import type { Listing } from '../store/listing.js';
import type { FolderInfo, MailDestination, MailSource, RetrievedInfo, UploadItem, UploadOutcome } from '../store/mail-store.js';
import type { DedupIndex } from './dedup-index.js';
import type { FolderWatch } from './folder-watch.js';
import type { Ledger } from './ledger.js';
import type { Charge } from './poison.js';
import { Reclaimer } from './reclaim.js';
import type { StopSignal } from './stop-signal.js';
import { option } from '../option-hint.js';

export interface TransferOptions extends PrepareOptions {
  dedupe: boolean;
  dryRun: boolean;
  multiAppend: boolean;
  batchMessages: number;
  batchBytes: number;
  maxInflightBytes: number;
  maxErrors: number | undefined;
}

/** The destination side, ready for decisions and uploads. */
export interface Destination {
  destination: MailDestination;
  folder: FolderInfo;
  dedup: DedupIndex;
  /** Reads the folder again and has `dedup` look copies up there (see TransferPass.refusedTogether). */
  reread(): Promise<void>;
  /** Watches the folder for another writer between batches (with --dedupe). */
  watch?: FolderWatch;
}

export interface TransferContext {
  source: MailSource;
  /**
   * Resolves once the folder is indexed. Reading starts before that, so the
   * source's round trips overlap the destination's; the first message waits.
   */
  destination: Promise<Destination>;
  /** Number and size of each message id on the current source session. */
  listing: Listing;
  ledger: Ledger;
  stop: StopSignal;
  /** Ids whose upload was cut off before the server answered. */
  unknown: Set<string>;
  /** Called after each upload batch settles (the journal is flushed there). */
  onBatch(): void;
  warnOnce(key: string, message: string): void;
  /** Messages to upload alone, so that a drop during their upload names them alone. */
  uploadAlone?(uidl: string): boolean;
  /** Before a pass rethrows a session's failure: the messages being read or uploaded when it came. */
  hit?(charges: Charge[]): void;
}

interface Pending {
  uidl: string;
  key: string;
  altKeys: readonly string[];
  altSizes: readonly number[];
  item: UploadItem;
}

/** Why a message counts as stored changed (see Ledger.storedChanged). */
export function storedChangedReason(server: string, uid: number | undefined): string {
  return `IMAP server ${server} stored it${uid === undefined ? '' : ` as UID ${uid}`}, but changed beyond what the copy rule accepts (not only line ends, 8-bit header bytes or its own header fields): not proven, so it stays on the source and is not uploaded again.`;
}

/** Why a message whose copy holds its lines in another order counts as stored changed (see CopyLookup.rebuilt). */
export function rebuiltReason(server: string, uid: number): string {
  return `IMAP server ${server} holds it as UID ${uid} with its lines in another order (a server that stores a message as MIME parts and rebuilds it, such as WildDuck, serves the text after the last part before the first): stored changed, not proven, so it stays on the source and is not uploaded again.`;
}

/** Throttling refusals obeyed for one batch before its messages count as failed. */
const THROTTLE_RETRIES = 5;

/** Fewer bytes let go than this between two requested collections would cost more time than memory saved. */
const RECLAIM_AT_LEAST = 4 * 1024 * 1024;

class TransferPass {
  private target: Destination | undefined;
  private batch: Pending[] = [];
  private batchBytes = 0;
  private readonly uploads: Array<Promise<void>> = [];
  private inflightBytes = 0;
  /** The first failure of an upload whose outcome is unknown: it ends the pass. */
  private fatal: unknown;
  private readonly reclaimer: Reclaimer;
  /** Messages of the batches whose upload failed. */
  private readonly cutOff: string[] = [];
  /** Messages of a refused batch the folder took changed (see DedupIndex.unclaimedCopy). */
  private readonly changed = new Set<string>();

  constructor(
    private readonly ctx: TransferContext,
    private readonly options: TransferOptions,
  ) {
    this.reclaimer = new Reclaimer(Math.max(RECLAIM_AT_LEAST, options.maxInflightBytes / 2));
  }

  private get stopping(): boolean {
    return this.fatal !== undefined || this.ctx.stop.stopping;
  }

  private fail(uidl: string, side: 'POP3' | 'IMAP', reason: string, bytes: number): void {
    const { ledger, stop } = this.ctx;
    ledger.failed({ uidl, side, reason }, bytes);
    const failed = ledger.summary.failed;
    if (this.options.maxErrors !== undefined && failed >= this.options.maxErrors) {
      stop.stop('max-errors', `${failed} messages failed, the ${option('maxErrors')} limit; the rest were not tried.`);
    }
  }

  /**
   * The copy-rule digests of the other unsettled messages whose upload outcome is unknown (read
   * earlier in this run); undefined when one of them has not been read yet.
   */
  private otherUnknown(uidl: string): CopyDigests[] | undefined {
    const { ledger, unknown } = this.ctx;
    const out: CopyDigests[] = [];
    for (const u of unknown) {
      if (u === uidl || ledger.settled.has(u)) continue;
      const d = ledger.settled.digests(u);
      if (d === undefined) return undefined;
      out.push(d);
    }
    return out;
  }

  private settle(pending: readonly Pending[], outcomes: readonly UploadOutcome[]): void {
    const { destination } = this.target!;
    pending.forEach((p, i) => {
      const o = outcomes[i]!;
      const size = p.item.content.length;
      switch (o.outcome) {
        case 'stored':
          this.target!.dedup.claim(o.uid);
          if (this.changed.has(p.uidl)) {
            this.changed.delete(p.uidl);
            this.ctx.ledger.storedChanged(p.uidl, p.key, size, o.uid, storedChangedReason(destination.server, o.uid));
          } else this.ctx.ledger.appended(p.uidl, p.key, size, o.uid, o.uidValidity);
          break;
        case 'over-quota':
          this.fail(p.uidl, 'IMAP', o.detail, size);
          this.ctx.stop.stop(
            'over-quota',
            `IMAP server ${destination.server} says the account is over quota (${o.detail}); free space or raise the quota, then run poplift again.`,
          );
          break;
        case 'later':
          // Not this message's fault: it stays unsettled, and the next run uploads it.
          this.ctx.stop.stop('run-later', o.detail);
          break;
        case 'throttled':
        case 'refused':
          this.fail(p.uidl, 'IMAP', o.detail, size);
          break;
      }
    });
  }

  /**
   * A store may have kept part of a batch sent together and refused whole
   * (RFC 3502 forbids it; servers do it): before the refused messages go
   * again one by one, the folder is read again and each one whose copy is
   * there, by the copy rule and not another upload's, counts as stored.
   */
  private async refusedTogether(pending: readonly Pending[]): Promise<UploadOutcome[]> {
    const { destination, folder, dedup } = this.target!;
    await this.target!.reread();
    const outcomes: UploadOutcome[] = [];
    const again: number[] = [];
    for (const [i, p] of pending.entries()) {
      const found = await dedup.unclaimedCopy(p.key, p.item.content, p.altKeys, this.otherUnknown(p.uidl));
      if (found === undefined) again.push(i);
      else if (found.changed) this.changed.add(p.uidl);
      outcomes[i] = { outcome: 'stored', uid: found?.uid, uidValidity: found === undefined ? undefined : folder.uidValidity };
    }
    const answers = await destination.upload(
      folder,
      again.map((i) => pending[i]!.item),
      false,
    );
    again.forEach((i, k) => (outcomes[i] = answers[k]!));
    return outcomes;
  }

  /**
   * Another writer (a run on another machine) may have appended since the
   * folder was read: when its UIDNEXT moved further than this run's uploads
   * explain, the folder is read again, and a message found there by the
   * dedup's rule is a duplicate, not sent.
   */
  private async notAppendedMeanwhile(watch: FolderWatch, pending: readonly Pending[]): Promise<Pending[]> {
    if (!watch.sentAny) return [...pending];
    const { destination, folder, dedup } = this.target!;
    const status = await destination.status(folder);
    if (!watch.othersAppended(status)) return [...pending];
    await this.target!.reread();
    watch.restart(status!.uidNext);
    const left: Pending[] = [];
    for (const p of pending) {
      const digests = this.ctx.ledger.settled.digests(p.uidl);
      const whole = digests && { content: p.item.content, digests };
      const dup = await dedup.onDestination(p.key, p.item.content.length, p.uidl, p.altKeys, p.altSizes, whole);
      if (dup) this.ctx.ledger.duplicate(dup, p.item.content.length);
      else left.push(p);
    }
    return left;
  }

  private async upload(pending: Pending[]): Promise<void> {
    const { destination, folder, watch } = this.target!;
    let todo = watch ? await this.notAppendedMeanwhile(watch, pending) : pending;
    if (todo.length === 0) return;
    for (let attempt = 0; ; attempt++) {
      const together = this.options.multiAppend && todo.length > 1;
      const count = todo.length;
      watch?.sending(count);
      let outcomes: UploadOutcome[] = [];
      try {
        outcomes = await destination.upload(
          folder,
          todo.map((p) => p.item),
          this.options.multiAppend,
        );
        if (together && outcomes.some((o) => o.outcome === 'refused')) outcomes = await this.refusedTogether(todo);
      } finally {
        watch?.answered(count, outcomes.filter((o) => o.outcome === 'stored').length);
      }
      const throttled = outcomes.map((o) => (o.outcome === 'throttled' ? o.retryAfterMs : undefined));
      const wait = Math.max(0, ...throttled.filter((d): d is number => d !== undefined));
      if (wait === 0 || attempt >= THROTTLE_RETRIES) {
        this.settle(todo, outcomes);
        return;
      }
      this.settle(
        todo.filter((_, i) => throttled[i] === undefined),
        outcomes.filter((_, i) => throttled[i] === undefined),
      );
      todo = todo.filter((_, i) => throttled[i] !== undefined);
      this.ctx.warnOnce('throttle', `IMAP server ${destination.server} is throttling uploads; waiting as it asks.`);
      await new Promise((r) => setTimeout(r, wait));
    }
  }

  private flush(): void {
    if (this.batch.length === 0) return;
    const pending = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    this.uploads.push(
      this.upload(pending)
        .then(() => this.ctx.onBatch())
        .catch((err: unknown) => {
          // The outcome of this batch is unknown: its messages stay unsettled and are looked up after a reconnect.
          for (const p of pending) {
            if (this.ctx.ledger.settled.has(p.uidl)) continue;
            this.ctx.unknown.add(p.uidl);
            this.ctx.ledger.unanswered(p.uidl);
            this.cutOff.push(p.uidl);
          }
          this.fatal ??= err;
        })
        .finally(() => {
          this.inflightBytes -= bytes;
          void this.reclaimer.released(bytes);
        }),
    );
  }

  /** Waits for the oldest uploads until the bytes held fit the limit again. */
  private async drain(limit: number): Promise<void> {
    while (this.inflightBytes > limit && this.uploads.length > 0) await this.uploads.shift();
  }

  /**
   * Decides what becomes of one message read; true when it was queued for
   * upload. `size` is the message's size: its length, or in a dry run that
   * read only headers, its listed size.
   */
  private async take(n: number, content: Buffer, size: number): Promise<boolean> {
    const { ctx, options } = this;
    if (this.stopping) return false;
    this.target ??= await ctx.destination;
    // A stop may have come while the destination was opening.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    if (this.stopping) return false;
    const { destination, folder, dedup } = this.target;
    const { ledger } = ctx;
    const uidl = ctx.listing.uidlOf(n)!;
    // Its copy-rule digests tell its copy from another message's that shares its key: when it is looked
    // up as a duplicate, when its upload is confirmed, and before it is deleted.
    const digests = size === content.length ? copyDigests(content) : undefined;
    if (digests) ledger.settled.setDigests(uidl, digests);
    const prepared = prepareMessage(content, options, size === content.length ? undefined : size);
    for (const bad of prepared.invalidKeywords) {
      ctx.warnOnce(`kw:${bad}`, `Keyword '${bad}' (from message ${uidl} and perhaps others) is not a valid IMAP keyword and was dropped.`);
    }
    // A message whose upload was cut off is looked up whatever --dedupe says: sending it again
    // without a look would store it twice. Only a copy with its content that no other upload of this
    // run accounts for is its own (the folder may hold an exact duplicate's copy, or another message's
    // under the same key).
    if (ctx.unknown.has(uidl)) {
      const found = await dedup.unclaimedCopy(prepared.key, content, prepared.altKeys, this.otherUnknown(uidl));
      if (found?.changed) {
        ledger.storedChanged(uidl, prepared.key, size, found.uid, storedChangedReason(destination.server, found.uid));
        return false;
      }
      if (found !== undefined) {
        ledger.appended(uidl, prepared.key, size, found.uid, folder.uidValidity);
        return false;
      }
    }
    if (options.dedupe) {
      const whole = digests && { content, digests };
      const dup = await dedup.check(prepared.key, size, uidl, prepared.altKeys, prepared.altSizes, whole);
      if (dup) {
        ledger.duplicate(dup, size);
        return false;
      }
      // Found again without the journal, a copy the server rebuilt would otherwise be taken for another message.
      const rebuilt = whole ? await dedup.rebuiltCopy(prepared.key, content, prepared.altKeys) : undefined;
      if (rebuilt !== undefined) {
        ledger.storedChanged(uidl, prepared.key, size, rebuilt, rebuiltReason(destination.server, rebuilt));
        return false;
      }
    }
    dedup.remember(prepared.key, size, uidl, digests);
    const flags = prepared.flags.filter((flag) => {
      if (destination.acceptsFlag(folder, flag)) return true;
      ctx.warnOnce(`flag:${flag.toUpperCase()}`, `IMAP folder '${ledger.summary.folder}' does not keep the flag ${flag}; it was dropped.`);
      return false;
    });
    if (prepared.dateSource === 'server') ledger.summary.serverDates++;
    if (options.dryRun) {
      ledger.planned({ uidl, key: prepared.key, size: size, flags, date: prepared.date?.toISOString() });
      return false;
    }
    if (folder.appendLimit !== undefined && size > folder.appendLimit) {
      this.fail(uidl, 'IMAP', `${size} octets is over the server's APPENDLIMIT of ${folder.appendLimit} octets`, size);
      return false;
    }
    const alone = ctx.uploadAlone?.(uidl) ?? false;
    if (alone) {
      this.flush();
      await this.drain(0);
      // An upload awaited here may have failed and ended the pass.
      // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
      if (this.stopping) return false;
    }
    this.batch.push({
      uidl,
      key: prepared.key,
      altKeys: prepared.altKeys,
      altSizes: prepared.altSizes,
      item: { content, flags, date: prepared.date },
    });
    this.batchBytes += size;
    this.inflightBytes += size;
    if (alone || this.batch.length >= options.batchMessages || this.batchBytes >= options.batchBytes) this.flush();
    if (alone) await this.drain(0);
    return true;
  }

  async run(uidls: readonly string[]): Promise<void> {
    const { listing } = this.ctx;
    const numbers: number[] = [];
    for (const uidl of uidls) {
      const n = listing.number(uidl);
      if (n !== undefined) numbers.push(n);
    }
    let readError: unknown;
    /** Numbers the source answered (with a message or an error): the first one not among them was being read. */
    const answered = new Set<number>();
    // A dry run needs only headers and sizes, and a source that counts a message as downloaded once it
    // is read (Gmail's POP3) must not see it read.
    const headersOnly = this.options.dryRun && this.ctx.source.readsHeaders;
    const onMessage = async (n: number, content: Buffer, info?: RetrievedInfo): Promise<void> => {
      answered.add(n);
      if (info?.sizeSuspect) this.ctx.ledger.suspect(listing.uidlOf(n)!);
      const size = headersOnly ? (listing.size(listing.uidlOf(n)!) ?? content.length) : content.length;
      if (await this.take(n, content, size)) await this.drain(this.options.maxInflightBytes);
      else void this.reclaimer.released(content.length);
    };
    const readOptions = {
      onError: (n: number, err: Error) => {
        answered.add(n);
        this.fail(listing.uidlOf(n)!, 'POP3', err.message, listing.size(listing.uidlOf(n)!) ?? 0);
      },
      stopWhen: () => this.stopping,
    };
    try {
      if (headersOnly) await this.ctx.source.readHeaders(numbers, onMessage, readOptions);
      else await this.ctx.source.retrieve(numbers, onMessage, readOptions);
    } catch (err) {
      readError = err;
    }
    // Messages already read are uploaded even when the source failed or a stop was asked for;
    // after over quota or a lost destination session they would only fail.
    if (this.fatal === undefined && this.ctx.stop.reason === undefined) this.flush();
    await Promise.all(this.uploads);
    // What an upload or the source failed with, rethrown as it came.
    if (this.fatal !== undefined) {
      this.ctx.hit?.(this.cutOff.map((uidl) => ({ uidl, side: 'IMAP' as const })));
    } else if (readError !== undefined && (readError as { side?: unknown } | null | undefined)?.side !== 'IMAP') {
      // An error of the destination (its folder read) also ends the read, through the message that
      // waited for it: that message was not what failed, and the POP3 server did nothing wrong.
      const reading = numbers.find((n) => !answered.has(n));
      const uidl = reading === undefined ? undefined : listing.uidlOf(reading);
      this.ctx.hit?.(uidl === undefined || this.ctx.ledger.settled.has(uidl) ? [] : [{ uidl, side: 'POP3' }]);
    }
    /* eslint-disable @typescript-eslint/only-throw-error */
    if (this.fatal !== undefined) throw this.fatal;
    if (readError !== undefined) throw readError;
    /* eslint-enable @typescript-eslint/only-throw-error */
  }
}

/** Moves `uidls` (ids of the listing) over the sessions in ctx; see the file's header. */
export function transfer(uidls: readonly string[], ctx: TransferContext, options: TransferOptions): Promise<void> {
  return new TransferPass(ctx, options).run(uidls);
}
