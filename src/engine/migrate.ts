/**
 * The migration engine: plans and moves one POP3 mailbox into one IMAP
 * folder. It reads with pipelined RETRs, decides per message (duplicate,
 * upload, or fail), and uploads in batches while reading goes on, with the
 * bytes held in memory bounded by `maxInflightBytes`.
 */
import type { Pop3Session } from '../source/pop3-session.js';
import { ImapTarget, type FolderIndex, type FolderInfo } from '../target/imap-target.js';
import type { AppendItem, AppendOutcome } from '../target/imap-append-channel.js';
import { DedupIndex } from './dedup-index.js';
import { prepareMessage, type PrepareOptions } from './prepare.js';
import { emptySummary, type MigrationSummary } from './summary.js';

export interface MigrateOptions extends PrepareOptions {
  /** Destination folder, split into levels on '/'. */
  folder: string[];
  dedupe: boolean;
  dryRun: boolean;
  multiAppend: boolean;
  /** A batch is uploaded when it holds this many messages… */
  batchMessages: number;
  /** …or this many octets. */
  batchBytes: number;
  /** Octets read but not yet confirmed uploaded; reading pauses above this. */
  maxInflightBytes: number;
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
}

export interface Endpoints {
  /** Labels for the summary, e.g. pop3s://alice@pop.example.org:995 (never with a password). */
  pop3Label: string;
  imapLabel: string;
  connectSource(): Promise<Pop3Session>;
  connectTarget(): Promise<ImapTarget>;
}

interface Pending {
  number: number;
  uidl: string;
  item: AppendItem;
}

