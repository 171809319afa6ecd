/**
 * A POP3-like mailbox in memory, behind the MailSource interface: the
 * engine's tests run on it without a server. The mailbox (MemoryMailbox) is
 * the server's state and outlives sessions; each MemorySource is one
 * session, which numbers the messages it lists 1..n, removes what it marked
 * only when it commits (RFC 1939 UPDATE state), and forgets the marks when
 * its connection drops.
 *
 * Faults are declared on `mailbox.faults` and consumed as they fire, so a
 * test (or a generated schedule) can say "the second session drops after 3
 * messages" and know later sessions run clean.
 */
import { PopliftError, type ErrorCodeValue } from '../../src/errors.js';
import { headerBlock } from '../../src/message/headers.js';
import { Listing } from '../../src/store/listing.js';
import type { DeleteRequest, DeleteResult, MailSource, RetrievedInfo, RetrieveOptions } from '../../src/store/mail-store.js';

/** Where one session's connection drops: before it sends more than this many messages, octets or answers. */
export interface DropFault {
  afterMessages?: number;
  afterBytes?: number;
  afterCommands?: number;
}

export interface MailboxFaults {
  /** One entry per session, in the order sessions open; undefined lets that session run clean. */
  drops: Array<DropFault | undefined>;
  /** Connection attempts still to fail before the greeting (transient). */
  failConnects: number;
  /** Every login is refused (not transient). */
  refuseLogin: boolean;
  /** UIDLs whose RETR and TOP are always answered -ERR. */
  unreadable: Set<string>;
  /** UIDLs whose RETR and TOP always lose the connection before the message is sent (a poison message). */
  killers: Set<string>;
  /**
   * The next commits (QUIT) lose the connection: 'before-update' removes
   * nothing, 'after-update' removes what was marked but the +OK is lost.
   */
  commitFailures: Array<'before-update' | 'after-update'>;
  /**
   * Broken UIDL answers, keyed by a message's own UIDL: the line the server
   * sends instead (repeated, with a space or 8-bit characters), or null
   * when it sends no line for that message. Only what the session lists
   * changes; the message is still the same message.
   */
  uidls: Map<string, string | null>;
  /** Every UIDL is the message's number in the session, so UIDLs shift as mail comes and goes. */
  numericUidls: boolean;
}

export interface Mail {
  uidl: string;
  content: Buffer;
}

export interface MailboxOptions {
  server?: string;
  /** false: the server has no UIDL, messages are known by their number. */
  hasUidl?: boolean;
  /** Whether the server offers TOP. */
  readsHeaders?: boolean;
  /** Refuse a second session while one is open, as a locking maildrop does (default true). */
  exclusive?: boolean;
  /**
   * Gmail's POP3: each session lists at most this many of the oldest
   * messages not yet downloaded; a message counts as downloaded once a
   * session that RETRieved it committed (QUIT). TOP does not count.
   */
  window?: number;
  /** What the listing says of a known windowed server (Listing.movingWindow), e.g. 'Gmail (greeting)'. */
  movingWindow?: string;
}

function pop3Error(server: string, code: ErrorCodeValue, message: string): PopliftError {
  return new PopliftError(`POP3 server ${server} ${message}`, { side: 'POP3', server, code });
}

/** The server's side: the messages and what became of them, across sessions. */
export class MemoryMailbox {
  readonly server: string;
  readonly hasUidl: boolean;
  readonly readsHeaders: boolean;
  readonly exclusive: boolean;
  readonly window: number | undefined;
  readonly movingWindow: string | undefined;
  /** With a window: the messages a committed session RETRieved, which no later session lists. */
  readonly downloaded = new Set<Mail>();
  readonly faults: MailboxFaults = {
    drops: [],
    failConnects: 0,
    refuseLogin: false,
    unreadable: new Set(),
    killers: new Set(),
    commitFailures: [],
    uidls: new Map(),
    numericUidls: false,
  };
  /** The messages held now, in arrival order. */
  messages: Mail[];
  /** Messages removed by a commit, in the order they went. */
  readonly removed: Mail[] = [];
  /** Sessions opened so far. */
  sessionsOpened = 0;
  /** RETRs answered with a message, over all sessions. */
  retrieved = 0;
  /** Reads that lost the connection through `faults.killers`. */
  kills = 0;
  private open: MemorySource | undefined;

  constructor(messages: ReadonlyArray<Mail | Buffer>, options: MailboxOptions = {}) {
    this.server = options.server ?? 'pop.memory:110';
    this.hasUidl = options.hasUidl ?? true;
    this.readsHeaders = options.readsHeaders ?? true;
    this.exclusive = options.exclusive ?? true;
    this.window = options.window;
    this.movingWindow = options.movingWindow;
    this.messages = messages.map((m, i) =>
      Buffer.isBuffer(m) ? { uidl: `u${i + 1}`, content: Buffer.from(m) } : { uidl: m.uidl, content: Buffer.from(m.content) },
    );
  }

