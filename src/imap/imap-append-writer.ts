/**
 * Writes APPEND commands on an upload connection: LITERAL+ (RFC 7888) so
 * nothing waits for a continuation where the server allows it, literal8
 * (RFC 3516) for messages with NUL bytes, several messages per command for
 * MULTIAPPEND (RFC 3502), several commands in flight, each literal in
 * slices, and small pieces gathered into one write.
 */
import { HeldContinuations } from './held-continuations.js';
import type { ImapConnection } from './imap-connection.js';
import type { TaggedReply } from './imap-response.js';
import { imapAstring } from './mailbox-name.js';

export interface AppendItem {
  content: Buffer;
  flags: readonly string[];
  date: Date | undefined;
}

export type AppendOutcome =
  | { ok: true; uid: number | undefined; uidValidity: bigint | undefined }
  | { ok: false; status: 'NO' | 'BAD'; code: string | undefined; text: string };

/** Tags of the STATUS commands sent just before and just after a MULTIAPPEND. */
export interface Bracket {
  before: string;
  after: string;
}

/** A refusal that asks the client to slow down (Microsoft 365: "Request is throttled. Suggested Backoff Time: 1234 milliseconds"). */
export function isThrottling(text: string): boolean {
  return /throttl/i.test(text);
}

const WRITE_SLICE = 1024 * 1024;
/** Up to this many bytes of commands and literals are gathered into one write. */
const COALESCE_BYTES = 256 * 1024;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** RFC 3501 date-time, in UTC so the instant is exact whatever the local zone. */
export function imapDateTime(date: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `"${p(date.getUTCDate())}-${MONTHS[date.getUTCMonth()]}-${date.getUTCFullYear()} ${p(date.getUTCHours())}:${p(date.getUTCMinutes())}:${p(date.getUTCSeconds())} +0000"`;
}

/** Expands an APPENDUID uid-set ("7", "7:9", "3,5:6") in order. */
export function expandUidSet(set: string): number[] {
  const uids: number[] = [];
  for (const part of set.split(',')) {
    const [a, b] = part.split(':').map(Number) as [number, number | undefined];
    if (b === undefined) uids.push(a);
    else for (let u = Math.min(a, b); u <= Math.max(a, b); u++) uids.push(u);
  }
  return uids;
}

/** What the tagged reply to an APPEND of `count` messages says of each. */
export function appendOutcomes(reply: TaggedReply, count: number): AppendOutcome[] {
  if (reply.status !== 'OK') {
    return Array.from({ length: count }, () => ({
      ok: false as const,
      status: reply.status as 'NO' | 'BAD',
      code: reply.code,
      text: reply.text,
    }));
  }
  let uids: number[] = [];
  let uidValidity: bigint | undefined;
  if (reply.code === 'APPENDUID' && reply.codeArgs.length >= 2) {
    uidValidity = BigInt(reply.codeArgs[0]!);
    uids = expandUidSet(reply.codeArgs[1]!);
  }
  return Array.from({ length: count }, (_, i) => ({
    ok: true as const,
    uid: uids.length === count ? uids[i] : undefined,
    uidValidity,
  }));
}

export class AppendWriter {
  /** APPEND commands queued behind the one being written. */
  private appendsWaiting = 0;
  /** The APPEND written last on this connection, and its tagged reply. */
  private lastAppend: { tag: string; reply: Promise<TaggedReply> } | undefined;
  private readonly held = new HeldContinuations();
  /** The shortest time from the end of an APPEND's literal to its tagged reply, and how many were timed. */
  private roundTrips = { count: 0, shortestMs: Infinity };

  constructor(private readonly conn: ImapConnection) {}

  /**
   * The link's round trip as this connection saw it, with the server's time
   * to store a message: the shortest wait for an APPEND's tagged reply after
   * the write that ended its literal.
   */
  get appendRoundTrip(): { count: number; shortestMs: number } {
    return { ...this.roundTrips };
  }

  /**
   * Queues one APPEND command carrying these messages (with STATUS before
   * and after it under `bracket`): `written` settles once its bytes are
   * handed to the socket, `reply` with its tagged reply.
   */
  queueAppend(mailbox: string, items: readonly AppendItem[], bracket?: Bracket): { written: Promise<void>; reply: Promise<TaggedReply> } {
    const tag = this.conn.nextTag();
    const reply = this.conn.expect(tag);
    // A failed write surfaces through `writing`; keep `reply` from being an unhandled rejection meanwhile.
    reply.catch(() => undefined);
    this.appendsWaiting++;
    const writing = this.conn.exclusive(() => {
      this.appendsWaiting--;
      return this.writeAppend(tag, reply, mailbox, items, bracket);
    });
    return { written: writing, reply: writing.then(() => reply) };
  }

