/**
 * One pass of reading and uploading over live sessions: the source streams
 * messages, each is decided on (duplicate, planned, queued), and batches
 * upload while reading goes on, with the bytes held bounded. A pass ends
 * when every message given to it is settled, or when a session fails;
 * uploads in flight are always awaited first, so every message is either
 * settled or known to be unsettled.
 */
import { copyDigests, type CopyDigests } from '../message/copy-rule.js';
import { lineSketch } from '../message/line-sketch.js';
import { prepareMessage, type PreparedMessage } from '../message/prepared-message.js';
import type { RetrievedInfo, UploadItem, UploadOutcome } from '../store/mail-store.js';
import type { UnknownUpload } from './dedup-index.js';
import type { FolderWatch } from './folder-watch.js';
import { Reclaimer } from './reclaim.js';
import type { Destination, TransferContext, TransferOptions } from './transfer-context.js';
import { ambiguousReason, rebuiltReason, storedChangedReason } from './unproven-reasons.js';
import { option } from '../option-hint.js';

interface Pending {
  uidl: string;
  key: string;
  altKeys: readonly string[];
  altSizes: readonly number[];
  item: UploadItem;
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
   * The other unsettled messages whose upload outcome is unknown (read earlier in this run);
   * undefined when one of them has not been read yet.
   */
  private otherUnknown(uidl: string): UnknownUpload[] | undefined {
    const { ledger, unknown, unknownUploads } = this.ctx;
    const out: UnknownUpload[] = [];
    for (const u of unknown) {
      // One that failed (its copy could not be told from another's) may still be what the folder took.
      if (u === uidl || (ledger.settled.has(u) && ledger.settled.get(u)?.outcome !== 'failed')) continue;
      const known = unknownUploads.get(u);
      if (known === undefined) return undefined;
      out.push(known);
    }
    return out;
  }

  /** What tells this message's copy from another's, when its copy-rule digests are known. */
  private uploadOf(uidl: string, content: Buffer, keys: readonly string[]): UnknownUpload | undefined {
    const digests = this.ctx.ledger.settled.digests(uidl);
    return digests && { digests, sketch: lineSketch(content), keys };
  }

  /** An upload whose outcome is not known: looked for before it is sent again, in this run or a later one. */
  private unanswered(uidl: string, content: Buffer, keys: readonly string[]): void {
    const upload = this.uploadOf(uidl, content, keys);
    this.ctx.unknown.add(uidl);
    if (upload) this.ctx.unknownUploads.set(uidl, upload);
    this.ctx.ledger.unanswered(uidl, this.target?.dedup.newFrom, upload);
  }

  private settle(pending: readonly Pending[], outcomes: readonly UploadOutcome[]): void {
    const { destination } = this.target!;
    pending.forEach((p, i) => {
      const o = outcomes[i]!;
      const size = p.item.content.length;
      switch (o.outcome) {
        case 'stored':
          this.target!.dedup.claim(o.uid, this.ctx.ledger.settled.digests(p.uidl));
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
    // Until its copy is found, each message of the batch is an upload of unknown outcome: what the
    // folder took may be its copy, or that of another under its key (its own batch or another's).
    for (const p of pending) {
      this.ctx.unknown.add(p.uidl);
      const upload = this.uploadOf(p.uidl, p.item.content, [p.key, ...p.altKeys]);
      if (upload) this.ctx.unknownUploads.set(p.uidl, upload);
    }
    for (const [i, p] of pending.entries()) {
      const found = await dedup.unclaimedCopy(p.key, p.item.content, p.altKeys, () => this.otherUnknown(p.uidl));
      if (found !== undefined && !('ambiguous' in found)) this.ctx.unknown.delete(p.uidl);
      if (found !== undefined && 'ambiguous' in found) {
        this.unanswered(p.uidl, p.item.content, [p.key, ...p.altKeys]);
        outcomes[i] = { outcome: 'refused', detail: ambiguousReason(this.ctx.ledger.summary.folder, found.ambiguous) };
        continue;
      }
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
            this.unanswered(p.uidl, p.item.content, [p.key, ...p.altKeys]);
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
   * A message whose upload was cut off is looked up whatever --dedupe says: sending it again
   * without a look would store it twice. Only a copy with its content that no other upload of this
   * run accounts for is its own (the folder may hold an exact duplicate's copy, or another message's
   * under the same key). True when that settled it (found, or failed as ambiguous).
   */
  private async settledAsCutOff(
    uidl: string,
    content: Buffer,
    size: number,
    prepared: PreparedMessage,
    digests: CopyDigests | undefined,
  ): Promise<boolean> {
    const { ctx } = this;
    const { ledger } = ctx;
    const { destination, folder, dedup } = this.target!;
    const upload = this.uploadOf(uidl, content, [prepared.key, ...prepared.altKeys]);
    if (upload) ctx.unknownUploads.set(uidl, upload);
    const found = await dedup.unclaimedCopy(
      prepared.key,
      content,
      prepared.altKeys,
      () => this.otherUnknown(uidl),
      ctx.sentFrom?.(uidl, [prepared.key, ...prepared.altKeys]),
    );
    if (found !== undefined && 'ambiguous' in found) {
      this.fail(uidl, 'IMAP', ambiguousReason(ledger.summary.folder, found.ambiguous), size);
      return true;
    }
    if (found === undefined) return false;
    // Remembered as an upload of this run: the same mail delivered twice is its duplicate, not sent again.
    dedup.remember(prepared.key, size, uidl, digests);
    if (found.changed) ledger.storedChanged(uidl, prepared.key, size, found.uid, storedChangedReason(destination.server, found.uid));
    else ledger.appended(uidl, prepared.key, size, found.uid, folder.uidValidity);
    return true;
  }

  /** With --dedupe: true when the folder, or this run, holds the message already. */
  private async settledAsDuplicate(
    uidl: string,
    content: Buffer,
    size: number,
    prepared: PreparedMessage,
    digests: CopyDigests | undefined,
  ): Promise<boolean> {
    const { ledger } = this.ctx;
    const { destination, dedup } = this.target!;
    const whole = digests && { content, digests };
    const dup = await dedup.check(prepared.key, size, uidl, prepared.altKeys, prepared.altSizes, whole);
    if (dup) {
      ledger.duplicate(dup, size);
      return true;
    }
    // Found again without the journal, a copy the server rebuilt would otherwise be taken for another message.
    const rebuilt = whole ? await dedup.rebuiltCopy(prepared.key, content, prepared.altKeys) : undefined;
    if (rebuilt === undefined) return false;
    dedup.remember(prepared.key, size, uidl, digests);
    ledger.storedChanged(uidl, prepared.key, size, rebuilt, rebuiltReason(destination.server, rebuilt));
    return true;
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
    if (ctx.unknown.has(uidl) && (await this.settledAsCutOff(uidl, content, size, prepared, digests))) return false;
    if (options.dedupe && (await this.settledAsDuplicate(uidl, content, size, prepared, digests))) return false;
    // Checked after the duplicate lookup: a message this folder holds already (copied before --junk
    // was used) stays where it is, and is not copied a second time into the junk folder.
    if (ctx.elsewhere?.(content)) {
      ledger.routed(uidl, size);
      return false;
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
      // waited for it: that message was not what failed, and the source did nothing wrong.
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
