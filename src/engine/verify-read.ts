/**
 * Reading the source for a folder's check: headers first where the source
 * offers them (TOP), whole messages where their headers and size do not
 * settle them, each message either settled at once or held for judging
 * (verify-judge.ts) in bounded batches.
 */
import { copyDigests } from '../message/copy-rule.js';
import { headerBlock, parseHeaders } from '../message/headers.js';
import { identityKey, isFallbackKey } from '../message/identity-key.js';
import { messageKeys } from '../message/prepared-message.js';
import { judgeBatch } from './verify-judge.js';
import type { VerifyRun } from './verify-run.js';

/** What a batch of messages to judge may hold before their copies are fetched: memory stays bounded. */
const BATCH_MESSAGES = 256;
const BATCH_BYTES = 16 * 1024 * 1024;

/** A MIME part BINARY[] would return decoded (and relabelled), so not as stored. */
const ENCODED_PART = /content-transfer-encoding:[ \t]*(base64|quoted-printable)/i;

/** Reads the headers of `numbers` (TOP n 0) and settles what they can; returns the messages to read whole. */
export async function readHeaders(run: VerifyRun, numbers: readonly number[]): Promise<number[]> {
  const toRead: number[] = [];
  /** Messages a copy with their key and size settles, unless their key turns out shared. */
  const bySize: Array<{ n: number; key: string }> = [];
  await run.source!.readHeaders(
    numbers,
    (n, head) => {
      const size = run.listSize(n);
      const fields = parseHeaders(headerBlock(head));
      const key = identityKey(fields, size);
      run.count(key);
      const copies = run.index.get(key);
      if (copies?.some((c) => c.size === size)) {
        bySize.push({ n, key });
      } else if (copies === undefined && key.startsWith('mid:')) {
        // A Message-ID key does not depend on the size: reading the whole message would not find it either.
        run.problem(
          { problem: 'missing', ...run.describe(n, fields), size, key, copies: [] },
          `No message with its key (${key}) is in the folder.`,
        );
      } else {
        // Only the exact size (or a fallback key, which includes it) can settle it: LIST sizes may be off.
        toRead.push(n);
      }
    },
    { onError: (n, err) => run.unreadable(n, err) },
  );
  for (const { n, key } of bySize) {
    if (run.shared(key)) toRead.push(n);
    else run.report.present++;
  }
  return toRead.sort((a, b) => a - b);
}

/**
 * GNU Mailutils answers RETR for a message it sent TOP for earlier in the session with the
 * headers alone: whole messages are read in a session of their own, found again by UIDL.
 * Returns their numbers in the new session (run.numberOf maps them back).
 */
export async function freshSession(run: VerifyRun, toRead: readonly number[]): Promise<number[]> {
  const first = run.source!;
  await first.forget();
  await first.commit();
  run.source = undefined;
  const source = (run.source = await run.endpoints.connectSource());
  const again = await source.list();
  const earlier = new Map<number, number>();
  const readNumbers: number[] = [];
  for (const n of toRead) {
    const now = again.number(run.uidlOf(n));
    if (now === undefined) {
      run.unreadable(n, new Error(`POP3 server ${source.server} no longer lists it under its UIDL.`));
      continue;
    }
    earlier.set(now, n);
    readNumbers.push(now);
  }
  run.numberOf = (now) => earlier.get(now)!;
  return readNumbers;
}

/** A whole message as the source sent it: settled at once, or held in the batch to judge (judged once full). */
function onMessage(run: VerifyRun, now: number, content: Buffer): Promise<void> | undefined {
  const n = run.numberOf(now);
  const keys = messageKeys(content);
  const described = run.describe(n, keys.fields);
  const copies = run.lookup.candidates([keys.key, ...keys.altKeys]);
  const base = { ...described, size: content.length, key: keys.key };
  // A fallback key finds only the messages with its header fields: which is its copy, if any, only bytes tell.
  const byHeadersOnly = isFallbackKey(keys.key);
  if (!run.useTop && !run.judgeEvery) run.count(keys.key);
  if (copies.length === 0) {
    run.problem({ problem: 'missing', ...base, copies: [] }, `No message with its key (${keys.key}) is in the folder.`);
    return;
  }
  if (!run.deep && !byHeadersOnly && !run.judgeEvery && copies.some((c) => c.size === content.length)) {
    if (!run.useTop && keys.key.startsWith('mid:')) {
      const ns = run.waiting.get(keys.key);
      if (ns) ns.push(n);
      else run.waiting.set(keys.key, [n]);
      return;
    }
    if (!run.shared(keys.key)) {
      run.report.present++;
      return;
    }
  }
  // Not settled by the size: a server that changes a message on storage changes its size too, so
  // it and its copies are judged by their bytes.
  const nul = content.includes(0);
  run.batch.push({
    ...base,
    content,
    digests: copyDigests(content),
    copies,
    nul,
    binarySafe: nul && !ENCODED_PART.test(content.toString('latin1')),
    byHeadersOnly,
    judged: undefined,
  });
  run.batchBytes += content.length;
  if (run.batch.length < BATCH_MESSAGES && run.batchBytes < BATCH_BYTES) return;
  const full = run.batch;
  run.batch = [];
  run.batchBytes = 0;
  return judgeBatch(run, full);
}

/**
 * Reads `readNumbers` whole (numbers of the current source session), then again those a copy of their
 * size would have settled whose key turned out shared; ends the source session without a trace.
 */
export async function readWhole(run: VerifyRun, readNumbers: readonly number[], toRead: readonly number[]): Promise<void> {
  const source = run.source!;
  const each = (now: number, content: Buffer) => onMessage(run, now, content);
  const onError = (now: number, err: Error) => run.unreadable(run.numberOf(now), err);
  await source.retrieve(readNumbers, each, { onError });
  const again: number[] = [];
  for (const [key, ns] of run.waiting) {
    if (run.shared(key)) again.push(...ns);
    else run.report.present += ns.length;
  }
  if (again.length > 0) {
    run.judgeEvery = true;
    await source.retrieve(
      again.sort((a, b) => a - b),
      each,
      { onError },
    );
  }
  // Servers such as Dovecot mark retrieved messages read, at QUIT or even at a disconnect; RSET makes them forget.
  if (toRead.length > 0) await source.forget();
  await source.commit();
  run.source = undefined;
}
