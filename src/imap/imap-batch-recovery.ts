/**
 * A MULTIAPPEND batch, and what to do when the server refuses it. RFC 3502
 * makes a MULTIAPPEND all or nothing, but not every server keeps to it: a
 * refused batch may have left some of its messages in the folder. The batch
 * goes out between two STATUS (UIDNEXT), and when UIDNEXT moved across a
 * refusal the new messages are read (size and header section) so that the
 * one-by-one retry sends only those not stored.
 */
import type { ImapConnection } from './imap-connection.js';
import {
  appendOutcomes,
  isThrottling,
  type AppendItem,
  type AppendOutcome,
  type AppendWriter,
  type Bracket,
} from './imap-append-writer.js';
import { fetchNumber } from './imap-response.js';
import { imapAstring } from './mailbox-name.js';

/** How much of a header section is compared when looking for the stored part of a refused batch. */
const HEADER_COMPARED_BYTES = 64 * 1024;

/** The message with every bare LF made CRLF, as servers store and count it. */
export function toCrlf(content: Buffer): Buffer {
  let bare = 0;
  for (let i = 0; i < content.length; i++) if (content[i] === 0x0a && (i === 0 || content[i - 1] !== 0x0d)) bare++;
  if (bare === 0) return content;
  const out = Buffer.allocUnsafe(content.length + bare);
  let o = 0;
  for (let i = 0; i < content.length; i++) {
    if (content[i] === 0x0a && (i === 0 || content[i - 1] !== 0x0d)) out[o++] = 0x0d;
    out[o++] = content[i]!;
  }
  return out;
}

/** The header section with the blank line ending it (RFC 3501 BODY[HEADER]); the whole message when it has no body. */
export function headerSection(crlf: Buffer): Buffer {
  const end = crlf.indexOf('\r\n\r\n');
  return end < 0 ? crlf : crlf.subarray(0, end + 4);
}

/** A batch's end: the outcome of every message, or those of its messages found stored after a refusal. */
export type BatchResult = { outcomes: AppendOutcome[] } | { stored: Map<number, AppendOutcome> };

export class BatchRecovery {
  /** UIDNEXT of the last untagged STATUS, taken by the STATUS command whose tagged reply follows it. */
  private statusUidNext: number | undefined;

  constructor(
    private readonly conn: ImapConnection,
    private readonly writer: AppendWriter,
  ) {
    conn.onUntagged((response) => {
      const uidNext = response.kind === 'mailbox-status' ? response.counts.get('UIDNEXT') : undefined;
      if (uidNext !== undefined) this.statusUidNext = Number(uidNext);
    });
  }

  /**
   * Sends the items as one MULTIAPPEND. Its outcomes when the server took
   * it, or refused it for every message alike; after any other refusal,
   * the messages of it found in the folder (none when none can be).
   */
  async send(mailbox: string, items: readonly AppendItem[]): Promise<BatchResult> {
    // UIDNEXT just before and just after the batch, asked in the same write (no round trip of
    // their own): the UIDs a server that breaks RFC 3502's all-or-nothing gave part of a
    // refused batch lie between them, for this connection's commands run in order.
    const bracket: Bracket = { before: this.conn.nextTag(), after: this.conn.nextTag() };
    const uidNextBefore = this.expectUidNext(bracket.before);
    const uidNextAfter = this.expectUidNext(bracket.after);
    const reply = await this.writer.queueAppend(mailbox, items, bracket).reply;
    const range = { before: await uidNextBefore.catch(() => undefined), after: await uidNextAfter.catch(() => undefined) };
    // Over quota and throttling refuse every message alike: retrying them one by one would only
    // repeat the refusal (and deepen the throttling). The engine waits as asked and sends the batch again.
    if (reply.status === 'OK' || reply.code === 'OVERQUOTA' || (reply.status === 'NO' && isThrottling(reply.text))) {
      return { outcomes: appendOutcomes(reply, items.length) };
    }
    if (range.before !== undefined && (range.after === undefined || range.after > range.before)) {
      // The server's UIDNEXT moved across a refused batch: find what of it was stored, so
      // the one-by-one retry does not store those messages a second time.
      const found = await this.storedSince(mailbox, items, range.before, range.after);
      if (found.size > 0) {
        const uids = [...found.values()].map((o) => (o.ok ? o.uid : undefined)).join(',');
        this.conn.login.debug?.(
          `IMAP -: ${this.conn.server} refused a batch of ${items.length} but stored ${found.size} of them (UIDs ${uids}); sending only the others again.`,
        );
      }
      return { stored: found };
    }
    return { stored: new Map() };
  }

