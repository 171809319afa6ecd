/**
 * A second, minimal IMAP connection that only uploads.
 *
 * imapflow sends every literal over 4 KB as synchronizing and has no
 * MULTIAPPEND, so each message would cost one or two round trips. Uploading is
 * where a migration spends its time, so this channel writes APPEND itself:
 * MULTIAPPEND (RFC 3502) batches when the server offers it, LITERAL+ (RFC 7888)
 * so nothing waits for a continuation, several commands in flight, and
 * literal8 (RFC 3516) for messages with NUL bytes.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { ExitCode, PopliftError, connectFailure, describeServer } from '../errors.js';
import { imapAstring } from './mailbox-name.js';
import { SecretRedactor } from '../secrets-redaction.js';
import { loginRefused } from './imap-errors.js';
import { classifyResponseLine, runLaterError } from './server-responses.js';
import { sentBeforeTls, serverNameOptions, upgradeToTls } from '../tls-upgrade.js';
import { oauthErrorAcknowledgement, oauthResponse, plainResponse, type OAuthMechanism } from '../sasl.js';

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

/** The server offers no STARTTLS and plain text was not allowed: nothing was sent. */
export function noStartTls(server: string, cause?: unknown): PopliftError {
  return new PopliftError(
    `IMAP server ${server} does not offer STARTTLS; refusing to send the password in the clear. Use imaps://, or --allow-plaintext if the network is trusted.`,
    { exitCode: ExitCode.CONNECT, side: 'IMAP', server, code: 'IMAP_TLS', ...(cause === undefined ? {} : { cause }) },
  );
}

/** A refusal that asks the client to slow down (Microsoft 365: "Request is throttled. Suggested Backoff Time: 1234 milliseconds"). */
export function isThrottling(text: string): boolean {
  return /throttl/i.test(text);
}

/** An IMAP quoted string (ID takes strings only, never atoms). */
function quoted(text: string): string {
  return `"${text.replace(/[\\"\r\n\0]/g, (c) => (c === '\\' || c === '"' ? `\\${c}` : ''))}"`;
}

/** A refusal for having too many connections (Gmail: "[ALERT] Too many simultaneous connections"; Dovecot: "[LIMIT] Maximum number of connections"). */
function tooManyConnections(reply: TaggedReply): boolean {
  return /too many (simultaneous |concurrent )?connections|maximum number of (simultaneous |concurrent )?connections|connection limit/i.test(
    reply.text,
  );
}

export interface AppendItem {
  content: Buffer;
  flags: readonly string[];
  date: Date | undefined;
}

export type AppendOutcome =
  | { ok: true; uid: number | undefined; uidValidity: bigint | undefined }
  | { ok: false; status: 'NO' | 'BAD'; code: string | undefined; text: string };

interface TaggedReply {
  status: 'OK' | 'NO' | 'BAD';
  code: string | undefined;
  codeArgs: string[];
  text: string;
}

/** Tags of the STATUS commands sent just before and just after a MULTIAPPEND. */
interface Bracket {
  before: string;
  after: string;
}