  /** New mail arriving between sessions. */
  deliver(content: Buffer, uidl = `u${this.messages.length + this.removed.length + 1}`): void {
    this.messages.push({ uidl, content: Buffer.from(content) });
  }

  /** Logs in (once `loginAfter` settled, see StoreEndpoints.connectSource): a new session over the messages held then. */
  async connect(options: { loginAfter?: Promise<unknown> } = {}): Promise<MemorySource> {
    await tick();
    if (this.faults.failConnects > 0) {
      this.faults.failConnects--;
      throw pop3Error(this.server, 'POP3_CONNECT', 'refused the connection (ECONNREFUSED): check the POP3 host and port.');
    }
    await options.loginAfter;
    if (this.faults.refuseLogin) throw pop3Error(this.server, 'POP3_AUTH', 'refused the login: check the POP3 user and password.');
    if (this.exclusive && this.open !== undefined) {
      throw pop3Error(this.server, 'POP3_IN_USE', 'says the maildrop is in use by another session; try again later.');
    }
    this.sessionsOpened++;
    const view =
      this.window === undefined ? [...this.messages] : this.messages.filter((m) => !this.downloaded.has(m)).slice(0, this.window);
    const listed = view.map((m, i) => this.listedUidl(m, i + 1));
    const session = new MemorySource(this, view, listed, this.faults.drops.shift());
    this.open = session;
    return session;
  }

  /** The UIDL line a session opened now sends for message number n (undefined: no line). */
  private listedUidl(m: Mail, n: number): string | undefined {
    if (!this.hasUidl) return String(n);
    if (this.faults.numericUidls) return String(n);
    const broken = this.faults.uidls.get(m.uidl);
    return broken === null ? undefined : (broken ?? m.uidl);
  }

  /** Called by a session as it ends: applies its marks when it commits. */
  ended(session: MemorySource, remove: ReadonlySet<Mail>): void {
    if (this.open === session) this.open = undefined;
    if (remove.size === 0) return;
    this.removed.push(...this.messages.filter((m) => remove.has(m)));
    this.messages = this.messages.filter((m) => !remove.has(m));
  }
}

/** Lets other work run between two replies, as a network round trip would. */
function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

/** One logged-in session. */
export class MemorySource implements MailSource {
  readonly server: string;
  private readonly marked = new Set<number>();
  private lost: PopliftError | undefined;
  private ended = false;
  private commands = 0;
  private messagesSent = 0;
  private bytesSent = 0;
  /** Messages RETRieved in this session: downloaded once it commits (MailboxOptions.window). */
  private readonly read = new Set<Mail>();

  constructor(
    private readonly mailbox: MemoryMailbox,
    /** The messages as this session numbers them: number n is view[n - 1]. */
    private readonly view: readonly Mail[],
    /** The UIDL this session lists for number n is listed[n - 1] (its number when the server has none). */
    private readonly listed: ReadonlyArray<string | undefined>,
    private readonly drop: DropFault | undefined,
  ) {
    this.server = mailbox.server;
  }

  get readsHeaders(): boolean {
    return this.mailbox.readsHeaders;
  }

  async list(): Promise<Listing> {
    // LIST and UIDL.
    await this.command();
    await this.command();
    const numbers = this.view.map((_, i) => i + 1);
    const listing = new Listing(
      numbers,
      (n) => this.view[n - 1]!.content.length,
      (n) => this.listed[n - 1],
      this.mailbox.hasUidl,
    );
    listing.movingWindow = this.mailbox.movingWindow;
    return listing;
  }

  retrieve(
    numbers: readonly number[],
    onMessage: (n: number, content: Buffer, info: RetrievedInfo) => void | Promise<void>,
    options?: RetrieveOptions,
  ): Promise<void> {
    // This store lists every message with its exact length.
    return this.send(
      numbers,
      (m) => {
        this.read.add(m);
        return m.content;
      },
      (n, content) => onMessage(n, content, { sizeSuspect: false }),
      options,
    );
  }

  readHeaders(
    numbers: readonly number[],
    onHeaders: (n: number, head: Buffer) => void | Promise<void>,
    options?: RetrieveOptions,
  ): Promise<void> {
    if (!this.mailbox.readsHeaders) return Promise.reject(pop3Error(this.server, 'POP3_ERR', 'does not offer TOP.'));
    return this.send(numbers, (m) => headerBlock(m.content), onHeaders, options);
  }

  /** The delete requests that name these numbers as this session lists them (for tests of the store itself). */
  requestsFor(numbers: readonly number[]): DeleteRequest[] {
    return numbers.map((n) => ({
      n,
      uidl: this.listed[n - 1] ?? `#${n}`,
      size: this.view[n - 1]!.content.length,
    }));
  }

