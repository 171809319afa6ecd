/**
 * The upload connections of one destination.
 *
 * With MULTIAPPEND one connection carries a batch per command and more buy
 * little. Without it (Gmail, Microsoft 365, Yahoo, Courier) every message is
 * an APPEND of its own, and where literals must wait for '+' each costs a
 * round trip: several connections, each with its APPENDs pipelined, are what
 * the server allows. Messages are routed to the connection with the fewest
 * bytes still queued, so a large message does not hold up the small ones
 * behind it. A server that refuses a connection for being one too many only
 * means fewer connections; it never fails the run.
 */
import { everyUploadLost, uploadsClosed } from './imap-errors.js';
import type { AppendItem, AppendOutcome, ImapAppendChannel } from './imap-append-channel.js';

/** Upload connections when the server lacks MULTIAPPEND and the user set no number. */
export const DEFAULT_CONNECTIONS_WITHOUT_MULTIAPPEND = 8;

/**
 * Connections for a server that lacks UIDPLUS as well: a small or old
 * server, not a hosted provider (Gmail, Microsoft 365, Yahoo and Zoho all
 * offer UIDPLUS). GNU Mailutils imap4d is one: with four or more connections
 * appending into one mbox folder it refuses some APPENDs with [TRYCREATE]
 * and then answers nothing; with one or two it stores 500 messages in 6.5 s
 * either way.
 */
export const CONNECTIONS_WITHOUT_UIDPLUS = 2;

/**
 * Servers that store one APPEND into a folder at a time however many
 * connections send them. Courier-IMAP locks the folder (tmp/courier.lock)
 * for each APPEND, and a process that finds it taken waits for a change
 * notice or a timer: into a real Courier on loopback, 300 messages took
 * 0.3-0.4 s over one connection, 1.1 s over 2, 2.1 s over 4 and 2.4-4.4 s
 * over 8. Over a longer link the round trips, not the server, set the pace
 * of one connection, and a few more connections pay for their waits on
 * the lock: 100 messages in step over 10 ms round trips took 2.3 s over
 * one connection, 1.7 s over 2, 1.3 s over 4 and 2.9 s over 8; over 50 ms,
 * 10.6 s, 5.5 s, 3.6 s and 4.4 s.
 */
export function appendsOneAtATime(greeting: string): boolean {
  return /\bCourier-IMAP ready\b/i.test(greeting);
}

/** Round trips (ms) from which a server storing one APPEND at a time gets ONE_AT_A_TIME_FAR_CONNECTIONS. */
export const ONE_AT_A_TIME_FAR_ROUND_TRIP_MS = 5;
export const ONE_AT_A_TIME_FAR_CONNECTIONS = 4;
/** APPENDs timed on the first connection before the number of connections is chosen. */
const ROUND_TRIPS_TO_DECIDE = 5;

export interface UploadPoolOptions {
  /** Opens and logs in one upload connection. */
  open: () => Promise<ImapAppendChannel>;
  /** At most this many connections (--connections); undefined: chosen by capability. */
  limit: number | undefined;
  /** Connections when the server lacks MULTIAPPEND and `limit` is unset (a provider's own number); default 8. */
  withoutMultiAppend?: number;
  /** Whether batches may go out as MULTIAPPEND (not --no-multiappend). */
  multiAppend: boolean;
  debug?: (line: string) => void;
}

interface Member {
  channel: ImapAppendChannel;
  /** Bytes handed to this connection and not yet answered. */
  queued: number;
  /** Single APPENDs handed to this connection whose bytes are not all written yet. */
  writing: number;
}

interface Job {
  mailbox: string;
  item: AppendItem;
  resolve: (outcome: AppendOutcome) => void;
  reject: (err: unknown) => void;
}

/**
 * Single APPENDs a connection holds unwritten: the one being written and one
 * behind it, whose command line then goes out in the same write as the
 * previous literal. The rest wait in the pool for whichever connection is
 * free first, so a connection stuck waiting for '+' (or on a large message)
 * holds up nothing else.
 */
const WRITE_WINDOW = 2;

export class UploadPool {
  private readonly members: Member[] = [];
  private readonly first: Promise<ImapAppendChannel>;
  private growing: Promise<void> | undefined;
  private closed = false;
  /** A server that stores one APPEND at a time, on one connection until the link's round trip is known. */
  private oneAtATime: ImapAppendChannel | undefined;

  constructor(private readonly options: UploadPoolOptions) {
    this.first = options.open().then((channel) => {
      this.members.push({ channel, queued: 0, writing: 0 });
      return channel;
    });
    // Opened before anyone waits for it: a failure is reported to whoever asks for the connection.
    this.first.catch(() => undefined);
  }

  /** The first connection, logged in (its failure is the pool's). */
  opened(): Promise<ImapAppendChannel> {
    return this.first;
  }