async function connectBoth(endpoints: Endpoints): Promise<[Pop3Session, ImapTarget]> {
  const [source, target] = await Promise.allSettled([endpoints.connectSource(), endpoints.connectTarget()]);
  if (source.status === 'fulfilled' && target.status === 'fulfilled') return [source.value, target.value];
  if (source.status === 'fulfilled') source.value.close();
  if (target.status === 'fulfilled') await target.value.close().catch(() => undefined);
  // The POP3 side is reported first: it is named first on the command line.
  throw source.status === 'rejected' ? source.reason : (target as PromiseRejectedResult).reason;
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

  const [source, target] = await connectBoth(endpoints);
  try {
    const [listing, { folder, index }] = await Promise.all([
      (async () => ({ sizes: await source.list(), uidls: await source.uidl() }))(),
      (async () => {
        const folder = await target.openFolder(options.folder, !options.dryRun);
        const index: FolderIndex = options.dedupe ? await target.index(folder) : new Map();
        return { folder, index };
      })(),
    ]);
    if (!listing.uidls) {
      warnOnce(
        'no-uidl',
        `POP3 server ${source.server} does not support UIDL: messages are tracked by number, so later runs rely on Message-ID deduplication alone.`,
      );
    }
    if (!folder.exists) warnOnce('no-folder', `IMAP folder '${summary.folder}' does not exist yet; it would be created.`);
    const numbers = [...listing.sizes.keys()].sort((a, b) => a - b);
    const uidlOf = (n: number) => listing.uidls?.get(n) ?? String(n);
    const totalBytes = [...listing.sizes.values()].reduce((a, b) => a + b, 0);
    summary.found = numbers.length;
    const progress: ProgressEvent = { found: numbers.length, totalBytes, done: 0, doneBytes: 0 };
    hooks.onListed?.({ ...progress });
    const advance = (bytes: number) => {
      progress.done++;
      progress.doneBytes += bytes;
      hooks.onProgress?.({ ...progress });
    };

    const dedup = new DedupIndex(index);
    let batch: Pending[] = [];
    let batchBytes = 0;
    const uploads: Array<{ bytes: number; done: Promise<void> }> = [];
    let inflightBytes = 0;
    let fatal: unknown;

    const settle = (pending: Pending[], outcomes: AppendOutcome[]) => {
      pending.forEach((p, i) => {
        const outcome = outcomes[i]!;
        if (outcome.ok) {
          summary.appended++;
          summary.bytes += p.item.content.length;
        } else {
          summary.failed++;
          const code = outcome.code ? `[${outcome.code}] ` : '';
          summary.failures.push({ uidl: p.uidl, side: 'IMAP', reason: `${outcome.status} ${code}${outcome.text}`.trim() });
          if (outcome.code === 'OVERQUOTA' && summary.stopped === undefined) {
            summary.stopped = `IMAP server ${target.server} says the account is over quota (${outcome.text}); free space or raise the quota, then run poplift again.`;
          }
        }
        advance(p.item.content.length);
      });
    };

    const flush = () => {
      if (batch.length === 0) return;
      const pending = batch;
      const bytes = batchBytes;
      batch = [];
      batchBytes = 0;
      const done = target
        .append(folder, pending.map((p) => p.item), options.multiAppend)
        .then((outcomes) => settle(pending, outcomes))
        .catch((err: unknown) => {
          fatal ??= err;
        })
        .finally(() => {
          inflightBytes -= bytes;
        });
      uploads.push({ bytes, done });
    };

    /** Waits for the oldest uploads until the bytes held fit the limit again. */
    const drain = async (limit: number) => {
      while (inflightBytes > limit && uploads.length > 0) await uploads.shift()!.done;
    };

    const onMessage = async (n: number, content: Buffer): Promise<void> => {
      if (fatal !== undefined || summary.stopped !== undefined) return;
      const uidl = uidlOf(n);
      const prepared = prepareMessage(content, options);
      for (const bad of prepared.invalidKeywords) {
        warnOnce(`kw:${bad}`, `Keyword '${bad}' (from message ${uidl} and perhaps others) is not a valid IMAP keyword and was dropped.`);
      }
      if (options.dedupe) {
        const dup = dedup.check(prepared.key, content.length, uidl, prepared.altKeys, prepared.altSizes);
        if (dup) {
          summary.duplicates++;
          summary.duplicateList.push(dup);
          advance(content.length);
          return;
        }
      }
      dedup.remember(prepared.key, content.length, uidl);
      const flags = prepared.flags.filter((flag) => {
        if (ImapTarget.acceptsFlag(folder, flag)) return true;
        warnOnce(`flag:${flag.toUpperCase()}`, `IMAP folder '${summary.folder}' does not keep the flag ${flag}; it was dropped.`);
        return false;
      });
      if (prepared.dateSource === 'server') summary.serverDates++;
      if (options.dryRun) {
        summary.wouldAppend.push({ uidl, key: prepared.key, size: content.length, flags, date: prepared.date?.toISOString() });
        summary.bytes += content.length;
        advance(content.length);
        return;
      }
      if (folder.appendLimit !== undefined && content.length > folder.appendLimit) {
        summary.failed++;
        summary.failures.push({
          uidl,
          side: 'IMAP',
          reason: `${content.length} octets is over the server's APPENDLIMIT of ${folder.appendLimit} octets`,
        });
        advance(content.length);
        return;
      }
      batch.push({ number: n, uidl, item: { content, flags, date: prepared.date } });
      batchBytes += content.length;
      inflightBytes += content.length;
      if (batch.length >= options.batchMessages || batchBytes >= options.batchBytes) flush();
      await drain(options.maxInflightBytes);
    };

    await source.retrMany(numbers, onMessage, {
      onError: (n, err) => {
        summary.failed++;
        summary.failures.push({ uidl: uidlOf(n), side: 'POP3', reason: err.message });
        advance(listing.sizes.get(n) ?? 0);
      },
      stopWhen: () => fatal !== undefined || summary.stopped !== undefined,
    });
    flush();
    await drain(0);
    await Promise.all(uploads.map((u) => u.done));
    if (fatal !== undefined) throw fatal;
    summary.seconds = (performance.now() - started) / 1000;
    await source.quit().catch(() => source.close());
    return summary;
  } catch (err) {
    source.close();
    throw err;
  } finally {
    await target.close().catch(() => undefined);
  }
}
