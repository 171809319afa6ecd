/**
 * The socket under an upload connection, and the bookkeeping every IMAP
 * client needs around it: tags, the tagged reply each command waits for,
 * who gets the next '+', the greeting, an idle timer and a deadline per
 * command, and one outgoing buffer so a literal, its CRLF and the next
 * command go out in one write. What arrives is framed by imap-framing.ts
 * and read by imap-response.ts; which commands go out is decided by
 * imap-login.ts, imap-append-writer.ts and imap-batch-recovery.ts.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { ExitCode, PopliftError, connectFailure, describeServer } from '../errors.js';
import { SecretRedactor } from '../secrets-redaction.js';
import { upgradeToTls } from '../tls-upgrade.js';
import { ImapReplyFramer } from './imap-framing.js';
import { parseResponse, type ImapResponse, type TaggedReply } from './imap-response.js';
import { classifyResponseLine, runLaterError } from './server-responses.js';

export interface ImapLogin {
  host: string;
  port: number;
  tls: 'implicit' | 'starttls';
  /** Log in over a connection that could not be upgraded to TLS. */
  allowPlaintext: boolean;
  user: string;
  password?: string;
  /** OAuth2 access token; used with AUTHENTICATE XOAUTH2/OAUTHBEARER instead of the password. */
  accessToken?: string;
  tlsOptions: ConnectionOptions;
  /** No byte from the server for this long while a command is pending ends the connection. */
  timeoutMs: number;
  debug?: (line: string) => void;
  /** Sent as ID (RFC 2971) right after login, without waiting for the answer, when the server offers ID. */
  clientId?: { name: string; version: string };
}

/**
 * Slowest upload rate an APPEND's deadline allows for, in octets per
 * second: 16 KiB/s sends a 256 MiB message in under five hours.
 */
const MIN_UPLOAD_RATE = 16 * 1024;

/**
 * How long an exchange may take in all (the greeting, each login step, each
 * command until its tagged reply): twice the idle timeout, plus the time to
 * send `octets` at MIN_UPLOAD_RATE. A server that sends a line now and then
 * ("* OK still here") never lets the idle timeout fire.
 */
export function exchangeDeadlineMs(timeoutMs: number, octets = 0): number {
  return Math.min(2 * timeoutMs + Math.ceil((octets / MIN_UPLOAD_RATE) * 1000), 2 ** 31 - 1);
}

export function seconds(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  return Number.isInteger(s) ? `${s} s` : `${s.toFixed(1)} s`;
}

export type UntaggedHandler = (response: ImapResponse) => void;

interface Pending {
  resolve: (reply: TaggedReply) => void;
  reject: (err: Error) => void;
  /** Runs from the command's first byte written until its tagged reply. */
  deadline?: NodeJS.Timeout;
}