  /** How many connections this server gets: the user's number, else by server and capability. */
  private wanted(first: ImapAppendChannel): number {
    if (this.options.limit !== undefined) return this.options.limit;
    if (first.multiAppend && this.options.multiAppend) return 1;
    if (appendsOneAtATime(first.greetingText)) {
      this.options.debug?.(
        `IMAP -: ${first.server} stores one APPEND into a folder at a time; uploading over one connection unless the round trip is ${ONE_AT_A_TIME_FAR_ROUND_TRIP_MS} ms or more.`,
      );
      this.oneAtATime = first;
      return 1;
    }
    if (this.options.withoutMultiAppend !== undefined) return this.options.withoutMultiAppend;
    if (!first.capabilities.has('UIDPLUS')) {
      this.options.debug?.(
        `IMAP -: ${first.server} offers neither MULTIAPPEND nor UIDPLUS; uploading over ${CONNECTIONS_WITHOUT_UIDPLUS} connections.`,
      );
      return CONNECTIONS_WITHOUT_UIDPLUS;
    }
    return DEFAULT_CONNECTIONS_WITHOUT_MULTIAPPEND;
  }

  /**
   * Opens the extra connections, once, on the first upload: a run that finds
   * nothing new (cron, most of the time) should not log in eight times.
   */
  private grow(first: ImapAppendChannel): void {
    if (this.growing) return;
    const more = this.wanted(first) - 1;
    this.growing = Promise.resolve();
    this.openMore(more);
  }

  /**
   * Into a server that stores one APPEND at a time, more connections once
   * the first has shown a long round trip: there they overlap waits on the
   * link, which cost more than waits on the server's lock.
   */
  private widenIfFar(): void {
    const first = this.oneAtATime;
    if (!first) return;
    const { count, shortestMs } = first.appendRoundTrip;
    if (count < ROUND_TRIPS_TO_DECIDE) return;
    this.oneAtATime = undefined;
    if (shortestMs < ONE_AT_A_TIME_FAR_ROUND_TRIP_MS || this.closed) return;
    this.options.debug?.(
      `IMAP -: round trip to ${first.server} at least ${shortestMs.toFixed(1)} ms; uploading over ${ONE_AT_A_TIME_FAR_CONNECTIONS} connections.`,
    );
    this.openMore(ONE_AT_A_TIME_FAR_CONNECTIONS - this.members.length);
  }

  private openMore(more: number): void {
    if (more <= 0) return;
    const opening = Promise.all(
      Array.from({ length: more }, async () => {
        try {
          const channel = await this.options.open();
          if (this.closed) channel.close();
          else {
            this.members.push({ channel, queued: 0, writing: 0 });
            this.pump();
          }
        } catch (err) {
          // One too many for this server (Gmail: "NO [ALERT] Too many simultaneous connections",
          // others BYE or close at the greeting), or any other trouble: go on with the ones open.
          this.options.debug?.(`IMAP -: an extra upload connection was not opened (${(err as Error).message}); going on with fewer.`);
        }
      }),
    );
    this.growing = Promise.all([this.growing, opening]).then(() => undefined);
  }

  /** The open connections (for tests and the summary). */
  get size(): number {
    return this.members.length;
  }

  /** Resolves once every extra connection asked for has opened or been given up. */
  async settled(): Promise<void> {
    await this.first.catch(() => undefined);
    await this.growing;
  }

  private leastQueued(): Member {
    let best = this.members[0]!;
    for (const m of this.members) if (m.queued < best.queued) best = m;
    return best;
  }

  private async on(member: Member, bytes: number, send: (c: ImapAppendChannel) => Promise<AppendOutcome[]>): Promise<AppendOutcome[]> {
    member.queued += bytes;
    try {
      return await send(member.channel);
    } finally {
      member.queued -= bytes;
    }
  }

  /**
   * Uploads the items into `mailbox`: as one MULTIAPPEND on one connection
   * when allowed and offered, otherwise message by message across the
   * connections. Outcomes come back in the items' order.
   */
  async append(mailbox: string, items: readonly AppendItem[], multi: boolean): Promise<AppendOutcome[]> {
    if (this.closed) throw uploadsClosed();
    const first = await this.first;
    this.grow(first);
    if (multi && first.multiAppend && items.length > 1) {
      const bytes = items.reduce((n, i) => n + i.content.length, 0);
      return this.on(this.leastQueued(), bytes, (c) => c.append(mailbox, items, true));
    }
    const outcomes = items.map(
      (item) => new Promise<AppendOutcome>((resolve, reject) => this.jobs.push({ mailbox, item, resolve, reject })),
    );
    this.pump();
    return Promise.all(outcomes);
  }

  private readonly jobs: Job[] = [];

  /** Hands waiting messages to connections with room in their write window. */
  private pump(): void {
    for (const member of [...this.members]) {
      if (member.channel.failed) {
        this.members.splice(this.members.indexOf(member), 1);
        continue;
      }
      while (member.writing < WRITE_WINDOW && this.jobs.length > 0) this.start(member, this.jobs.shift()!);
    }
    if (this.members.length === 0 && this.jobs.length > 0) {
      // Every connection is gone: the messages' outcome is for the caller to find out after reconnecting.
      const err = everyUploadLost();
      for (const job of this.jobs.splice(0)) job.reject(err);
    }
  }

  private start(member: Member, job: Job): void {
    const bytes = job.item.content.length;
    member.writing++;
    member.queued += bytes;
    const { written, outcome } = member.channel.appendOne(job.mailbox, job.item);
    written
      .catch(() => undefined)
      .finally(() => {
        member.writing--;
        this.pump();
      });
    outcome
      .finally(() => {
        member.queued -= bytes;
        this.widenIfFar();
      })
      .then(job.resolve, job.reject);
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.first.catch(() => undefined);
    await Promise.all(this.members.splice(0).map((m) => m.channel.logout()));
  }
}