  /** Like a POP3 session's: a number is marked only while it names the id and size asked for, as this session listed it. */
  async markDeleted(requests: readonly DeleteRequest[], options: { stopWhen?: () => boolean } = {}): Promise<DeleteResult> {
    const result: DeleteResult = { marked: [], kept: [], stopped: false };
    for (const { n, uidl, size } of requests) {
      if (options.stopWhen?.()) {
        result.stopped = true;
        result.kept.push({ n, reason: 'stopped before deleting it' });
        continue;
      }
      const m = this.view[n - 1];
      const listedId = this.listed[n - 1];
      const unique = this.mailbox.hasUidl && listedId !== undefined && this.listed.filter((other) => other === listedId).length === 1;
      if (m === undefined || listedId !== uidl || m.content.length !== size || !unique) {
        result.kept.push({ n, reason: 'its number does not name the message asked for with a unique UIDL' });
        continue;
      }
      await this.command();
      if (this.messageAt(n) === undefined) throw pop3Error(this.server, 'POP3_ERR', `answered DELE ${n} with -ERR no such message.`);
      this.marked.add(n);
      result.marked.push(n);
    }
    return result;
  }

  async commit(): Promise<void> {
    await this.command();
    const remove = new Set([...this.marked].map((n) => this.view[n - 1]!));
    const failure = this.mailbox.faults.commitFailures.shift();
    if (failure !== undefined) {
      if (failure === 'after-update') for (const m of this.read) this.mailbox.downloaded.add(m);
      this.end(failure === 'after-update' ? remove : new Set());
      throw this.lose(`closed the connection before answering QUIT (${failure})`);
    }
    for (const m of this.read) this.mailbox.downloaded.add(m);
    this.end(remove);
  }

  async forget(): Promise<void> {
    await this.command();
    this.marked.clear();
  }

  close(): void {
    this.end(new Set());
  }

  /** The message numbered n in this session, unless marked or out of range. */
  private messageAt(n: number): Mail | undefined {
    return this.marked.has(n) ? undefined : this.view[n - 1];
  }

  private async send(
    numbers: readonly number[],
    part: (m: Mail) => Buffer,
    deliver: (n: number, content: Buffer) => void | Promise<void>,
    options: RetrieveOptions = {},
  ): Promise<void> {
    for (const n of numbers) {
      if (options.stopWhen?.()) return;
      await this.command();
      const m = this.messageAt(n);
      if (m === undefined || this.mailbox.faults.unreadable.has(m.uidl)) {
        const err = pop3Error(
          this.server,
          'POP3_ERR',
          `answered RETR ${n} with -ERR ${m === undefined ? 'no such message' : 'message unavailable'}.`,
        );
        if (!options.onError) throw err;
        options.onError(n, err);
        continue;
      }
      if (this.mailbox.faults.killers.has(m.uidl)) {
        this.mailbox.kills++;
        throw this.lose(`closed the connection while sending message ${n}`);
      }
      const bytes = part(m);
      if (this.drop?.afterMessages !== undefined && this.messagesSent >= this.drop.afterMessages) {
        throw this.lose(`closed the connection after ${this.messagesSent} messages`);
      }
      if (this.drop?.afterBytes !== undefined && this.bytesSent + bytes.length > this.drop.afterBytes) {
        throw this.lose(`closed the connection after ${this.drop.afterBytes} octets`);
      }
      this.messagesSent++;
      this.bytesSent += bytes.length;
      this.mailbox.retrieved++;
      // A copy: what the engine does with its buffer must not change the server's message.
      await deliver(n, Buffer.from(bytes));
      if (this.lost) throw this.lost;
    }
  }

  /** One command's round trip; a session that has lost its connection fails every command with that error. */
  private async command(): Promise<void> {
    this.throwIfLost();
    if (this.ended) throw pop3Error(this.server, 'POP3_CLOSED', 'connection was closed by poplift.');
    await tick();
    this.throwIfLost();
    if (this.drop?.afterCommands !== undefined && this.commands >= this.drop.afterCommands) {
      throw this.lose(`closed the connection after ${this.commands} commands`);
    }
    this.commands++;
  }

  private throwIfLost(): void {
    if (this.lost) throw this.lost;
  }

  /** The connection is gone: marks are forgotten, the maildrop is free again. */
  private lose(why: string): PopliftError {
    this.lost ??= pop3Error(this.server, 'POP3_CONNECTION_LOST', `${why} (injected fault).`);
    this.end(new Set());
    return this.lost;
  }

  private end(remove: ReadonlySet<Mail>): void {
    if (this.ended) return;
    this.ended = true;
    this.mailbox.ended(this, remove);
  }
}