  private async writeAppend(
    tag: string,
    reply: Promise<TaggedReply>,
    mailbox: string,
    items: readonly AppendItem[],
    bracket?: Bracket,
  ): Promise<void> {
    const conn = this.conn;
    if (conn.failedWith) throw conn.failedWith;
    if (bracket) this.queueStatus(bracket.before, mailbox);
    const octets = items.reduce((n, i) => n + i.content.length, 0);
    conn.startDeadline(tag, 'APPEND', octets);
    conn.trace('C', `${tag} APPEND ${mailbox} (${items.length} message${items.length === 1 ? '' : 's'}, ${octets} octets)`);
    const previous = this.lastAppend;
    this.lastAppend = { tag, reply };
    let prefix = `${tag} APPEND ${imapAstring(mailbox)} `;
    for (const item of items) {
      const head = this.literalHeader(item);
      const synchronizing = !head.endsWith('+}');
      if (synchronizing && prefix !== ' ' && this.held.inStep && previous && conn.isPending(previous.tag)) {
        // The previous literal's end goes out now; this command once it is answered.
        await conn.flushOut();
        // A lost connection surfaces at the next write.
        await previous.reply.catch(() => undefined);
      }
      // Whether this command line reaches the server before we have read the previous APPEND's reply.
      const behind = prefix !== ' ' && previous && conn.isPending(previous.tag) ? previous.tag : undefined;
      conn.queue(`${prefix}${head}\r\n`);
      if (synchronizing) {
        // Synchronizing literal: wait for '+', or for the server to reject the command outright.
        const go = new Promise<boolean>((resolve) => {
          const onContinue = () => {
            if (behind !== undefined) this.noteContinuationBehind(behind);
            resolve(true);
          };
          conn.continuations.push(onContinue);
          // Refused before its '+': the next '+' belongs to the next command, not to this one.
          const refused = () => {
            const at = conn.continuations.indexOf(onContinue);
            if (at >= 0) conn.continuations.splice(at, 1);
            resolve(false);
          };
          reply.then(refused, refused);
        });
        await conn.flushOut();
        if (!(await go)) {
          if (bracket) {
            this.queueStatus(bracket.after, mailbox);
            await conn.flushOut();
          }
          return;
        }
      }
      if (item.content.length <= COALESCE_BYTES) {
        conn.queue(item.content);
      } else {
        // In slices: TLS encrypts what it is given at once, so one write of a
        // 100 MB message would hold a second, encrypted copy of it in memory.
        for (let at = 0; at < item.content.length; at += WRITE_SLICE) {
          conn.queue(item.content.subarray(at, at + WRITE_SLICE));
          if (at + WRITE_SLICE < item.content.length) await conn.flushOut();
        }
      }
      if (conn.queuedBytes >= COALESCE_BYTES) await conn.flushOut();
      prefix = ' ';
    }
    conn.queue('\r\n');
    // From the write that ends the literal to the tagged reply: one round trip and the server's time to store.
    let endedAt: number | undefined;
    conn.whenFlushed((at) => (endedAt = at));
    reply.then(
      () => {
        if (endedAt !== undefined) this.noteRoundTrip(performance.now() - endedAt);
      },
      () => undefined,
    );
    if (bracket) this.queueStatus(bracket.after, mailbox);
    // The next APPEND, when one is queued, goes out in the same write as this CRLF.
    if (this.appendsWaiting === 0 || conn.queuedBytes >= COALESCE_BYTES) await conn.flushOut();
  }

  private queueStatus(tag: string, mailbox: string): void {
    const text = `STATUS ${imapAstring(mailbox)} (UIDNEXT)`;
    this.conn.trace('C', `${tag} ${text}`);
    this.conn.startDeadline(tag, 'STATUS');
    this.conn.queue(`${tag} ${text}\r\n`);
  }

  private literalHeader(item: AppendItem): string {
    const flags = `(${item.flags.join(' ')})`;
    const date = item.date ? ` ${imapDateTime(item.date)}` : '';
    // Only literal8 may carry NUL; servers that lack BINARY reject such messages, which is then reported.
    const tilde = this.conn.capabilities.has('BINARY') && item.content.includes(0) ? '~' : '';
    const plus = this.conn.nonSyncOk(item.content.length) ? '+' : '';
    return `${flags}${date} ${tilde}{${item.content.length}${plus}}`;
  }

  private noteRoundTrip(ms: number): void {
    this.roundTrips.count++;
    this.roundTrips.shortestMs = Math.min(this.roundTrips.shortestMs, ms);
  }

  /** Counts a '+' for an APPEND sent before the tagged reply to `behind` was read. */
  private noteContinuationBehind(behind: string): void {
    const last = this.conn.lastTagged;
    const replied = last?.tag === behind ? last.at : undefined;
    if (this.held.note(replied === undefined ? undefined : performance.now() - replied)) {
      const { held, behind: seen } = this.held.counts;
      this.conn.login.debug?.(
        `IMAP -: ${this.conn.server} held its '+' behind the previous reply ${held} times out of ${seen}; sending each APPEND once the previous one is answered.`,
      );
    }
  }
}
