/**
 * A second, minimal IMAP connection that only uploads.
 *
 * imapflow sends every literal over 4 KB as synchronizing and has no
 * MULTIAPPEND, so each message would cost one or two round trips. Uploading is
 * where a migration spends its time, so this channel writes APPEND itself:
 * MULTIAPPEND (RFC 3502) batches when the server offers it, LITERAL+ (RFC 7888)
 * so nothing waits for a continuation, several commands in flight, and
 * literal8 (RFC 3516) for messages with NUL bytes.
 *
 * The channel is the face of five units: imap-connection.ts (socket, tags,
 * deadlines, one outgoing buffer), imap-framing.ts and imap-response.ts (what
 * the server sends, framed and read), imap-login.ts (STARTTLS, AUTHENTICATE,
 * LOGIN, ID), imap-append-writer.ts (APPEND on the wire) and
 * imap-batch-recovery.ts (a refused MULTIAPPEND of which a part was stored).
 */
import { serverNameOptions } from '../tls-upgrade.js';
import { appendOutcomes, AppendWriter, type AppendItem, type AppendOutcome } from './imap-append-writer.js';
import { BatchRecovery } from './imap-batch-recovery.js';
import { ImapConnection, type ImapLogin } from './imap-connection.js';
import { logIn } from './imap-login.js';

export type { AppendItem, AppendOutcome } from './imap-append-writer.js';
export { expandUidSet, imapDateTime, isThrottling } from './imap-append-writer.js';
export { exchangeDeadlineMs, type ImapLogin } from './imap-connection.js';
export { noStartTls } from './imap-login.js';

export class ImapAppendChannel {
  private readonly writer: AppendWriter;
  private readonly recovery: BatchRecovery;

  private constructor(private readonly conn: ImapConnection) {
    this.writer = new AppendWriter(conn);
    this.recovery = new BatchRecovery(conn, this.writer);
  }

  static async open(login: ImapLogin): Promise<ImapAppendChannel> {
    const conn = new ImapConnection(login);
    try {
      // SNI carries host names only (RFC 6066); certificates are still checked against an IP literal.
      const tlsOptions = serverNameOptions(login.host, login.tlsOptions);
      const greeting = await conn.connect(tlsOptions);
      await logIn(conn, greeting, tlsOptions);
    } catch (err) {
      // A refused connection (one too many, a wrong password) must not stay open and count against the server's limit.
      conn.close();
      throw err;
    }
    return new ImapAppendChannel(conn);
  }

  get server(): string {
    return this.conn.server;
  }

  /** What the server offers, as it said after login. */
  get capabilities(): ReadonlySet<string> {
    return this.conn.capabilities;
  }

  /** The server's greeting line, as it came. */
  get greetingText(): string {
    return this.conn.greetingText;
  }

  /** Whether the connection has failed or been closed. */
  get failed(): boolean {
    return this.conn.failed;
  }

  get multiAppend(): boolean {
    return this.conn.capabilities.has('MULTIAPPEND');
  }

  /**
   * The link's round trip as this connection saw it, with the server's time
   * to store a message: the shortest wait for an APPEND's tagged reply after
   * the write that ended its literal.
   */
  get appendRoundTrip(): { count: number; shortestMs: number } {
    return this.writer.appendRoundTrip;
  }

  /**
   * One APPEND of one message: `written` settles once its bytes are handed
   * to the socket (after the server's '+' for a synchronizing literal), so a
   * caller spreading messages over connections can give the next one to
   * whichever connection is free to write.
   */
  appendOne(mailbox: string, item: AppendItem): { written: Promise<void>; outcome: Promise<AppendOutcome> } {
    const { written, reply } = this.writer.queueAppend(mailbox, [item]);
    return { written, outcome: reply.then((r) => appendOutcomes(r, 1)[0]!) };
  }

  /**
   * Uploads the items into `mailbox` (the wire name, already encoded). With
   * `multi`, one MULTIAPPEND; if the server refuses it, every message is
   * retried alone so one bad message costs only itself. Otherwise one APPEND
   * per message, all in flight at once when literals need no continuation.
   */
  async append(mailbox: string, items: readonly AppendItem[], multi: boolean): Promise<AppendOutcome[]> {
    if (items.length === 0) return [];
    let stored = new Map<number, AppendOutcome>();
    if (multi && items.length > 1) {
      const batch = await this.recovery.send(mailbox, items);
      if ('outcomes' in batch) return batch.outcomes;
      stored = batch.stored;
    }
    const replies = items.map((item, i) => {
      const found = stored.get(i);
      return found !== undefined
        ? Promise.resolve(found)
        : this.writer.queueAppend(mailbox, [item]).reply.then((r) => appendOutcomes(r, 1)[0]!);
    });
    return Promise.all(replies);
  }

  async logout(): Promise<void> {
    if (this.conn.failed) return;
    try {
      await this.conn.rawCommand('LOGOUT');
    } catch {
      // The server may close before the tagged OK; that is a normal logout.
    }
    this.close();
  }

  close(): void {
    this.conn.close();
  }
}