/** The message with every bare LF made CRLF, as servers store and count it. */
function toCrlf(content: Buffer): Buffer {
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
function headerSection(crlf: Buffer): Buffer {
  const end = crlf.indexOf('\r\n\r\n');
  return end < 0 ? crlf : crlf.subarray(0, end + 4);
}

interface Pending {
  resolve: (reply: TaggedReply) => void;
  reject: (err: Error) => void;
  /** Runs from the command's first byte written until its tagged reply. */
  deadline?: NodeJS.Timeout;
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

function seconds(ms: number): string {
  const s = Math.round(ms / 100) / 10;
  return Number.isInteger(s) ? `${s} s` : `${s.toFixed(1)} s`;
}

const WRITE_SLICE = 1024 * 1024;
/** The longest line, and the largest untagged literal, taken from the server; replies to APPEND and login are short. */
const MAX_LINE_BYTES = 1024 * 1024;
const MAX_LITERAL_BYTES = 1024 * 1024;
/** Up to this many bytes of commands and literals are gathered into one write. */
const COALESCE_BYTES = 256 * 1024;
/**
 * A '+' this long after the tagged reply it was sent behind was held by the
 * server's socket (Nagle's algorithm) until our delayed ACK: 40 ms or more
 * on every common system, while a server that answers at once sends both
 * within microseconds.
 */
const HELD_CONTINUATION_MS = 25;
/** Held '+' replies, and more than half of those seen, before a connection stops sending the next APPEND early. */
const HELD_CONTINUATIONS_TO_SWITCH = 3;
/** Bounds on one response with literals (a FETCH of a header section is the only one asked for). */
const MAX_LITERALS_PER_RESPONSE = 8;
const MAX_RESPONSE_BYTES = 2 * 1024 * 1024;
/** How much of a header section is compared when looking for the stored part of a refused batch. */
const HEADER_COMPARED_BYTES = 64 * 1024;

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

function parseTagged(rest: string): TaggedReply {
  const m = /^(OK|NO|BAD)\s?(?:\[([^\]]*)\])?\s*(.*)$/i.exec(rest);
  if (!m) return { status: 'BAD', code: undefined, codeArgs: [], text: rest };
  const codeParts = m[2] ? m[2].trim().split(/\s+/) : [];
  return {
    status: m[1]!.toUpperCase() as TaggedReply['status'],
    code: codeParts[0]?.toUpperCase(),
    codeArgs: codeParts.slice(1),
    text: m[3] ?? '',
  };
}

export class ImapAppendChannel {
  readonly server: string;
  capabilities = new Set<string>();
  /** The server's greeting line, as it came. */
  greetingText = '';
  private socket!: Socket | TLSSocket;
  /** Bytes of an untagged literal still to skip. */
  private literalLeft = 0;
  private tagSeq = 0;
  private readonly pending = new Map<string, Pending>();
  /** Who gets the next '+' continuation, in the order the requests were written. */
  private readonly continuations: Array<() => void> = [];
  /** Waits for the greeting, which comes before any command: the idle timer and failures reach it like a command. */
  private greetingWaiter: { resolve: (line: string) => void; reject: (err: Error) => void } | undefined;
  private failure: Error | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  /** Server text may echo the credentials (a refused AUTHENTICATE's blob): traces and errors go through it. */
  private readonly redactor: SecretRedactor;

  private constructor(private readonly login: ImapLogin) {
    this.server = describeServer(login);
    this.redactor = SecretRedactor.forCredentials(login);
  }

  static async open(login: ImapLogin): Promise<ImapAppendChannel> {
    const channel = new ImapAppendChannel(login);
    try {
      await channel.start();
    } catch (err) {
      // A refused connection (one too many, a wrong password) must not stay open and count against the server's limit.
      channel.close();
      throw err;
    }
    return channel;
  }

  private trace(dir: 'C' | 'S', line: string): void {
    this.login.debug?.(this.redactor.redact(`IMAP ${dir}: ${line}`));
  }

  private async start(): Promise<void> {
    const { host, port } = this.login;
    // SNI carries host names only (RFC 6066); certificates are still checked against an IP literal.
    const tlsOptions = serverNameOptions(host, this.login.tlsOptions);
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
      this.socket.destroy();
    };
    const greeting = await this.nextGreeting().finally(() => clearTimeout(greetingTimer));
    this.greeting(greeting);
    this.greetingText = greeting;
    // Most servers list their capabilities in the greeting; asking again would cost a round trip.
    if (!this.capabilitiesFrom(greeting)) await this.refreshCapabilities();
    if (this.login.tls === 'starttls') {
      if (this.capabilities.has('STARTTLS')) {
        await this.command('STARTTLS');
        // The chunk that carried the OK has been read to its end by now: anything after it is not the server's over TLS.
        if (this.linesSeen > this.linesAtTagged || this.partial.length > 0 || this.assembling !== undefined || this.literalLeft > 0) {
          this.close();
          throw sentBeforeTls('IMAP', this.server);
        }
        await this.upgrade(tlsOptions);
        await this.refreshCapabilities();
      } else if (!this.login.allowPlaintext) {
        this.close();
        throw noStartTls(this.server);
      }
    }
    await this.authenticate();
    const id = this.login.clientId;
    if (id && this.capabilities.has('ID')) {
      // Nothing waits for the answer: the first upload goes out right behind it.
      this.rawCommand(`ID ("name" ${quoted(id.name)} "version" ${quoted(id.version)})`).catch(() => undefined);
    }
  }

  private greeting(line: string): void {
    if (/^\* (OK|PREAUTH)/i.test(line)) return;
    this.close();
    throw new PopliftError(`IMAP server ${this.server} did not greet as an IMAP server: ${line.slice(0, 200)}`, {
      exitCode: ExitCode.CONNECT,
      side: 'IMAP',
      server: this.server,
      code: 'IMAP_GREETING',
    });
  }

  private attach(socket: Socket | TLSSocket): void {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err: Error) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  private upgrade(tlsOptions: ConnectionOptions): Promise<void> {
    const plain = this.socket;
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
            {
              exitCode: ExitCode.CONNECT,
              side: 'IMAP',
              server: this.server,
              code: 'IMAP_CONNECT',
            },
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

  /** Takes a [CAPABILITY ...] response code (greeting, tagged OK of a login); false when there is none. */
  private capabilitiesFrom(line: string): boolean {
    const m = /\[CAPABILITY ([^\]]*)\]/i.exec(line);
    if (!m) return false;
    this.capabilities = new Set(
      m[1]!
        .trim()
        .split(/\s+/)
        .map((c) => c.toUpperCase()),
    );
    return true;
  }

  private async refreshCapabilities(): Promise<void> {
    const caps = new Set<string>();
    await this.command('CAPABILITY', (line) => {
      const m = /^\* CAPABILITY (.*)$/i.exec(line);
      if (m) for (const c of m[1]!.trim().split(/\s+/)) caps.add(c.toUpperCase());
    });
    this.capabilities = caps;
  }

  private async authenticate(): Promise<void> {
    const { user, password, accessToken } = this.login;
    let reply: TaggedReply;
    if (accessToken !== undefined) {
      const mech = this.capabilities.has('AUTH=OAUTHBEARER') ? 'OAUTHBEARER' : 'XOAUTH2';
      reply = await this.saslCommand(mech, oauthResponse(mech, user, accessToken));
    } else if (this.capabilities.has('AUTH=PLAIN')) {
      reply = await this.saslCommand('PLAIN', plainResponse(user, password ?? ''));
    } else {
      if (this.capabilities.has('LOGINDISABLED')) {
        throw new PopliftError(`IMAP server ${this.server} refuses LOGIN on this connection; use imaps:// or a port with STARTTLS.`, {
          exitCode: ExitCode.AUTH,
          side: 'IMAP',
          server: this.server,
          code: 'IMAP_AUTH',
        });
      }
      reply = await this.loginCommand(user, password ?? '');
    }
    if (reply.status !== 'OK') {
      this.close();
      const code = reply.code ? `[${reply.code}] ` : '';
      if (tooManyConnections(reply)) {
        // Not the credentials: the account has as many connections as the server allows.
        throw new PopliftError(
          `IMAP server ${this.server} refused one more connection for ${user}: ${code}${reply.text.replace(/\.$/, '')}. Close other mail clients of this account, or give a lower --connections.`,
          {
            exitCode: ExitCode.CONNECT,
            side: 'IMAP',
            server: this.server,
            code: 'IMAP_CONNECT',
          },
        );
      }
      throw loginRefused(this.server, user, { code: reply.code, text: reply.text, tokenUsed: accessToken !== undefined });
    }
    // Capabilities change after login; servers usually say so in the tagged OK.
    if (!(reply.code === 'CAPABILITY' && this.capabilitiesFrom(`[CAPABILITY ${reply.codeArgs.join(' ')}]`)))
      await this.refreshCapabilities();
  }

  /**
   * AUTHENTICATE with SASL-IR when offered, else the initial response after '+'.
   * A '+' after the credentials is the server refusing a token with an error
   * challenge (RFC 7628 §3.2.2): it must be answered (a lone %x01 for
   * OAUTHBEARER, an empty line for XOAUTH2) before the tagged NO comes.
   */
  private saslCommand(mech: 'PLAIN' | OAuthMechanism, initial: string): Promise<TaggedReply> {
    const tag = this.nextTag();
    const reply = this.expect(tag);
    const acknowledgeError = () => {
      // PLAIN has no error challenge; a '+' after it gets the empty line that ends the exchange.
      const ack = mech === 'PLAIN' ? '' : oauthErrorAcknowledgement(mech);
      this.trace('C', ack === '' ? '(empty response to the error challenge)' : ack);
      this.socket.write(`${ack}\r\n`);
    };
    this.startDeadline(tag, 'AUTHENTICATE');
    if (this.capabilities.has('SASL-IR')) {
      this.continuations.push(acknowledgeError);
      this.trace('C', `${tag} AUTHENTICATE ${mech} ****`);
      this.socket.write(`${tag} AUTHENTICATE ${mech} ${initial}\r\n`);
    } else {
      this.continuations.push(() => {
        this.trace('C', '****');
        this.socket.write(`${initial}\r\n`);
        this.continuations.push(acknowledgeError);
      });
      this.trace('C', `${tag} AUTHENTICATE ${mech}`);
      this.socket.write(`${tag} AUTHENTICATE ${mech}\r\n`);
    }
    return reply.finally(() => {
      this.continuations.length = 0;
    });
  }

  /**
   * LOGIN, its arguments as atoms or quoted strings where those carry them
   * (7-bit text without CR or LF), else as literals of their UTF-8 bytes: a
   * quoted string is 7-bit (RFC 3501 §9 TEXT-CHAR), and a command line
   * written as latin1 sent '€' as one byte, so the password the control
   * connection logged in with failed on the upload connections.
   */
  private loginCommand(user: string, password: string): Promise<TaggedReply> {
    const tag = this.nextTag();
    const reply = this.expect(tag);
    // Each part goes out once the server has asked for it with '+' (the first at once).
    const parts: Buffer[][] = [[Buffer.from(`${tag} LOGIN`)]];
    for (const arg of [user, password]) {
      let current = parts[parts.length - 1]!;
      if (/^[\x20-\x7e]*$/.test(arg)) {
        current.push(Buffer.from(` ${imapAstring(arg)}`));
        continue;
      }
      const bytes = Buffer.from(arg, 'utf8');
      const sync = !this.nonSyncOk(bytes.length);
      current.push(Buffer.from(` {${bytes.length}${sync ? '' : '+'}}\r\n`));
      if (sync) parts.push((current = []));
      current.push(bytes);
    }
    parts[parts.length - 1]!.push(Buffer.from('\r\n'));
    this.trace('C', `${tag} LOGIN ${/^[\x20-\x7e]*$/.test(user) ? imapAstring(user) : `{${Buffer.byteLength(user)}}`} ****`);
    for (const part of parts.slice(1)) this.continuations.push(() => this.socket.write(Buffer.concat(part)));
    this.queue(Buffer.concat(parts[0]!));
    this.flushOut().catch(() => undefined);
    return reply.finally(() => {
      // A refusal before its '+' must not leave a part to answer the next command's '+'.
      this.continuations.length = 0;
    });
  }

  private nextTag(): string {
    return `U${++this.tagSeq}`;
  }

  private expect(tag: string, untagged?: (line: string, literals: readonly Buffer[]) => void): Promise<TaggedReply> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.pending.set(tag, { resolve, reject });
      if (untagged) this.untaggedHandlers.push(untagged);
      this.armIdle();
    }).finally(() => {
      if (untagged) this.untaggedHandlers = this.untaggedHandlers.filter((h) => h !== untagged);
    }) as Promise<TaggedReply>;
  }

  private untaggedHandlers: Array<(line: string, literals: readonly Buffer[]) => void> = [];
  /** UIDNEXT of the last untagged STATUS, taken by the STATUS command whose tagged reply follows it. */
  private statusUidNext: number | undefined;

  private async rawCommand(
    text: string,
    traced = text,
    untagged?: (line: string, literals: readonly Buffer[]) => void,
  ): Promise<TaggedReply> {
    // Behind the APPEND being written: its literal goes out in slices, and a command written
    // between two of them would become part of the message.
    return this.exclusive(() => this.commandNow(text, traced, untagged));
  }

  /** Runs `work` with nothing else written on the connection meanwhile. */
  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const run = this.writeChain.then(work);
    this.writeChain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Writes a command at once: only from inside exclusive(). */
  private commandNow(text: string, traced = text, untagged?: (line: string, literals: readonly Buffer[]) => void): Promise<TaggedReply> {
    const tag = this.nextTag();
    const reply = this.expect(tag, untagged);
    this.trace('C', `${tag} ${traced}`);
    this.startDeadline(tag, /^UID \S+/i.exec(text)?.[0] ?? text.split(' ')[0]!);
    this.queue(`${tag} ${text}\r\n`);
    this.flushOut().catch(() => undefined);
    return reply;
  }

  /**
   * Starts the deadline of the command under `tag` as its first byte goes
   * out: unlike the idle timer, which every byte re-arms, it ends a command
   * whose answer never comes however the server keeps the connection busy.
   */
  private startDeadline(tag: string, what: string, octets = 0): void {
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
      this.socket.destroy();
    }, ms);
  }

  private async command(text: string, untagged?: (line: string) => void): Promise<TaggedReply> {
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
      this.socket.destroy();
    }, this.login.timeoutMs);
  }

  /**
   * Splits what the server sends into lines. A bare LF ends a line as CRLF
   * does (GNU Mailutils ends some replies so). Pieces of a line are kept
   * apart until its end arrives, so a long line costs one copy, not one per
   * chunk; a line or literal over the caps fails the connection: nothing a
   * server says on this connection is that long.
   */
  private onData(chunk: Buffer): void {
    this.armIdle();
    let data = chunk;
    while (data.length > 0 && !this.failure) {
      if (this.literalLeft > 0) {
        const take = Math.min(this.literalLeft, data.length);
        this.literalParts.push(data.subarray(0, take));
        data = data.subarray(take);
        this.literalLeft -= take;
        if (this.literalLeft === 0) {
          this.assembling?.literals.push(Buffer.concat(this.literalParts));
          this.literalParts = [];
        }
        continue;
      }
      const lf = data.indexOf(0x0a);
      if (lf < 0) {
        this.partialBytes += data.length;
        if (this.partialBytes > MAX_LINE_BYTES) {
          this.overCap('a line longer than 1 MiB');
          return;
        }
        this.partial.push(data);
        return;
      }
      let bytes = data.subarray(0, lf);
      data = data.subarray(lf + 1);
      if (this.partial.length > 0) {
        if (this.partialBytes + bytes.length > MAX_LINE_BYTES) {
          this.overCap('a line longer than 1 MiB');
          return;
        }
        bytes = Buffer.concat([...this.partial, bytes]);
        this.partial = [];
        this.partialBytes = 0;
      }
      if (bytes.length > MAX_LINE_BYTES) {
        this.overCap('a line longer than 1 MiB');
        return;
      }
      const end = bytes.length > 0 && bytes[bytes.length - 1] === 0x0d ? bytes.length - 1 : bytes.length;
      const line = bytes.toString('latin1', 0, end);
      const literal = /\{(\d{1,12})\}$/.exec(line);
      if (literal) {
        const size = Number(literal[1]);
        if (size > MAX_LITERAL_BYTES) {
          this.overCap(`a literal of ${size} octets (more than 1 MiB)`);
          return;
        }
        this.assembling ??= { text: [], literals: [], bytes: 0 };
        this.assembling.bytes += size + line.length;
        if (this.assembling.literals.length >= MAX_LITERALS_PER_RESPONSE || this.assembling.bytes > MAX_RESPONSE_BYTES) {
          this.overCap('a response with more literals than any answer on this connection has');
          return;
        }
        this.assembling.text.push(line);
        this.literalLeft = size;
        this.literalParts = [];
        continue;
      }
      if (this.assembling) {
        // The rest of a response whose literals came before: handled as one.
        const { text, literals } = this.assembling;
        this.assembling = undefined;
        this.onLine([...text, line].join(''), literals);
      } else this.onLine(line);
    }
  }

  /** A response with literals, while it arrives: its lines and the literals between them. */
  private assembling: { text: string[]; literals: Buffer[]; bytes: number } | undefined;
  private literalParts: Buffer[] = [];

  private partial: Buffer[] = [];
  private partialBytes = 0;

  private overCap(what: string): void {
    this.partial = [];
    this.partialBytes = 0;
    this.fail(
      new PopliftError(
        `IMAP server ${this.server} sent ${what} on the upload connection, which no IMAP server needs to; giving up on it. The server is broken or not an IMAP server: check the host and port, or ask its operator.`,
        { exitCode: ExitCode.PARTIAL, side: 'IMAP', server: this.server, code: 'IMAP_PROTOCOL' },
      ),
    );
    this.socket.destroy();
  }

  /** Lines read, and how many had been when the last tagged reply came. */
  private linesSeen = 0;
  private linesAtTagged = 0;

  private onLine(line: string, literals: readonly Buffer[] = []): void {
    this.linesSeen++;
    this.trace('S', line.length > 300 ? `${line.slice(0, 300)}…` : line);
    if (this.greetingWaiter) {
      const waiter = this.greetingWaiter;
      this.greetingWaiter = undefined;
      this.armIdle();
      waiter.resolve(line);
      return;
    }
    if (line.startsWith('+')) {
      this.continuations.shift()?.();
      return;
    }
    if (line.startsWith('*')) {
      if (/^\* BYE/i.test(line)) this.byeText = this.redactor.redact(line.slice(6));
      const status = /^\* STATUS .*\(.*\bUIDNEXT (\d+)/i.exec(line);
      if (status) this.statusUidNext = Number(status[1]);
      for (const h of this.untaggedHandlers) h(line, literals);
      return;
    }
    const sp = line.indexOf(' ');
    const tag = line.slice(0, sp);
    this.lastTagged = { tag, at: performance.now() };
    const pending = this.pending.get(tag);
    if (!pending) return;
    this.linesAtTagged = this.linesSeen;
    this.pending.delete(tag);
    clearTimeout(pending.deadline);
    this.armIdle();
    const reply = parseTagged(line.slice(sp + 1));
    pending.resolve({ ...reply, text: this.redactor.redact(reply.text) });
  }

  private byeText: string | undefined;

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

  private write(data: string | Buffer): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.socket.write(data)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onDrain = () => {
        this.socket.off('close', onClose);
        resolve();
      };
      const onClose = () => {
        this.socket.off('drain', onDrain);
        reject(this.failure ?? new Error('connection closed'));
      };
      this.socket.once('drain', onDrain);
      this.socket.once('close', onClose);
    });
  }

  /** Whether a literal of this size may be sent without waiting for '+'. */
  private nonSyncOk(size: number): boolean {
    return this.capabilities.has('LITERAL+') || (this.capabilities.has('LITERAL-') && size <= 4096);
  }

  private literalHeader(item: AppendItem): string {
    const flags = `(${item.flags.join(' ')})`;
    const date = item.date ? ` ${imapDateTime(item.date)}` : '';
    // Only literal8 may carry NUL; servers that lack BINARY reject such messages, which is then reported.
    const tilde = this.capabilities.has('BINARY') && item.content.includes(0) ? '~' : '';
    const plus = this.nonSyncOk(item.content.length) ? '+' : '';
    return `${flags}${date} ${tilde}{${item.content.length}${plus}}`;
  }

  /** Serialises the write phase of APPEND commands so their bytes never interleave. */
  private writeChain: Promise<void> = Promise.resolve();
  /** The APPEND written last on this connection, and its tagged reply. */
  private lastAppend: { tag: string; reply: Promise<TaggedReply> } | undefined;
  /** The last tagged reply read, and when. */
  private lastTagged: { tag: string; at: number } | undefined;
  /** '+' replies to an APPEND sent behind the previous literal: how many came, and how many of them late. */
  private continuationsBehind = 0;
  private continuationsHeld = 0;
  /**
   * Whether an APPEND that waits for '+' is sent only once the previous one
   * is answered. Sent behind the previous literal, the next command saves a
   * round trip; but a server that does not set TCP_NODELAY (Courier-IMAP)
   * then holds its '+' behind its tagged reply until we acknowledge that
   * reply, and we, having nothing to send, delay the ACK: 40 ms or more per
   * message. Such a server is recognised by the late '+' and then answered
   * in step, each reply acknowledged by the next command.
   */
  private appendsInStep = false;

  /** The shortest time from the end of an APPEND's literal to its tagged reply, and how many were timed. */
  private roundTrips = { count: 0, shortestMs: Infinity };

  private noteRoundTrip(ms: number): void {
    this.roundTrips.count++;
    this.roundTrips.shortestMs = Math.min(this.roundTrips.shortestMs, ms);
  }

  /**
   * The link's round trip as this connection saw it, with the server's time
   * to store a message: the shortest wait for an APPEND's tagged reply after
   * the write that ended its literal.
   */
  get appendRoundTrip(): { count: number; shortestMs: number } {
    return { ...this.roundTrips };
  }

  /** Counts a '+' for an APPEND sent before the tagged reply to `behind` was read. */
  private noteContinuationBehind(behind: string): void {
    const replied = this.lastTagged?.tag === behind ? this.lastTagged.at : undefined;
    this.continuationsBehind++;
    if (replied !== undefined && performance.now() - replied >= HELD_CONTINUATION_MS) this.continuationsHeld++;
    if (
      !this.appendsInStep &&
      this.continuationsHeld >= HELD_CONTINUATIONS_TO_SWITCH &&
      2 * this.continuationsHeld > this.continuationsBehind
    ) {
      this.appendsInStep = true;
      this.login.debug?.(
        `IMAP -: ${this.server} held its '+' behind the previous reply ${this.continuationsHeld} times out of ${this.continuationsBehind}; sending each APPEND once the previous one is answered.`,
      );
    }
  }
  /** APPEND commands queued behind the one being written. */
  private appendsWaiting = 0;

  /**
   * Bytes waiting to go out in one write. Every separate write of a small
   * piece (a command line, a closing CRLF) is a packet of its own, and a
   * server that answers nothing until it has them all then waits on it;
   * so a literal, its CRLF and the next command line go out together.
   */
  private out: Buffer[] = [];
  private outBytes = 0;

  private queue(data: string | Buffer): void {
    const b = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
    if (b.length === 0) return;
    this.out.push(b);
    this.outBytes += b.length;
  }

  /** Called with the time of the next write of queued bytes. */
  private onNextFlush: Array<(at: number) => void> = [];

  private flushOut(): Promise<void> {
    if (this.outBytes === 0) return this.failure ? Promise.reject(this.failure) : Promise.resolve();
    const at = performance.now();
    for (const stamp of this.onNextFlush.splice(0)) stamp(at);
    const data = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out, this.outBytes);
    this.out = [];
    this.outBytes = 0;
    return this.write(data);
  }

  /** Queues one APPEND command carrying these messages; resolves with its tagged reply. */
  private sendAppend(mailbox: string, items: readonly AppendItem[]): Promise<TaggedReply> {
    return this.queueAppend(mailbox, items).reply;
  }

  /**
   * One APPEND of one message: `written` settles once its bytes are handed
   * to the socket (after the server's '+' for a synchronizing literal), so a
   * caller spreading messages over connections can give the next one to
   * whichever connection is free to write.
   */
  appendOne(mailbox: string, item: AppendItem): { written: Promise<void>; outcome: Promise<AppendOutcome> } {
    const { written, reply } = this.queueAppend(mailbox, [item]);
    return { written, outcome: reply.then((r) => this.outcome(r, 1)[0]!) };
  }

  /** Whether the connection has failed or been closed. */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  private queueAppend(
    mailbox: string,
    items: readonly AppendItem[],
    bracket?: Bracket,
  ): { written: Promise<void>; reply: Promise<TaggedReply> } {
    const tag = this.nextTag();
    const reply = this.expect(tag);
    // A failed write surfaces through `writing`; keep `reply` from being an unhandled rejection meanwhile.
    reply.catch(() => undefined);
    this.appendsWaiting++;
    const writing = this.writeChain.then(() => {
      this.appendsWaiting--;
      return this.writeAppend(tag, reply, mailbox, items, bracket);
    });
    this.writeChain = writing.catch(() => undefined);
    return { written: writing, reply: writing.then(() => reply) };
  }

  private async writeAppend(
    tag: string,
    reply: Promise<TaggedReply>,
    mailbox: string,
    items: readonly AppendItem[],
    bracket?: Bracket,
  ): Promise<void> {
    if (this.failure) throw this.failure;
    if (bracket) this.queueStatus(bracket.before, mailbox);
    const octets = items.reduce((n, i) => n + i.content.length, 0);
    this.startDeadline(tag, 'APPEND', octets);
    this.trace('C', `${tag} APPEND ${mailbox} (${items.length} message${items.length === 1 ? '' : 's'}, ${octets} octets)`);
    const previous = this.lastAppend;
    this.lastAppend = { tag, reply };
    let prefix = `${tag} APPEND ${imapAstring(mailbox)} `;
    for (const item of items) {
      const head = this.literalHeader(item);
      const synchronizing = !head.endsWith('+}');
      if (synchronizing && prefix !== ' ' && this.appendsInStep && previous && this.pending.has(previous.tag)) {
        // The previous literal's end goes out now; this command once it is answered.
        await this.flushOut();
        // A lost connection surfaces at the next write.
        await previous.reply.catch(() => undefined);
      }
      // Whether this command line reaches the server before we have read the previous APPEND's reply.
      const behind = prefix !== ' ' && previous && this.pending.has(previous.tag) ? previous.tag : undefined;
      this.queue(`${prefix}${head}\r\n`);
      if (synchronizing) {
        // Synchronizing literal: wait for '+', or for the server to reject the command outright.
        const go = new Promise<boolean>((resolve) => {
          const onContinue = () => {
            if (behind !== undefined) this.noteContinuationBehind(behind);
            resolve(true);
          };
          this.continuations.push(onContinue);
          // Refused before its '+': the next '+' belongs to the next command, not to this one.
          const refused = () => {
            const at = this.continuations.indexOf(onContinue);
            if (at >= 0) this.continuations.splice(at, 1);
            resolve(false);
          };
          reply.then(refused, refused);
        });
        await this.flushOut();
        if (!(await go)) {
          if (bracket) {
            this.queueStatus(bracket.after, mailbox);
            await this.flushOut();
          }
          return;
        }
      }
      if (item.content.length <= COALESCE_BYTES) {
        this.queue(item.content);
      } else {
        // In slices: TLS encrypts what it is given at once, so one write of a
        // 100 MB message would hold a second, encrypted copy of it in memory.
        for (let at = 0; at < item.content.length; at += WRITE_SLICE) {
          this.queue(item.content.subarray(at, at + WRITE_SLICE));
          if (at + WRITE_SLICE < item.content.length) await this.flushOut();
        }
      }
      if (this.outBytes >= COALESCE_BYTES) await this.flushOut();
      prefix = ' ';
    }
    this.queue('\r\n');
    // From the write that ends the literal to the tagged reply: one round trip and the server's time to store.
    let endedAt: number | undefined;
    this.onNextFlush.push((at) => (endedAt = at));
    reply.then(
      () => {
        if (endedAt !== undefined) this.noteRoundTrip(performance.now() - endedAt);
      },
      () => undefined,
    );
    if (bracket) this.queueStatus(bracket.after, mailbox);
    // The next APPEND, when one is queued, goes out in the same write as this CRLF.
    if (this.appendsWaiting === 0 || this.outBytes >= COALESCE_BYTES) await this.flushOut();
  }

  private outcome(reply: TaggedReply, count: number): AppendOutcome[] {
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

  get multiAppend(): boolean {
    return this.capabilities.has('MULTIAPPEND');
  }

  /**
   * Uploads the items into `mailbox` (the wire name, already encoded). With
   * `multi`, one MULTIAPPEND; if the server refuses it, every message is
   * retried alone so one bad message costs only itself. Otherwise one APPEND
   * per message, all in flight at once when literals need no continuation.
   */
  async append(mailbox: string, items: readonly AppendItem[], multi: boolean): Promise<AppendOutcome[]> {
    if (items.length === 0) return [];
    const found: Array<AppendOutcome | undefined> = items.map(() => undefined);
    if (multi && items.length > 1) {
      // UIDNEXT just before and just after the batch, asked in the same write (no round trip of
      // their own): the UIDs a server that breaks RFC 3502's all-or-nothing gave part of a
      // refused batch lie between them, for this connection's commands run in order.
      const bracket: Bracket = { before: this.nextTag(), after: this.nextTag() };
      const uidNextBefore = this.expectUidNext(bracket.before);
      const uidNextAfter = this.expectUidNext(bracket.after);
      const reply = await this.queueAppend(mailbox, items, bracket).reply;
      const range = { before: await uidNextBefore.catch(() => undefined), after: await uidNextAfter.catch(() => undefined) };
      // Over quota and throttling refuse every message alike: retrying them one by one would only
      // repeat the refusal (and deepen the throttling). The engine waits as asked and sends the batch again.
      if (reply.status === 'OK' || reply.code === 'OVERQUOTA' || (reply.status === 'NO' && isThrottling(reply.text))) {
        return this.outcome(reply, items.length);
      }
      if (range.before !== undefined && (range.after === undefined || range.after > range.before)) {
        // The server's UIDNEXT moved across a refused batch: find what of it was stored, so
        // the one-by-one retry does not store those messages a second time.
        const stored = await this.storedSince(mailbox, items, range.before, range.after);
        for (const [i, outcome] of stored) found[i] = outcome;
        if (stored.size > 0) {
          const uids = [...stored.values()].map((o) => (o.ok ? o.uid : undefined)).join(',');
          this.login.debug?.(
            `IMAP -: ${this.server} refused a batch of ${items.length} but stored ${stored.size} of them (UIDs ${uids}); sending only the others again.`,
          );
        }
      }
    }
    const replies = items.map((item, i) =>
      found[i] !== undefined ? Promise.resolve(found[i]) : this.sendAppend(mailbox, [item]).then((r) => this.outcome(r, 1)[0]!),
    );
    return Promise.all(replies);
  }

  /** Resolves with the UIDNEXT of the STATUS under `tag`, undefined when the server gave none. */
  private expectUidNext(tag: string): Promise<number | undefined> {
    // Whoever asks may not wait for it (a batch refused before its bracket is read): never an unhandled rejection.
    if (this.failure) {
      const failed = Promise.reject(this.failure);
      failed.catch(() => undefined);
      return failed;
    }
    const promise = new Promise<number | undefined>((resolve, reject) => {
      this.pending.set(tag, {
        // Called as the tagged line is read, so the untagged STATUS taken is the one just before it.
        resolve: (reply) => {
          const uidNext = this.statusUidNext;
          this.statusUidNext = undefined;
          resolve(reply.status === 'OK' ? uidNext : undefined);
        },
        reject,
      });
      this.armIdle();
    });
    promise.catch(() => undefined);
    return promise;
  }

  private queueStatus(tag: string, mailbox: string): void {
    const text = `STATUS ${imapAstring(mailbox)} (UIDNEXT)`;
    this.trace('C', `${tag} ${text}`);
    this.startDeadline(tag, 'STATUS');
    this.queue(`${tag} ${text}\r\n`);
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
    // The folder is selected meanwhile, so nothing else goes out: a STATUS bracketing another batch
    // would be answered from this session's view of the folder, which misses what the batch stored.
    return this.exclusive(async () => {
      const wanted = items.map((item) => {
        const crlf = toCrlf(item.content);
        return { size: crlf.length, header: headerSection(crlf).subarray(0, HEADER_COMPARED_BYTES) };
      });
      const found = new Map<number, AppendOutcome>();
      let uidValidity: bigint | undefined;
      const examined = await this.commandNow(`EXAMINE ${imapAstring(mailbox)}`, undefined, (line) => {
        const m = /^\* OK \[UIDVALIDITY (\d+)\]/i.exec(line);
        if (m) uidValidity = BigInt(m[1]!);
      });
      if (examined.status !== 'OK') return found;
      try {
        const range = to === undefined ? `${from}:*` : `${from}:${to - 1}`;
        await this.commandNow(
          `UID FETCH ${range} (UID RFC822.SIZE BODY.PEEK[HEADER]<0.${HEADER_COMPARED_BYTES}>)`,
          undefined,
          (line, literals) => {
            if (!/^\* \d+ FETCH /i.test(line)) return;
            const uid = /\bUID (\d+)/i.exec(line);
            const size = /\bRFC822\.SIZE (\d+)/i.exec(line);
            // `from:*` names the last message even when its UID is lower.
            if (!uid || !size || Number(uid[1]) < from || literals.length !== 1) return;
            const header = toCrlf(literals[0]!);
            const i = wanted.findIndex((w, at) => !found.has(at) && w.size === Number(size[1]) && w.header.equals(header));
            if (i >= 0) found.set(i, { ok: true, uid: Number(uid[1]), uidValidity });
          },
        );
      } finally {
        // EXAMINE is read-only, so CLOSE expunges nothing where UNSELECT is not offered.
        await this.commandNow(this.capabilities.has('UNSELECT') ? 'UNSELECT' : 'CLOSE').catch(() => undefined);
      }
      return found;
    });
  }

  async logout(): Promise<void> {
    if (this.failure) return;
    try {
      await this.rawCommand('LOGOUT');
    } catch {
      // The server may close before the tagged OK; that is a normal logout.
    }
    this.close();
  }

  close(): void {
    clearTimeout(this.idleTimer);
    this.failure ??= new PopliftError(`IMAP upload connection to ${this.server} is closed.`, {
      exitCode: ExitCode.PARTIAL,
      side: 'IMAP',
      server: this.server,
      code: 'IMAP_CLOSED',
    });
    this.socket.destroy();
  }
}