  /** Resolves with the UIDNEXT of the STATUS under `tag`, undefined when the server gave none. */
  private expectUidNext(tag: string): Promise<number | undefined> {
    // Whoever asks may not wait for it (a batch refused before its bracket is read): never an unhandled rejection.
    const failure = this.conn.failedWith;
    if (failure) {
      const failed = Promise.reject(failure);
      failed.catch(() => undefined);
      return failed;
    }
    const promise = new Promise<number | undefined>((resolve, reject) => {
      this.conn.register(
        tag,
        // Called as the tagged line is read, so the untagged STATUS taken is the one just before it.
        (reply) => {
          const uidNext = this.statusUidNext;
          this.statusUidNext = undefined;
          resolve(reply.status === 'OK' ? uidNext : undefined);
        },
        reject,
      );
    });
    promise.catch(() => undefined);
    return promise;
  }

  /**
   * Which of `items` the folder got from UID `from` on (up to `to`, exclusive):
   * a message counts as stored when a new message has its size and its
   * header section (up to 64 KiB of it), byte for byte, each new message standing for one
   * item. Matched in order, as a server stores a batch's messages. Nothing is
   * found when the folder cannot be looked at; the caller then sends all.
   */
  private storedSince(
    mailbox: string,
    items: readonly AppendItem[],
    from: number,
    to: number | undefined,
  ): Promise<Map<number, AppendOutcome>> {
    const conn = this.conn;
    // The folder is selected meanwhile, so nothing else goes out: a STATUS bracketing another batch
    // would be answered from this session's view of the folder, which misses what the batch stored.
    return conn.exclusive(async () => {
      const wanted = items.map((item) => {
        const crlf = toCrlf(item.content);
        return { size: crlf.length, header: headerSection(crlf).subarray(0, HEADER_COMPARED_BYTES) };
      });
      const found = new Map<number, AppendOutcome>();
      let uidValidity: bigint | undefined;
      const examined = await conn.commandNow(`EXAMINE ${imapAstring(mailbox)}`, undefined, (response) => {
        if (response.kind !== 'status' || response.status !== 'OK' || response.code !== 'UIDVALIDITY') return;
        const value = response.codeArgs[0] ?? '';
        if (/^\d+$/.test(value)) uidValidity = BigInt(value);
      });
      if (examined.status !== 'OK') return found;
      try {
        const range = to === undefined ? `${from}:*` : `${from}:${to - 1}`;
        await conn.commandNow(
          `UID FETCH ${range} (UID RFC822.SIZE BODY.PEEK[HEADER]<0.${HEADER_COMPARED_BYTES}>)`,
          undefined,
          (response) => {
            if (response.kind !== 'fetch') return;
            const uid = fetchNumber(response.items, 'UID');
            const size = fetchNumber(response.items, 'RFC822.SIZE');
            const section = [...response.items].find(([name]) => name.startsWith('BODY[HEADER]'))?.[1];
            // `from:*` names the last message even when its UID is lower.
            if (uid === undefined || size === undefined || uid < from || section?.type !== 'literal') return;
            const header = toCrlf(section.value);
            const i = wanted.findIndex((w, at) => !found.has(at) && w.size === size && w.header.equals(header));
            if (i >= 0) found.set(i, { ok: true, uid, uidValidity });
          },
        );
      } finally {
        // EXAMINE is read-only, so CLOSE expunges nothing where UNSELECT is not offered.
        await conn.commandNow(conn.capabilities.has('UNSELECT') ? 'UNSELECT' : 'CLOSE').catch(() => undefined);
      }
      return found;
    });
  }
}