export class ImapConnection {
  readonly server: string;
  /** What the server offers now (set by the login, which asks again after STARTTLS and login). */
  capabilities = new Set<string>();
  /** The server's greeting line, as it came. */
  greetingText = '';
  /** Who gets the next '+' continuation, in the order the requests were written. */
  readonly continuations: Array<() => void> = [];
  private socket: Socket | TLSSocket | undefined;
  private tagSeq = 0;
  private readonly pending = new Map<string, Pending>();
  /** Waits for the greeting, which comes before any command: the idle timer and failures reach it like a command. */
  private greetingWaiter: { resolve: (line: string) => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  private readonly framer = new ImapReplyFramer();
  private untaggedHandlers: UntaggedHandler[] = [];
  /** Lines read, and how many had been when the last tagged reply came. */
  private linesSeen = 0;
  private linesAtTagged = 0;
  private byeText: string | undefined;
  /** The last tagged reply read, and when. */
  private last: { tag: string; at: number } | undefined;
  /** Serialises what is written, so a command never lands inside a literal being written in slices. */
  private writeChain: Promise<void> = Promise.resolve();

  /** Server text may echo the credentials (a refused AUTHENTICATE's blob): traces and errors go through it. */
  private readonly redactor: SecretRedactor;

  constructor(readonly login: ImapLogin) {
    this.server = describeServer(login);
    this.redactor = SecretRedactor.forCredentials(login);
  }

  trace(dir: 'C' | 'S', line: string): void {
    this.login.debug?.(this.redactor.redact(`IMAP ${dir}: ${line}`));
  }

  /** Opens the socket (TCP, or TLS at once) and reads the greeting, all under one deadline; the greeting, read. */
  async connect(tlsOptions: ConnectionOptions): Promise<ImapResponse> {
    const { host, port } = this.login;
    // From the first byte: TCP, a TLS handshake and the greeting line, which a server may trickle.
    const greetingMs = exchangeDeadlineMs(this.login.timeoutMs);
    const late = new PopliftError(
      `IMAP server ${this.server} did not finish its greeting within ${seconds(greetingMs)}; giving up on this connection.`,
      { exitCode: ExitCode.CONNECT, side: 'IMAP', server: this.server, code: 'IMAP_CONNECT' },
    );
    let giveUp = (): void => undefined;
    const greetingTimer = setTimeout(() => giveUp(), greetingMs);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = this.login.tls === 'implicit' ? tlsConnect({ host, port, ...tlsOptions }) : netConnect({ host, port });
      giveUp = () => {
        s.destroy();
        reject(late);
      };
      s.once(this.login.tls === 'implicit' ? 'secureConnect' : 'connect', () => resolve(s));
      s.once('error', (err) => reject(connectFailure('IMAP', this.server, this.login.host, err)));
      s.setTimeout(this.login.timeoutMs, () => s.destroy(Object.assign(new Error('connect timeout'), { code: 'ETIMEDOUT' })));
      // A server that makes each literal wait for '+' would otherwise cost a delayed ACK per message.
      s.setNoDelay(true);
    }).catch((err: unknown) => {
      clearTimeout(greetingTimer);
      throw err;
    });
    socket.setTimeout(0);
    this.attach(socket);
    giveUp = () => {
      this.fail(late);
      socket.destroy();
    };
    const line = await this.nextGreeting().finally(() => clearTimeout(greetingTimer));
    const greeting = parseResponse({ line, literals: [] });
    if (greeting.kind !== 'status' || (greeting.status !== 'OK' && greeting.status !== 'PREAUTH')) {
      this.close();
      throw new PopliftError(`IMAP server ${this.server} did not greet as an IMAP server: ${line.slice(0, 200)}`, {
        exitCode: ExitCode.CONNECT,
        side: 'IMAP',
        server: this.server,
        code: 'IMAP_GREETING',
      });
    }
    this.greetingText = line;
    return greeting;
  }

  private attach(socket: Socket | TLSSocket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  /**
   * Whether anything came after the last tagged reply, whole or in part:
   * right after STARTTLS's OK, such bytes were not sent by the server over TLS.
   */
  get heardAfterLastReply(): boolean {
    return this.linesSeen > this.linesAtTagged || this.framer.midResponse;
  }

  /** Upgrades the socket after STARTTLS's OK, under a deadline of its own. */
  upgrade(tlsOptions: ConnectionOptions): Promise<void> {
    const plain = this.socket!;
    plain.removeAllListeners('data');
    plain.removeAllListeners('error');
    plain.removeAllListeners('close');
    const { socket: secure, secured } = upgradeToTls(plain, this.login.host, tlsOptions);
    // Nothing is pending meanwhile, so no idle timer runs: a server that never answers the ClientHello would hold the run.
    const ms = exchangeDeadlineMs(this.login.timeoutMs);
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new PopliftError(
            `TLS handshake with IMAP server ${this.server} did not finish within ${seconds(ms)}; giving up on this connection.`,
            { exitCode: ExitCode.CONNECT, side: 'IMAP', server: this.server, code: 'IMAP_CONNECT' },
          ),
        );
        secure.destroy();
      }, ms);
    });
    const upgraded = secured.then(
      () => this.attach(secure),
      (err: unknown) => {
        throw connectFailure('IMAP', this.server, this.login.host, err);
      },
    );
    return Promise.race([upgraded, late]).finally(() => clearTimeout(timer));
  }

  nextTag(): string {
    return `U${++this.tagSeq}`;
  }

  /** Whether the command under `tag` still waits for its tagged reply. */
  isPending(tag: string): boolean {
    return this.pending.has(tag);
  }

  /** The last tagged reply read, and when (performance.now()). */
  get lastTagged(): { tag: string; at: number } | undefined {
    return this.last;
  }

  /** Whether the connection has failed or been closed. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** Why the connection failed, once it has. */
  get failedWith(): Error | undefined {
    return this.failure;
  }

  /**
   * Calls `resolve` as the tagged reply to `tag` is read, before the next
   * response is: what an untagged response just before it left is still there.
   */
  register(tag: string, resolve: (reply: TaggedReply) => void, reject: (err: Error) => void): void {
    this.pending.set(tag, { resolve, reject });
    this.armIdle();
  }

  /** The tagged reply to `tag`; `untagged` sees every untagged response until then. */
  expect(tag: string, untagged?: UntaggedHandler): Promise<TaggedReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise<TaggedReply>((resolve, reject) => {
      this.register(tag, resolve, reject);
      if (untagged) this.untaggedHandlers.push(untagged);
    }).finally(() => {
      if (untagged) this.untaggedHandlers = this.untaggedHandlers.filter((h) => h !== untagged);
    });
  }

  /** Sees every untagged response from now on. */
  onUntagged(handler: UntaggedHandler): void {
    this.untaggedHandlers.push(handler);
  }

  /** Runs `work` with nothing else written on the connection meanwhile. */
  exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(work);
    this.writeChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** A command written once nothing else is being written: behind the APPEND whose literal goes out in slices. */
  rawCommand(text: string, traced = text, untagged?: UntaggedHandler): Promise<TaggedReply> {
    return this.exclusive(() => this.commandNow(text, traced, untagged));
  }

  /** Writes a command at once: only from inside exclusive(). */
  commandNow(text: string, traced = text, untagged?: UntaggedHandler): Promise<TaggedReply> {
    const tag = this.nextTag();
    const reply = this.expect(tag, untagged);
    this.trace('C', `${tag} ${traced}`);
    this.startDeadline(tag, /^UID \S+/i.exec(text)?.[0] ?? text.split(' ')[0]!);
    this.queue(`${tag} ${text}\r\n`);
    this.flushOut().catch(() => undefined);
    return reply;
  }

  /** rawCommand, with any answer but OK an error. */
  async command(text: string, untagged?: UntaggedHandler): Promise<TaggedReply> {
    const reply = await this.rawCommand(text, text, untagged);
    if (reply.status !== 'OK') {
      throw new PopliftError(`IMAP server ${this.server} answered ${reply.status} to ${text.split(' ')[0]}: ${reply.text}`, {
        exitCode: ExitCode.PARTIAL,
        side: 'IMAP',
        server: this.server,
        code: 'IMAP_PROTOCOL',
      });
    }
    return reply;
  }

  /**
   * Starts the deadline of the command under `tag` as its first byte goes
   * out: unlike the idle timer, which every byte re-arms, it ends a command
   * whose answer never comes however the server keeps the connection busy.
   */
  startDeadline(tag: string, what: string, octets = 0): void {
    const pending = this.pending.get(tag);
    if (pending === undefined || this.failure) return;
    const ms = exchangeDeadlineMs(this.login.timeoutMs, octets);
    pending.deadline = setTimeout(() => {
      if (this.pending.get(tag) !== pending) return;
      this.fail(
        new PopliftError(
          `IMAP server ${this.server} did not finish answering ${what} within ${seconds(ms)}; giving up on this connection.`,
          {
            exitCode: ExitCode.PARTIAL,
            side: 'IMAP',
            server: this.server,
            code: 'IMAP_TIMEOUT',
          },
        ),
      );
      this.socket?.destroy();
    }, ms);
  }

  /** Whether a literal of this size may be sent without waiting for '+'. */
  nonSyncOk(size: number): boolean {
    return this.capabilities.has('LITERAL+') || (this.capabilities.has('LITERAL-') && size <= 4096);
  }

  private nextGreeting(): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.failure) {
        reject(this.failure);
        return;
      }
      this.greetingWaiter = { resolve, reject };
      this.armIdle();
    });
  }

  private armIdle(): void {
    clearTimeout(this.idleTimer);
    if (this.pending.size === 0 && this.greetingWaiter === undefined) return;
    this.idleTimer = setTimeout(() => {
      const err = new PopliftError(
        `IMAP server ${this.server} sent nothing for ${Math.round(this.login.timeoutMs / 1000)} s; giving up on this connection.`,
        { exitCode: ExitCode.PARTIAL, side: 'IMAP', server: this.server, code: 'IMAP_TIMEOUT' },
      );
      this.fail(err);
      this.socket?.destroy();
    }, this.login.timeoutMs);
  }

  /** Whole responses go to onLine; a stream over the framer's limits fails the connection. */
  private onData(chunk: Buffer): void {
    this.armIdle();
    if (this.failure) return;
    // Nothing a response sets off fails the connection before this loop ends: failures come from events and timers.
    for (const frame of this.framer.push(chunk)) this.onLine(frame.line, frame.literals);
    const over = this.framer.error;
    if (over) {
      this.fail(
        new PopliftError(
          `IMAP server ${this.server} sent ${over.what} on the upload connection, which no IMAP server needs to; giving up on it. The server is broken or not an IMAP server: check the host and port, or ask its operator.`,
          { exitCode: ExitCode.PARTIAL, side: 'IMAP', server: this.server, code: 'IMAP_PROTOCOL' },
        ),
      );
      this.socket?.destroy();
    }
  }

  private onLine(line: string, literals: readonly Buffer[]): void {
    this.linesSeen++;
    this.trace('S', line.length > 300 ? `${line.slice(0, 300)}…` : line);
    if (this.greetingWaiter) {
      const waiter = this.greetingWaiter;
      this.greetingWaiter = undefined;
      this.armIdle();
      waiter.resolve(line);
      return;
    }
    const response = parseResponse({ line, literals });
    if (response.kind === 'continuation') {
      this.continuations.shift()?.();
      return;
    }
    if (response.kind !== 'tagged') {
      if (response.kind === 'status' && response.status === 'BYE') this.byeText = this.redactor.redact(response.rest);
      for (const h of this.untaggedHandlers) h(response);
      return;
    }
    const { tag, status, code, codeArgs, text } = response;
    this.last = { tag, at: performance.now() };
    const pending = this.pending.get(tag);
    if (!pending) return;
    this.linesAtTagged = this.linesSeen;
    this.pending.delete(tag);
    clearTimeout(pending.deadline);
    this.armIdle();
    pending.resolve({ status, code, codeArgs, text: this.redactor.redact(text) });
  }

  private fail(cause: Error): void {
    if (this.failure) return;
    clearTimeout(this.idleTimer);
    // A BYE for the account's daily quota (Gmail: "[OVERQUOTA] Account exceeded command or bandwidth
    // limits") is no dropped connection to retry: the run stops and the next one goes on.
    const bye = this.byeText === undefined ? undefined : classifyResponseLine(`* BYE ${this.byeText}`);
    this.failure =
      cause instanceof PopliftError
        ? cause
        : bye?.kind === 'daily-quota'
          ? runLaterError('IMAP', this.server, bye, undefined)
          : new PopliftError(
              `IMAP server ${this.server} closed the upload connection${this.byeText ? ` (${this.byeText})` : ''}: ${cause.message}.`,
              { exitCode: ExitCode.PARTIAL, side: 'IMAP', server: this.server, code: 'IMAP_CONNECTION_LOST', cause },
            );
    for (const p of this.pending.values()) {
      clearTimeout(p.deadline);
      p.reject(this.failure);
    }
    this.pending.clear();
    this.greetingWaiter?.reject(this.failure);
    this.greetingWaiter = undefined;
    this.continuations.length = 0;
  }

  /** Writes at once, past the outgoing buffer: a login's answer to the server's '+'. */
  writeNow(data: string | Buffer): void {
    this.socket!.write(data);
  }

  private write(data: string | Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    const socket = this.socket!;
    if (socket.write(data)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        socket.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        socket.off('drain', onDrain);
        reject(this.failure ?? new Error('connection closed'));
      };
      socket.once('drain', onDrain);
      socket.once('close', onClose);
    });
  }

  /**
   * Bytes waiting to go out in one write. Every separate write of a small
   * piece (a command line, a closing CRLF) is a packet of its own, and a
   * server that answers nothing until it has them all then waits on it;
   * so a literal, its CRLF and the next command line go out together.
   */
  private out: Buffer[] = [];
  private outBytes = 0;
  /** Called with the time of the next write of queued bytes. */
  private onNextFlush: Array<(at: number) => void> = [];

  queue(data: string | Buffer): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (b.length === 0) return;
    this.out.push(b);
    this.outBytes += b.length;
  }

  /** Bytes queued and not yet written. */
  get queuedBytes(): number {
    return this.outBytes;
  }

  /** Calls `stamp` with the time the queued bytes go out. */
  whenFlushed(stamp: (at: number) => void): void {
    this.onNextFlush.push(stamp);
  }

  flushOut(): Promise<void> {
    if (this.outBytes === 0) return this.failure ? Promise.reject(this.failure) : Promise.resolve();
    const at = performance.now();
    for (const stamp of this.onNextFlush.splice(0)) stamp(at);
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    return this.write(data);
  }

  close(): void {
    clearTimeout(this.idleTimer);
    this.failure ??= new PopliftError(`IMAP upload connection to ${this.server} is closed.`, {
      exitCode: ExitCode.PARTIAL,
      side: 'IMAP',
      server: this.server,
      code: 'IMAP_CLOSED',
    });
    // A connection refused before a socket was attached has none to close.
    this.socket?.destroy();
  }
}
