import type { Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { connectFailure, describeServer, errnoCode, isTlsError, tlsFailure, type PopliftError } from '../errors.js';
import {
  closedBeforeGreeting,
  connectionLost,
  connectTimeout,
  greetingRefused,
  idleTimeout,
  notPop3,
  plainPortAsTls,
  tlsPortAsPlain,
  replyDeadline,
  greetingDeadline,
  protocolFailure,
  sessionClosed,
  Pop3ErrorCode,
  tlsHandshakeTimeout,
} from './pop3-errors.js';
import { openPop3Socket } from './node-pop3-socket.js';
import { recogniseService } from '../service-greeting.js';
import { Pop3FramingError, Pop3ReplyParser, type Pop3Reply } from './pop3-framing.js';
import type { SecretRedactor } from '../secrets-redaction.js';
import { sentBeforeTls, serverNameOptions, upgradeToTls } from '../tls-upgrade.js';

export interface Pop3TransportOptions {
  host: string;
  port: number;
  tls: boolean;
  /** Idle timeout: no byte for this long while a reply is awaited fails the connection. */
  timeoutMs: number;
  /**
   * Deadline of every exchange a command gives none of its own (the
   * greeting too, TCP connection and TLS handshake included); default
   * exchangeDeadlineMs(timeoutMs).
   */
  exchangeDeadlineMs?: number;
  tlsOptions?: ConnectionOptions;
  debug?: (line: string) => void;
  /** Secrets to remove from server text in the errors this transport raises. */
  redactor?: SecretRedactor;
}

export interface SendOptions {
  /** How the command appears in errors and the trace (e.g. "PASS ****"). */
  label?: string;
  /**
   * Part of a bulk transfer whose consumer may pause reading; a command that
   * is not background forces reading to go on until it is answered, so a
   * consumer awaiting e.g. DELE while it holds a RETR reply cannot deadlock.
   */
  background?: boolean;
  /**
   * The reply may be an RFC 5034 challenge ("+ <base64>"), resolved with
   * `continuation: true`: for AUTH and for the answers to its challenges.
   */
  continuation?: boolean;
  /** Multi-line only: see Expectation.maxBodyBytes. */
  maxBodyBytes?: number;
  /** Multi-line only: see Expectation.preallocateUpTo. */
  preallocateUpTo?: number;
  /**
   * Longest time the reply may take from when it is next in line until it
   * is complete, time spent with reading paused not counted. Unlike the
   * idle timeout, a server trickling bytes cannot stretch it; when it
   * passes the connection is dropped (code POP3_TIMEOUT). Default: the
   * transport's exchange deadline.
   */
  deadlineMs?: number;
}

interface PendingCommand {
  readonly line: string;
  readonly label: string;
  readonly multiLine: boolean;
  readonly continuation: boolean;
  readonly background: boolean;
  readonly maxBodyBytes?: number;
  readonly preallocateUpTo?: number;
  readonly deadlineMs?: number;
  /** What is left of the deadline, once the reply has been next in line. */
  deadlineLeftMs?: number;
  resolve(reply: Pop3Reply): void;
  reject(err: Error): void;
}

/**
 * The deadline of an exchange with no size to scale with (the greeting, a
 * login step, STAT, DELE, CAPA...): twice the idle timeout. A server that
 * sends a byte now and then never lets the idle timeout fire, and without a
 * deadline a trickled reply would hold the run (and the mailbox's lock) for
 * ever.
 */
export function exchangeDeadlineMs(timeoutMs: number): number {
  return Math.min(2 * timeoutMs, 2 ** 31 - 1);
}

/** How long a plain connection may stay silent before poplift checks whether the port speaks TLS. */
const PROBE_AFTER_MS = 1000;
/** How long that check may take. */
const PROBE_LIMIT_MS = 3000;

// Node's EventEmitter signature: listeners take whatever the event carries.
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- the same type as EventEmitter's own listener parameter
type Listener = (...args: any[]) => void;

interface Handshake {
  resolve(): void;
  reject(err: Error): void;
}

/**
 * One POP3 connection with poplift's own framing: a Pop3ReplyParser over the
 * raw bytes (node-pop3's per-chunk framing loses 8-bit bytes, dot-stuffing
 * and split end markers) and a FIFO of pending commands instead of a single
 * slot, which is what makes pipelining possible. node-pop3 only opens the
 * socket, through node-pop3-socket.ts.
 */
export class Pop3Transport {
  readonly server: string;
  readonly host: string;
  readonly port: number;
  /** Implicit TLS (POP3S); STLS is startTls(). */
  readonly tls: boolean;
  readonly tlsOptions: ConnectionOptions | undefined;
  /**
   * RFC 2449 PIPELINING: when false, a command is held back until the
   * previous reply is complete.
   */
  pipelining = false;

  private readonly idleTimeoutMs: number;
  private readonly exchangeDeadlineMs: number;
  private readonly debugLine: ((line: string) => void) | undefined;
  private readonly redactor: SecretRedactor | undefined;
  private readonly parser = new Pop3ReplyParser();
  private readonly inFlight: PendingCommand[] = [];
  private readonly unsent: PendingCommand[] = [];
  /** Foreground commands sent or queued and not yet answered. */
  private foregroundWaiting = 0;
  private sock: Socket | TLSSocket | undefined;
  private failure: PopliftError | undefined;
  private greeted = false;
  private transportUp = false;
  private quitting = false;
  private pauseRequests = 0;
  private readingPaused = false;
  private corked = false;
  private idleTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  /** The command whose deadline is running, and since when. */
  private deadlineFor: PendingCommand | undefined;
  private deadlineSince = 0;
  /** Octets received for the reply at the head of the queue, for the deadline's message. */
  private headOctets = 0;
  /** Replies (and unsolicited lines) read, and how many had been when the last command was answered. */
  private repliesSeen = 0;
  private repliesAtAnswer = 0;
  /** Set while an STLS upgrade negotiates; socket errors then are TLS failures. */
  private handshake: Handshake | undefined;
  private readonly ourListeners: [string, Listener][] = [];
  /** Last unsolicited server line, quoted when the server then hangs up. */
  private lastServerWords: string | undefined;
  private greetingText: string | undefined;

  constructor(options: Pop3TransportOptions) {
    this.host = options.host;
    this.port = options.port;
    this.tls = options.tls;
    this.tlsOptions = options.tlsOptions;
    this.server = describeServer(options);
    this.idleTimeoutMs = options.timeoutMs;
    this.exchangeDeadlineMs = options.exchangeDeadlineMs ?? exchangeDeadlineMs(options.timeoutMs);
    this.debugLine = options.debug;
    this.redactor = options.redactor;
  }

  /** Opens the connection; resolves once the +OK greeting has arrived. */
  connect(): Promise<void> {
    if (this.sock !== undefined) return Promise.reject(new Error('Pop3Transport.connect() called twice'));
    const greeting = new Promise<Pop3Reply>((resolve, reject) => {
      this.transmitted({
        line: '',
        label: 'the greeting',
        multiLine: false,
        continuation: false,
        background: false,
        // From the connection's start: TCP, a TLS handshake and the greeting line together.
        deadlineMs: this.exchangeDeadlineMs,
        deadlineLeftMs: this.exchangeDeadlineMs,
        resolve,
        reject,
      });
    });
    this.foregroundWaiting++;

    // The socket comes back before any byte can arrive: attaching now loses nothing.
    let socket: Socket | TLSSocket;
    try {
      socket = openPop3Socket({ host: this.host, port: this.port, tls: this.tls, tlsOptions: this.tlsOptions }, (err) =>
        this.fail(connectFailure('POP3', this.server, this.host, err)),
      );
    } catch (err) {
      const failure = connectFailure('POP3', this.server, this.host, err);
      this.fail(failure);
      return Promise.reject(failure);
    }
    this.attach(socket);
    socket.once(this.tls ? 'secureConnect' : 'connect', () => {
      this.transportUp = true;
      if (!this.tls) this.watchForTlsPort();
      this.trace(`-- connected to ${this.server}${this.tls ? ` (${(socket as TLSSocket).getProtocol() ?? 'TLS'})` : ''}`);
    });
    this.updateIdleTimer();

    return greeting.then((reply) => {
      if (!reply.ok) {
        const err = greetingRefused(this.server, reply.text);
        this.fail(err);
        throw err;
      }
      this.greeted = true;
      this.greetingText = reply.text;
    });
  }

  /**
   * A plain connection to an implicit-TLS port meets silence: the server
   * waits for a ClientHello. After PROBE_AFTER_MS without a greeting, a TLS
   * handshake on a second connection tells the two apart, so the user hears
   * "use pop3s://" within a second or two instead of a timeout.
   */
  private watchForTlsPort(): void {
    const timer = setTimeout(() => {
      if (this.greeted || this.failure !== undefined) return;
      const probe = tlsConnect({ host: this.host, port: this.port, ...serverNameOptions(this.host), rejectUnauthorized: false });
      const done = (): void => {
        clearTimeout(limit);
        probe.destroy();
      };
      const limit = setTimeout(done, PROBE_LIMIT_MS);
      limit.unref();
      probe.on('secureConnect', () => {
        done();
        if (!this.greeted && this.failure === undefined) this.fail(tlsPortAsPlain(this.server, this.port));
      });
      probe.on('error', done);
    }, PROBE_AFTER_MS);
    timer.unref();
  }

  /** Text of the +OK greeting (after "+OK "), once connect() has resolved; APOP needs its <timestamp>. */
  get greeting(): string | undefined {
    return this.greetingText;
  }

  /**
   * Sends one command. The promise resolves with the reply whatever its
   * status (-ERR included) and rejects only on connection-level failure.
   */
  send(line: string, multiLine: boolean, options: SendOptions = {}): Promise<Pop3Reply> {
    const label = options.label ?? line;
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const socket = this.sock;
    if (socket === undefined) return Promise.reject(sessionClosed(this.server, label));
    return new Promise<Pop3Reply>((resolve, reject) => {
      const command: PendingCommand = {
        line,
        label,
        multiLine,
        continuation: options.continuation === true,
        background: options.background === true,
        ...(options.maxBodyBytes === undefined ? {} : { maxBodyBytes: options.maxBodyBytes }),
        ...(options.preallocateUpTo === undefined ? {} : { preallocateUpTo: options.preallocateUpTo }),
        deadlineMs: options.deadlineMs ?? this.exchangeDeadlineMs,
        deadlineLeftMs: options.deadlineMs ?? this.exchangeDeadlineMs,
        resolve,
        reject,
      };
      if (!command.background) this.foregroundWaiting++;
      if (this.unsent.length > 0 || (!this.pipelining && this.inFlight.length > 0)) {
        this.unsent.push(command);
        this.updateReading();
      } else {
        this.transmit(socket, command);
      }
    });
  }

  /**
   * RFC 2595 STLS: resolves with the server's -ERR text if it refuses (the
   * connection stays usable in plain text), undefined once TLS is up. The
   * caller must have nothing else in flight and must re-issue CAPA after.
   */
  async startTls(): Promise<string | undefined> {
    const reply = await this.send('STLS', false);
    if (!reply.ok) return reply.text;
    const plain = this.sock;
    if (plain === undefined || this.failure !== undefined) throw this.failure ?? sessionClosed(this.server, 'STLS');
    // The chunk that carried the +OK has been read to its end by now.
    if (this.repliesSeen > this.repliesAtAnswer || this.parser.midReply) {
      const err = sentBeforeTls('POP3', this.server);
      this.fail(err);
      throw err;
    }
    // Our listeners must leave the plain socket: from now on it carries
    // ciphertext, which only the TLS layer may read.
    for (const [event, listener] of this.ourListeners) plain.removeListener(event, listener);
    this.ourListeners.length = 0;
    const { socket: secure, secured } = upgradeToTls(plain, this.host, this.tlsOptions);
    this.attach(secure);
    const done = new Promise<void>((resolve, reject) => {
      this.handshake = { resolve, reject };
    });
    this.updateIdleTimer();
    secured.then(
      () => {
        const handshake = this.handshake;
        this.handshake = undefined;
        this.updateIdleTimer();
        this.trace(`-- TLS established with ${this.server} (${secure.getProtocol() ?? 'TLS'})`);
        handshake?.resolve();
      },
      // The listeners attach() put on the TLS socket report a failed handshake
      // (a TLS failure, or its timeout), with the words the user needs.
      () => undefined,
    );
    await done;
    return undefined;
  }

  /** QUIT, then a graceful close; the reply is returned even if it is -ERR. */
  async quit(): Promise<Pop3Reply> {
    this.quitting = true;
    const reply = await this.send('QUIT', false);
    this.shutdown();
    return reply;
  }

  /** Drops the connection without QUIT: pending commands reject with POP3_CLOSED. */
  dropConnection(): void {
    this.fail(sessionClosed(this.server, this.inFlight[0]?.label));
  }

  /** Stops reading from the socket (counted); background replies then wait in the kernel. */
  pauseReading(): void {
    this.pauseRequests++;
    this.updateReading();
  }

  resumeReading(): void {
    if (this.pauseRequests > 0) this.pauseRequests--;
    this.updateReading();
  }

  /** `text` from the server with the user's secrets removed, for an error message. */
  redact(text: string): string {
    return this.redactor?.redact(text) ?? text;
  }

  /** The connection-level failure, once one happened. */
  get failed(): PopliftError | undefined {
    return this.failure;
  }

  private attach(socket: Socket | TLSSocket): void {
    this.sock = socket;
    // Commands are small writes answered before the next goes out (always,
    // without PIPELINING): Nagle's algorithm would hold each one back for
    // the server's delayed ACK, tens of milliseconds per round trip.
    socket.setNoDelay(true);
    const listeners: [string, Listener][] = [
      ['data', (chunk: Buffer) => this.onData(chunk)],
      ['error', (err: Error) => this.onSocketError(err)],
      ['end', () => this.onServerClosed()],
      ['close', () => this.onServerClosed()],
    ];
    for (const [event, listener] of listeners) {
      socket.on(event, listener);
      this.ourListeners.push([event, listener]);
    }
  }

  private transmit(socket: Socket | TLSSocket, command: PendingCommand): void {
    this.transmitted(command);
    this.trace(`C: ${command.label}`);
    if (!this.corked) {
      // Commands issued in the same tick (a pipelined window) leave in one segment.
      this.corked = true;
      socket.cork();
      process.nextTick(() => {
        this.corked = false;
        socket.uncork();
      });
    }
    socket.write(`${command.line}\r\n`, 'utf8');
    this.updateReading();
  }

  private transmitted(command: PendingCommand): void {
    this.parser.expect({
      multiLine: command.multiLine,
      continuation: command.continuation,
      ...(command.maxBodyBytes === undefined ? {} : { maxBodyBytes: command.maxBodyBytes }),
      ...(command.preallocateUpTo === undefined ? {} : { preallocateUpTo: command.preallocateUpTo }),
    });
    this.inFlight.push(command);
    this.updateIdleTimer();
  }

  private onData(chunk: Buffer): void {
    if (this.failure !== undefined) return;
    this.idleTimer?.refresh();
    this.headOctets += chunk.length;
    let replies: Pop3Reply[];
    try {
      replies = this.parser.push(chunk);
    } catch (err) {
      if (!(err instanceof Pop3FramingError)) throw err;
      const recognised = err.line === undefined ? undefined : recogniseService(err.line, this.port, 'POP3');
      this.fail(
        this.greeted ? protocolFailure(this.server, this.inFlight[0]?.label, err.message) : notPop3(this.server, err.message, recognised),
      );
      return;
    }
    for (const reply of replies) {
      this.repliesSeen++;
      if (reply.unsolicited) {
        this.lastServerWords = reply.text;
        this.trace(`S: (unsolicited) ${statusLine(reply)}`);
        continue;
      }
      const command = this.inFlight.shift();
      if (command === undefined) continue;
      // Counted from the chunk that finished the previous reply: close enough for a message.
      this.headOctets = 0;
      if (!command.background) this.foregroundWaiting--;
      this.trace(`S: ${statusLine(reply)}`);
      if (reply.body !== undefined) this.trace(`S: (${reply.body.length} octets)`);
      this.repliesAtAnswer = this.repliesSeen;
      command.resolve(reply);
    }
    if (replies.length > 0 && this.sock !== undefined) {
      while (this.unsent.length > 0 && (this.pipelining || this.inFlight.length === 0)) {
        this.transmit(this.sock, this.unsent.shift()!);
      }
      this.updateReading();
    }
  }

  private onSocketError(err: Error): void {
    if (this.failure !== undefined) return;
    if (!this.greeted || this.handshake !== undefined) {
      const code = errnoCode(err) ?? '';
      // OpenSSL's words for a record that is not TLS: a plain-text greeting.
      if (/WRONG_VERSION_NUMBER|PACKET_LENGTH_TOO_LONG|UNKNOWN_PROTOCOL|RECORD_LAYER_FAILURE/.test(code) && this.handshake === undefined) {
        this.fail(plainPortAsTls(this.server, this.port, code));
        return;
      }
      this.fail(isTlsError(err) ? tlsFailure('POP3', this.server, this.host, err) : connectFailure('POP3', this.server, this.host, err));
      return;
    }
    this.fail(connectionLost(this.server, this.inFlight[0]?.label, this.lastServerWords, err));
  }

  private onServerClosed(): void {
    if (this.failure !== undefined) return;
    if (!this.greeted) {
      this.fail(closedBeforeGreeting(this.server, this.lastServerWords));
      return;
    }
    if (this.handshake !== undefined) {
      this.fail(
        tlsFailure('POP3', this.server, this.host, Object.assign(new Error('closed during the TLS handshake'), { code: 'ECONNRESET' })),
      );
      return;
    }
    if (this.quitting && this.inFlight.length === 0 && this.unsent.length === 0) {
      this.fail(sessionClosed(this.server, undefined));
      return;
    }
    this.fail(connectionLost(this.server, this.inFlight[0]?.label, this.lastServerWords));
  }

  private onIdleTimeout(): void {
    this.idleTimer = undefined;
    if (this.failure !== undefined) return;
    if (this.handshake !== undefined) {
      this.fail(tlsHandshakeTimeout(this.server, this.idleTimeoutMs));
      return;
    }
    this.fail(
      this.greeted
        ? idleTimeout(this.server, this.inFlight[0]?.label ?? 'a command', this.idleTimeoutMs)
        : connectTimeout(this.server, this.idleTimeoutMs, this.transportUp, this.tls),
    );
  }

  /** Connection-level failure: everything pending and everything later rejects with `err`. */
  private fail(err: PopliftError): void {
    if (this.failure !== undefined) return;
    // The server's last words and unreadable lines are quoted: they may echo a secret.
    this.redactor?.redactError(err);
    this.failure = err;
    this.updateIdleTimer();
    const victims = [...this.inFlight, ...this.unsent];
    this.inFlight.length = 0;
    this.unsent.length = 0;
    this.foregroundWaiting = 0;
    this.sock?.destroy();
    if (err.code !== Pop3ErrorCode.CLOSED) this.trace(`-- ${err.message}`);
    for (const victim of victims) victim.reject(err);
    const handshake = this.handshake;
    this.handshake = undefined;
    handshake?.reject(err);
  }

  private shutdown(): void {
    if (this.failure !== undefined) return;
    this.failure = sessionClosed(this.server, undefined);
    this.updateIdleTimer();
    const socket = this.sock;
    if (socket === undefined) return;
    socket.end();
    // A server that never closes its side must not keep the process alive.
    setTimeout(() => socket.destroy(), 2000).unref();
  }

  private updateReading(): void {
    const socket = this.sock;
    if (socket !== undefined && this.failure === undefined) {
      const pause = this.pauseRequests > 0 && this.foregroundWaiting === 0;
      if (pause !== this.readingPaused) {
        this.readingPaused = pause;
        if (pause) socket.pause();
        else socket.resume();
      }
    }
    this.updateIdleTimer();
  }

  private updateIdleTimer(): void {
    const waiting = this.failure === undefined && (this.handshake !== undefined || (this.inFlight.length > 0 && !this.readingPaused));
    if (waiting && this.idleTimer === undefined) {
      this.idleTimer = setTimeout(() => this.onIdleTimeout(), this.idleTimeoutMs);
    } else if (!waiting && this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
    }
    this.updateDeadline(waiting && this.handshake === undefined);
  }

  /** Runs the deadline of the reply next in line while it is being read; paused time does not count. */
  private updateDeadline(reading: boolean): void {
    const head = reading ? this.inFlight[0] : undefined;
    const target = head?.deadlineLeftMs === undefined ? undefined : head;
    if (this.deadlineFor === target) return;
    const running = this.deadlineFor;
    if (running !== undefined) {
      clearTimeout(this.deadlineTimer);
      this.deadlineTimer = undefined;
      running.deadlineLeftMs = (running.deadlineLeftMs ?? 0) - (performance.now() - this.deadlineSince);
      this.deadlineFor = undefined;
    }
    if (target !== undefined) {
      this.deadlineFor = target;
      this.deadlineSince = performance.now();
      this.deadlineTimer = setTimeout(() => this.onDeadline(target), Math.max(0, target.deadlineLeftMs ?? 0));
    }
  }

  private onDeadline(command: PendingCommand): void {
    this.deadlineTimer = undefined;
    this.deadlineFor = undefined;
    if (this.failure !== undefined || this.inFlight[0] !== command) return;
    const deadlineMs = command.deadlineMs ?? 0;
    this.fail(
      this.greeted
        ? replyDeadline(this.server, command.label, deadlineMs, this.headOctets)
        : greetingDeadline(this.server, deadlineMs, this.headOctets),
    );
  }

  private trace(line: string): void {
    this.debugLine?.(line);
  }
}

function statusLine(reply: Pop3Reply): string {
  if (reply.continuation === true) return reply.text === '' ? '+' : `+ ${reply.text}`;
  const indicator = reply.ok ? '+OK' : '-ERR';
  return reply.text === '' ? indicator : `${indicator} ${reply.text}`;
}
