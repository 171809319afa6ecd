import type { ConnectionOptions } from 'node:tls';
import { ExitCode, PopliftError, describeServer } from '../errors.js';
import {
  POP3_AUTH_METHODS,
  SecretMask,
  authenticate,
  credentialSecrets,
  secretName,
  type Pop3AuthMethod,
  type Pop3Capabilities,
  type Pop3Credentials,
} from './pop3-auth.js';
import { commandRefused, messageTooLarge, protocolFailure, tlsUnavailable } from './pop3-errors.js';
import type { Pop3Reply } from './pop3-framing.js';
import { ListSizes, MalformedLine, Pop3Listing, parseListReply, parseUidlLines, type UidlLines } from './pop3-listing.js';
import { Pop3Transport, type SendOptions } from './pop3-transport.js';

export interface Pop3ConnectOptions {
  host: string;
  port: number;
  /**
   * true or 'implicit': TLS from the first byte (POP3S, usually port 995).
   * false: plain text. 'starttls': plain text upgraded with STLS (RFC 2595)
   * when the server offers it.
   */
  tls: boolean | 'implicit' | 'starttls';
  /**
   * Whether a login may go out unencrypted (tls false, or 'starttls' with a
   * server that lacks STLS), whatever the method (APOP included: the mail
   * still travels in clear). Default true; when false such a login is
   * refused with a POP3_TLS error before any credential is sent.
   */
  allowPlaintext?: boolean;
  user: string;
  /** Required unless accessToken is given. */
  password?: string;
  /**
   * How to log in with the password (default 'auto'): 'auto' uses AUTH PLAIN
   * (RFC 5034/4616) when CAPA lists SASL PLAIN and USER/PASS otherwise;
   * 'plain' and 'user' force one of them; 'apop' uses APOP, which needs a
   * <timestamp> in the greeting (else POP3_AUTH_UNSUPPORTED, exit USAGE).
   * A refused login is never retried with another method.
   */
  auth?: Pop3AuthMethod;
  /**
   * OAuth2 access token: logs in with AUTH OAUTHBEARER (RFC 7628) or, when
   * only that is listed, AUTH XOAUTH2, instead of the password. A refused
   * token fails with code POP3_AUTH_TOKEN, so the caller can refresh it
   * once. Only with auth 'auto' (or unset).
   */
  accessToken?: string;
  /**
   * Idle timeout: no byte from the server for this long while a reply is
   * awaited. Each message also has a hard deadline of twice this plus one
   * second per MIN_TRANSFER_RATE octets of its LIST size.
   */
  timeoutMs: number;
  /**
   * Largest message taken (default DEFAULT_MAX_MESSAGE_BYTES). A message
   * whose LIST size is larger is not retrieved; one that turns out larger,
   * or more than LIST_SLACK beyond its LIST size, is read to its end and
   * dropped. Either way it fails alone with code POP3_TOO_BIG.
   */
  maxMessageBytes?: number;
  tlsOptions?: ConnectionOptions;
  /**
   * Protocol trace, one line per call. Secrets never appear: commands that
   * carry one are shown as PASS ****, AUTH PLAIN ****, APOP user ****,
   * AUTH XOAUTH2 ****, and any secret the server echoes is replaced by ****.
   */
  debug?: (line: string) => void;
  /**
   * The caller lists the mailbox first thing: where the server offers
   * PIPELINING, LIST and UIDL go out with the CAPA after login, one round
   * trip instead of two, and listing() takes their answers.
   */
  listAtLogin?: boolean;
  /** The login waits for this (see StoreEndpoints.connectSource); its rejection ends the connection. */
  loginAfter?: Promise<unknown>;
  /**
   * The CAPA answer before login of an earlier session with the same
   * server in this run (Pop3Session.capabilitiesBeforeLogin): over
   * implicit TLS it is used instead of asking again, one round trip less
   * per further session. Over STLS or plaintext CAPA is always asked.
   */
  capabilitiesBeforeLogin?: Pop3Capabilities;
}

export interface RetrManyOptions {
  /** Most RETRs in flight at once when the server offers PIPELINING. */
  window?: number;
  /** Called for a RETR answered -ERR (code POP3_ERR); without it retrMany rejects. */
  onError?: (n: number, err: Error) => void;
  /**
   * Polled before each RETR is issued and each message is delivered; once it
   * returns true retrMany resolves without delivering more (replies already
   * in flight are read and dropped).
   */
  stopWhen?: () => boolean;
}

/**
 * Enough RETRs in flight to hide a 50 ms round trip behind typical 5–50 kB
 * messages; MAX_RETR_BYTES_IN_FLIGHT caps it for large ones.
 */
export const DEFAULT_RETR_WINDOW = 128;

/**
 * Bound on the LIST sizes of the RETRs in flight (one message is always
 * allowed, whatever its size). Effective once list() has been called.
 */
export const MAX_RETR_BYTES_IN_FLIGHT = 8 * 1024 * 1024;

/** What retrMany tells onMessage besides the body. */
export interface RetrInfo {
  /** n's size in the last list() of this session, if any. */
  listSize: number | undefined;
  /**
   * The body's length differs from listSize by more than line ends explain
   * (sizeMismatch); always false for TOP and when no LIST was read.
   */
  sizeSuspect: boolean;
}

/**
 * Whether a retrieved message's length is further from its LIST size than
 * one octet per line: servers that store LF line ends may count them as
 * one octet and send CRLF, which is no sign of trouble; anything beyond
 * means the server sent something other than what it listed (Courier
 * without UTF8 serves a generated wrapper for 8-bit headers).
 */
export function sizeMismatch(listSize: number, body: Buffer): boolean {
  const difference = Math.abs(body.length - listSize);
  if (difference === 0) return false;
  let lines = 0;
  for (let i = body.indexOf(0x0a); i !== -1 && lines < difference; i = body.indexOf(0x0a, i + 1)) lines++;
  return difference > lines;
}

export interface DeleManyOptions {
  /** Most DELEs in flight at once when the server offers PIPELINING (default DEFAULT_DELE_WINDOW). */
  window?: number;
  /** Polled before each DELE and every STOP_POLL_MS; once true, deleMany stops (see there). */
  stopWhen?: () => boolean;
  /** Aborting it stops deleMany at once, as stopWhen does. */
  signal?: AbortSignal;
  /**
   * What each number must be: with it, a DELE goes out only for a number
   * that this session's last listing() shows with exactly this UIDL and LIST
   * size, and whose UIDL identifies it (unique, well formed, present).
   * Anything else lands in `unverified` and is not deleted. Message numbers
   * name whatever sits there now; this is the proof that it is the message
   * the caller means.
   */
  expected?: ReadonlyMap<number, { uidl: string; size: number }>;
}

export interface DeleManyResult {
  /** Answered +OK: deleted when quit() succeeds. */
  deleted: number[];
  /** Answered -ERR (code POP3_ERR): the message stays. */
  refused: { n: number; error: PopliftError }[];
  /** Never sent because deleMany stopped. */
  notSent: number[];
  /** Sent, but no answer came within STOP_GRACE_MS of the stop: the server may or may not delete them on QUIT. */
  unanswered: number[];
  /** deleMany was asked to stop before every DELE was answered or sent. */
  stopped: boolean;
  /** Not sent because `expected` could not be proven, with why. */
  unverified: { n: number; reason: string }[];
}

/** A window deep enough to hide a 50 ms round trip behind a thousand DELEs a second. */
export const DEFAULT_DELE_WINDOW = 64;
/** How often deleMany asks stopWhen while it waits for answers. */
export const STOP_POLL_MS = 100;
/** How long deleMany waits, once stopped, for the answers to DELEs already sent. */
export const STOP_GRACE_MS = 500;

/** Default of Pop3ConnectOptions.maxMessageBytes (--max-message-size). */
export const DEFAULT_MAX_MESSAGE_BYTES = 256 * 1024 * 1024;

/**
 * How far a message may exceed its LIST size: servers that store LF line
 * ends may count them as one octet and send two, so half the size (at least
 * 64 KiB) covers every honest server while keeping memory tied to LIST.
 */
export function listSlack(listSize: number): number {
  return Math.max(64 * 1024, Math.ceil(listSize / 2));
}

/**
 * Slowest rate the per-message deadline allows for, in octets per second:
 * 16 KiB/s moves a 256 MiB message in under five hours, and a server that
 * trickles a byte now and then (which the idle timeout never catches) is
 * cut off.
 */
export const MIN_TRANSFER_RATE = 16 * 1024;

/** A LIST or UIDL reply must be complete within this many idle timeouts. */
export const LISTING_DEADLINE_FACTOR = 20;

/** What topMany counts a TOP reply as, at most, against MAX_RETR_BYTES_IN_FLIGHT. */
export const TOP_BYTES_ESTIMATE = 64 * 1024;

const STAT_TEXT = /^(\d+)[ \t]+(\d+)/;

/**
 * One logged-in POP3 session (RFC 1939 TRANSACTION state). Every method
 * rejects with a PopliftError (side 'POP3'); after a connection-level
 * failure every pending and later call rejects at once with that error.
 */
export class Pop3Session {
  /** Upper-cased first words of the CAPA reply (after login when the server answers it). */
  get capabilities(): ReadonlySet<string> {
    return this.capabilitySet;
  }
  private capabilitySet: ReadonlySet<string>;
  /** What CAPA said before login (after TLS); undefined when the server refused CAPA. */
  capabilitiesBeforeLogin: Pop3Capabilities | undefined;
  /** The IMPLEMENTATION the server names in CAPA (after login when it answers CAPA then). */
  implementation: string | undefined;
  /** Text of the +OK greeting (after "+OK "). */
  get greeting(): string | undefined {
    return this.transport.greeting;
  }
  /** LIST and UIDL sent with the CAPA after login (Pop3ConnectOptions.listAtLogin), for the first listing(). */
  private listedAtLogin: Promise<Pop3Listing> | undefined;
  /** "host:port", as used in error messages. */
  readonly server: string;
  /**
   * The server accepted UTF8 (RFC 6856), offered in CAPA: it serves
   * messages with 8-bit headers as stored instead of a generated
   * replacement.
   */
  readonly utf8: boolean;

  private readonly transport: Pop3Transport;
  private readonly maxMessageBytes: number;
  private readonly timeoutMs: number;
  /** The last listing(), against which deleMany proves what it deletes. */
  private lastListing: Pop3Listing | undefined;
  /** LIST sizes by message number from the last list(), to bound the bytes retrMany keeps in flight. */
  private sizes: ListSizes | undefined;

  private constructor(transport: Pop3Transport, capabilities: ReadonlySet<string>, options: Pop3ConnectOptions, utf8: boolean) {
    this.transport = transport;
    this.utf8 = utf8;
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.timeoutMs = options.timeoutMs;
    this.server = transport.server;
    this.capabilitySet = capabilities;
  }

  /**
   * Connects, reads the greeting, asks CAPA (again after STLS), logs in
   * (see Pop3ConnectOptions.auth and accessToken).
   */
  static async connect(options: Pop3ConnectOptions): Promise<Pop3Session> {
    validateOptions(options);
    const credentials: Pop3Credentials = {
      user: options.user,
      password: options.password,
      accessToken: options.accessToken,
      auth: options.auth ?? 'auto',
    };
    const mask = new SecretMask();
    mask.add(...credentialSecrets(credentials));
    const debug = options.debug;
    const implicitTls = options.tls === true || options.tls === 'implicit';
    const transport = new Pop3Transport({
      host: options.host,
      port: options.port,
      tls: implicitTls,
      timeoutMs: options.timeoutMs,
      ...(options.tlsOptions === undefined ? {} : { tlsOptions: options.tlsOptions }),
      // The server may echo what it was sent; the trace shows no secret either way.
      ...(debug === undefined ? {} : { debug: (line: string) => debug(mask.apply(line)) }),
      redactor: mask,
    });
    try {
      await transport.connect();
      let beforeLogin =
        implicitTls && options.capabilitiesBeforeLogin !== undefined ? options.capabilitiesBeforeLogin : await readCapabilities(transport);
      if (!implicitTls) {
        const refusal = options.tls === 'starttls' && beforeLogin?.names.has('STLS') === true ? await transport.startTls() : 'none';
        if (refusal === undefined) {
          // RFC 2595 §4: what the server said before TLS cannot be trusted.
          beforeLogin = await readCapabilities(transport);
        } else if (options.allowPlaintext === false) {
          throw tlsUnavailable(transport.server, refusal === 'none' ? undefined : mask.apply(refusal), secretName(credentials));
        }
      }
      // RFC 6856 §2: UTF8 belongs to the AUTHORIZATION state. Without it a
      // server such as Courier replaces each message with 8-bit headers by
      // a generated notice. A refusal changes nothing we rely on.
      await options.loginAfter;
      const utf8 = beforeLogin?.names.has('UTF8') === true && (await transport.send('UTF8', false)).ok;
      await authenticate(transport, credentials, beforeLogin, mask);
      const session = new Pop3Session(transport, beforeLogin?.names ?? new Set<string>(), options, utf8);
      session.capabilitiesBeforeLogin = beforeLogin;
      // RFC 2449 §5: capabilities may change after login (PIPELINING in
      // particular), so ask again unless the server has shown it lacks CAPA.
      const asking = beforeLogin === undefined ? undefined : readCapabilities(transport);
      if (asking !== undefined && options.listAtLogin === true && beforeLogin?.names.has('PIPELINING') === true) {
        // Offered before login, PIPELINING lets LIST and UIDL follow the CAPA in one write.
        transport.pipelining = true;
        const listing = session.listing();
        listing.catch(() => undefined);
        session.listedAtLogin = listing;
      }
      const afterLogin = await asking;
      const capabilities = afterLogin?.names ?? beforeLogin?.names ?? new Set<string>();
      transport.pipelining = capabilities.has('PIPELINING');
      session.capabilitySet = capabilities;
      session.implementation = afterLogin?.implementation ?? beforeLogin?.implementation;
      return session;
    } catch (err) {
      transport.dropConnection();
      throw err;
    }
  }

  async stat(): Promise<{ count: number; size: number }> {
    const reply = await this.command('STAT', false);
    const match = STAT_TEXT.exec(reply.text);
    if (match === null) throw this.malformed('STAT', `status "${reply.text}"`);
    return { count: Number(match[1]), size: Number(match[2]) };
  }

  /** Message number → size in octets, as the server counts them (with CRLF). */
  async list(): Promise<ListSizes> {
    const reply = await this.command('LIST', true);
    const sizes = this.parse('LIST', () => parseListReply(reply.body ?? Buffer.alloc(0)));
    this.sizes = sizes;
    return sizes;
  }

  /**
   * Message number → unique id exactly as sent (latin1, one character per
   * byte; spaces and 8-bit bytes kept); undefined when the server answers
   * -ERR (no UIDL). listing() says which ids can be trusted.
   */
  async uidl(): Promise<Map<number, string> | undefined> {
    const lines = await this.uidlLines();
    return lines === undefined ? undefined : new Map(lines);
  }

  /**
   * LIST and UIDL together (one round trip with PIPELINING), checked against
   * each other: for each message number its size, its UIDL as sent and
   * whether that UIDL identifies it (unique, RFC 1939 characters, present).
   */
  async listing(): Promise<Pop3Listing> {
    const atLogin = this.listedAtLogin;
    this.listedAtLogin = undefined;
    if (atLogin !== undefined) return atLogin;
    const [sizes, uidl] = await Promise.all([this.list(), this.uidlLines()]);
    this.lastListing = new Pop3Listing(sizes, uidl);
    return this.lastListing;
  }

  private async uidlLines(): Promise<UidlLines | undefined> {
    const reply = await this.transport.send('UIDL', true, { deadlineMs: this.listingDeadlineMs() });
    if (!reply.ok) return undefined;
    if (reply.tooLarge !== undefined) throw this.malformed('UIDL', `reply of ${reply.tooLarge} octets`);
    return this.parse('UIDL', () => parseUidlLines(reply.body ?? Buffer.alloc(0)));
  }

  /** The message exactly as the server stores it, after dot-unstuffing. */
  async retr(n: number): Promise<Buffer> {
    checkMessageNumber(n);
    const line = `RETR ${n}`;
    const early = this.refuseBeforeSending(n, line);
    if (early !== undefined) throw early;
    const reply = await this.transport.send(line, true, this.messageLimits(n));
    return this.messageBody(n, line, reply);
  }

  /**
   * Whether a RETR of n brought a body whose length differs from n's LIST
   * size by more than line ends can explain (see sizeMismatch): such a
   * message may not be what the server stores, e.g. a wrapper generated in
   * its place, and should be kept on the server and reported.
   */
  sizeSuspect(n: number, body: Buffer): boolean {
    const listSize = this.sizes?.get(n);
    return listSize !== undefined && sizeMismatch(listSize, body);
  }

  private retrInfo(n: number, body: Buffer, whole: boolean): RetrInfo {
    const listSize = this.sizes?.get(n);
    return { listSize, sizeSuspect: whole && listSize !== undefined && sizeMismatch(listSize, body) };
  }

  /**
   * LIST and UIDL have no size to scale with: LISTING_DEADLINE_FACTOR idle
   * timeouts (20 minutes by default) read a million-message listing even at
   * MIN_TRANSFER_RATE, and stop a server that trickles one forever.
   */
  private listingDeadlineMs(): number {
    return Math.min(LISTING_DEADLINE_FACTOR * this.timeoutMs, 2 ** 31 - 1);
  }

  /** What a RETR or TOP of n may bring: see Pop3ConnectOptions.maxMessageBytes and timeoutMs. */
  private messageLimits(n: number): SendOptions {
    const listSize = this.sizes?.get(n);
    const limit = this.sizeLimit(listSize);
    const expected = listSize ?? limit;
    return {
      maxBodyBytes: limit,
      preallocateUpTo: listSize === undefined ? 0 : Math.min(listSize, limit),
      deadlineMs: 2 * this.timeoutMs + (expected / MIN_TRANSFER_RATE) * 1000,
    };
  }

  private sizeLimit(listSize: number | undefined): number {
    return listSize === undefined ? this.maxMessageBytes : Math.min(this.maxMessageBytes, listSize + listSlack(listSize));
  }

  /** A message LIST already shows to be too large is refused without transferring it. */
  private refuseBeforeSending(n: number, line: string): PopliftError | undefined {
    const listSize = this.sizes?.get(n);
    if (listSize === undefined || listSize <= this.maxMessageBytes) return undefined;
    return messageTooLarge(this.server, line, listSize, this.maxMessageBytes, undefined, true);
  }

  /** The body of a RETR/TOP reply, or the POP3_ERR / POP3_TOO_BIG error for that one message. */
  private messageBody(n: number, line: string, reply: Pop3Reply): Buffer {
    if (!reply.ok) throw commandRefused(this.server, line, this.transport.redact(reply.text));
    if (reply.tooLarge !== undefined) {
      const listSize = this.sizes?.get(n);
      const limit = this.sizeLimit(listSize);
      throw messageTooLarge(this.server, line, reply.tooLarge, limit, limit < this.maxMessageBytes ? listSize : undefined);
    }
    return reply.body ?? Buffer.alloc(0);
  }

  /**
   * RETRs `nums` and hands each message to onMessage in the order given.
   * With PIPELINING up to `window` RETRs (and about MAX_RETR_BYTES_IN_FLIGHT
   * by LIST size) are in flight; without it, one at a time. While a promise
   * returned by onMessage is pending no RETR is issued and the socket is not
   * read, except to answer other commands (e.g. a DELE awaited inside
   * onMessage). A -ERR for one message goes to onError and the others go on.
   */
  async retrMany(
    nums: readonly number[],
    onMessage: (n: number, body: Buffer, info: RetrInfo) => void | Promise<void>,
    options: RetrManyOptions = {},
  ): Promise<void> {
    const sizes = this.sizes;
    return this.pipelined(
      nums,
      (n) => `RETR ${n}`,
      (n) => sizes?.get(n) ?? 0,
      onMessage,
      options,
    );
  }

  /**
   * TOP (RFC 1939): the header section, the empty line after it and the
   * first `lines` lines of the body of message n, after dot-unstuffing. Only
   * for servers whose CAPA lists TOP. Unlike RETR it does not make a server
   * mark the message read.
   */
  async top(n: number, lines: number): Promise<Buffer> {
    checkMessageNumber(n);
    checkLineCount(lines);
    const line = `TOP ${n} ${lines}`;
    const reply = await this.transport.send(line, true, this.messageLimits(n));
    return this.messageBody(n, line, reply);
  }

  /**
   * `TOP n lines` for each of `nums`, pipelined and delivered exactly as
   * retrMany does (same window, onError and stopWhen). A reply is counted at
   * most TOP_BYTES_ESTIMATE (or its LIST size, when smaller) against
   * MAX_RETR_BYTES_IN_FLIGHT, since it is usually a header section.
   */
  async topMany(
    nums: readonly number[],
    lines: number,
    onMessage: (n: number, body: Buffer) => void | Promise<void>,
    options: RetrManyOptions = {},
  ): Promise<void> {
    checkLineCount(lines);
    const sizes = this.sizes;
    return this.pipelined(
      nums,
      (n) => `TOP ${n} ${lines}`,
      (n) => Math.min(sizes?.get(n) ?? 0, TOP_BYTES_ESTIMATE),
      onMessage,
      options,
    );
  }

  /**
   * RSET: unmarks what this session marked deleted and, on servers such as
   * Dovecot, forgets that RETR marked messages read, so a later QUIT changes
   * nothing.
   */
  async rset(): Promise<void> {
    this.listedAtLogin = undefined;
    await this.command('RSET', false);
  }

  /** One multi-line command per message, pipelined when the server allows it (see retrMany). */
  private async pipelined(
    nums: readonly number[],
    commandFor: (n: number) => string,
    bytesOf: (n: number) => number,
    onMessage: (n: number, body: Buffer, info: RetrInfo) => void | Promise<void>,
    options: RetrManyOptions,
  ): Promise<void> {
    for (const n of nums) checkMessageNumber(n);
    const window = this.capabilities.has('PIPELINING') ? Math.max(1, Math.floor(options.window ?? DEFAULT_RETR_WINDOW)) : 1;
    const stopped = options.stopWhen ?? ((): boolean => false);
    const inFlight: { n: number; line: string; size: number; reply: Promise<Pop3Reply> | PopliftError }[] = [];
    let next = 0;
    let bytesInFlight = 0;

    const fill = (): void => {
      while (next < nums.length && inFlight.length < window && !stopped()) {
        const n = nums[next]!;
        const size = bytesOf(n);
        if (inFlight.length > 0 && bytesInFlight + size > MAX_RETR_BYTES_IN_FLIGHT) return;
        next++;
        const line = commandFor(n);
        const refused = this.refuseBeforeSending(n, line);
        if (refused !== undefined) {
          inFlight.push({ n, line, size: 0, reply: refused });
          continue;
        }
        const reply = this.transport.send(line, true, { background: true, ...this.messageLimits(n) });
        // Awaited below in order; if we stop early, the replies still in flight
        // are consumed by the transport and their rejections must not surface
        // as unhandled.
        reply.catch(() => undefined);
        inFlight.push({ n, line, size, reply });
        bytesInFlight += size;
      }
    };

    fill();
    while (inFlight.length > 0) {
      const item = inFlight.shift()!;
      const reply = item.reply instanceof PopliftError ? item.reply : await item.reply;
      bytesInFlight -= item.size;
      if (stopped()) return;
      let body: Buffer | undefined;
      try {
        if (reply instanceof PopliftError) throw reply;
        body = this.messageBody(item.n, item.line, reply);
      } catch (err) {
        if (!(err instanceof PopliftError) || options.onError === undefined) throw err;
        options.onError(item.n, err);
      }
      if (body !== undefined) {
        const result = onMessage(item.n, body, this.retrInfo(item.n, body, item.line.startsWith('RETR')));
        if (isPromiseLike(result)) {
          this.transport.pauseReading();
          try {
            await result;
          } finally {
            this.transport.resumeReading();
          }
        }
      }
      fill();
    }
  }

  /**
   * DELE for each of `numbers`, in order (see DeleManyOptions.expected for
   * the proof of identity it can demand): up to `window` in flight with
   * PIPELINING, one at a time without. Resolves with what the server
   * answered. Stopping (stopWhen true, polled before each DELE and every
   * STOP_POLL_MS, or `signal` aborted) sends no further DELE and resolves
   * once those already sent are answered, or after STOP_GRACE_MS with them
   * listed as unanswered, so a stop takes well under a second. Nothing is
   * committed until quit(); close() instead undoes every DELE of the session.
   * Rejects only on a connection-level failure.
   */
  async deleMany(numbers: readonly number[], options: DeleManyOptions = {}): Promise<DeleManyResult> {
    // A listing made before a DELE would still show the message.
    this.listedAtLogin = undefined;
    let nums = numbers;
    for (const n of nums) checkMessageNumber(n);
    const window = this.capabilities.has('PIPELINING') ? Math.max(1, Math.floor(options.window ?? DEFAULT_DELE_WINDOW)) : 1;
    const result: DeleManyResult = { deleted: [], refused: [], notSent: [], unanswered: [], stopped: false, unverified: [] };
    if (options.expected !== undefined) {
      const expected = options.expected;
      const proven: number[] = [];
      for (const n of nums) {
        const reason = this.unproven(n, expected.get(n));
        if (reason === undefined) proven.push(n);
        else result.unverified.push({ n, reason });
      }
      nums = proven;
    }
    const pending = new Set<number>();
    let next = 0;
    let failure: unknown;
    let wake: (() => void) | undefined;
    const stopRequested = (): boolean => options.signal?.aborted === true || options.stopWhen?.() === true;
    const onAbort = (): void => wake?.();
    options.signal?.addEventListener('abort', onAbort);
    const poll = options.stopWhen === undefined ? undefined : setInterval(() => wake?.(), STOP_POLL_MS);
    let stoppedAt = 0;
    try {
      for (;;) {
        if (!result.stopped && stopRequested()) {
          result.stopped = true;
          stoppedAt = performance.now();
        }
        while (!result.stopped && failure === undefined && next < nums.length && pending.size < window) {
          const n = nums[next++]!;
          pending.add(n);
          this.transport.send(`DELE ${n}`, false).then(
            (reply) => {
              pending.delete(n);
              if (reply.ok) result.deleted.push(n);
              else result.refused.push({ n, error: commandRefused(this.server, `DELE ${n}`, this.transport.redact(reply.text)) });
              wake?.();
            },
            (err: unknown) => {
              pending.delete(n);
              failure ??= err;
              wake?.();
            },
          );
        }
        // The rejection of a pipelined DELE, rethrown as it came.
        // eslint-disable-next-line @typescript-eslint/only-throw-error
        if (failure !== undefined) throw failure;
        if (pending.size === 0 && (result.stopped || next >= nums.length)) break;
        const graceLeft = result.stopped ? stoppedAt + STOP_GRACE_MS - performance.now() : Infinity;
        if (graceLeft <= 0) break;
        let timer: NodeJS.Timeout | undefined;
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (graceLeft !== Infinity) timer = setTimeout(resolve, graceLeft);
        });
        clearTimeout(timer);
        wake = undefined;
      }
    } finally {
      if (poll !== undefined) clearInterval(poll);
      options.signal?.removeEventListener('abort', onAbort);
    }
    result.unanswered.push(...nums.slice(0, next).filter((n) => pending.has(n)));
    result.notSent.push(...nums.slice(next));
    return result;
  }

  /** Why message n cannot be proven to be `expected` in this session, or undefined when it can. */
  private unproven(n: number, expected: { uidl: string; size: number } | undefined): string | undefined {
    const listing = this.lastListing;
    if (expected === undefined) return 'nothing was expected at this number';
    if (listing === undefined) return 'this session has not listed the mailbox';
    const size = listing.size(n);
    if (size === undefined) return 'the server no longer lists this number';
    const problem = listing.problem(n);
    if (problem !== undefined) {
      return problem === 'no-uidl'
        ? 'the server has no UIDL, so nothing proves which message this number holds now'
        : `its UIDL is ${problem}, so it cannot be told from other messages`;
    }
    if (listing.uidl(n) !== expected.uidl) return 'another message holds this number now (its UIDL differs)';
    if (size !== expected.size) return `its size changed (LIST says ${size} octets, ${expected.size} were expected)`;
    return undefined;
  }

  /** Marks message n deleted; the server removes it only when quit() succeeds. */
  async dele(n: number): Promise<void> {
    this.listedAtLogin = undefined;
    checkMessageNumber(n);
    await this.command(`DELE ${n}`, false);
  }

  /** QUIT: commits the DELEs of this session, then closes the connection. */
  async quit(): Promise<void> {
    const reply = await this.transport.quit();
    if (!reply.ok) throw commandRefused(this.server, 'QUIT', this.transport.redact(reply.text));
  }

  /** Drops the connection without QUIT, so no DELE of this session takes effect. */
  close(): void {
    this.transport.dropConnection();
  }

  private async command(line: string, multiLine: boolean): Promise<Pop3Reply> {
    const reply = await this.transport.send(line, multiLine, multiLine ? { deadlineMs: this.listingDeadlineMs() } : {});
    if (!reply.ok) throw commandRefused(this.server, line, this.transport.redact(reply.text));
    if (reply.tooLarge !== undefined) throw this.malformed(line, `reply of ${reply.tooLarge} octets`);
    return reply;
  }

  /** A reply we cannot interpret leaves the session state unknown: drop it. */
  private parse<T>(command: string, read: () => T): T {
    try {
      return read();
    } catch (err) {
      if (err instanceof MalformedLine) throw this.malformed(command, `line "${err.line.slice(0, 80)}"`);
      throw err;
    }
  }

  private malformed(command: string, detail: string): PopliftError {
    const err = protocolFailure(this.server, command, `unreadable ${detail}`);
    this.transport.dropConnection();
    return err;
  }
}

async function readCapabilities(transport: Pop3Transport): Promise<Pop3Capabilities | undefined> {
  const reply = await transport.send('CAPA', true);
  if (!reply.ok) return undefined;
  const names = new Set<string>();
  const sasl = new Set<string>();
  let implementation: string | undefined;
  for (const line of bodyLines(reply)) {
    const [word, ...args] = line.trim().split(/[ \t]+/);
    if (word === undefined || word === '') continue;
    const name = word.toUpperCase();
    names.add(name);
    if (name === 'SASL') for (const mechanism of args) sasl.add(mechanism.toUpperCase());
    if (name === 'IMPLEMENTATION') implementation = args.join(' ');
  }
  return implementation === undefined ? { names, sasl } : { names, sasl, implementation };
}

/**
 * Lines of a CAPA body (LIST and UIDL are read by pop3-listing.ts); ASCII by
 * RFC, latin1 keeps any stray byte visible. A bare LF ends a line too, as
 * some servers end their lines so, and a CAPA line cannot contain one.
 */
function bodyLines(reply: Pop3Reply): string[] {
  if (reply.body === undefined) return [];
  return reply.body
    .toString('latin1')
    .split(/\r?\n/)
    .filter((line) => line.trim() !== '');
}

function checkMessageNumber(n: number): void {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`POP3 message number must be a positive integer, got ${n}`);
}

function checkLineCount(lines: number): void {
  if (!Number.isSafeInteger(lines) || lines < 0) throw new RangeError(`POP3 TOP line count must be a non-negative integer, got ${lines}`);
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return (
    value !== null && (typeof value === 'object' || typeof value === 'function') && typeof (value as { then?: unknown }).then === 'function'
  );
}

function validateOptions(o: Pop3ConnectOptions): void {
  const server = describeServer(o);
  const usage = (message: string): PopliftError =>
    new PopliftError(message, { exitCode: ExitCode.USAGE, side: 'POP3', server, code: 'USAGE' });
  if (o.host.trim() === '') throw usage('The POP3 host is empty: give the POP3 server name.');
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
    throw usage(`The POP3 port ${o.port} is not a TCP port number (1-65535).`);
  }
  // Node's timers turn anything above 2^31-1 ms into 1 ms.
  if (!(o.timeoutMs > 0) || !Number.isFinite(o.timeoutMs) || o.timeoutMs > 2 ** 31 - 1) {
    throw usage(`The POP3 timeout must be a positive number of milliseconds up to ${2 ** 31 - 1}, got ${o.timeoutMs}.`);
  }
  if (o.maxMessageBytes !== undefined && !(Number.isSafeInteger(o.maxMessageBytes) && o.maxMessageBytes > 0)) {
    throw usage(`The POP3 message size limit must be a positive whole number of octets, got ${o.maxMessageBytes}.`);
  }
  if (o.user === '') throw usage('The POP3 user name is empty.');
  // A CR or LF would end the command early and inject another one; a NUL
  // (AUTH PLAIN) or ^A (XOAUTH2, OAUTHBEARER) would split the SASL message.
  if (/[\r\n\0]/.test(o.user)) throw usage('The POP3 user name contains a line break or NUL character.');
  const auth: unknown = o.auth ?? 'auto';
  if (!(POP3_AUTH_METHODS as readonly unknown[]).includes(auth)) {
    throw usage(`The POP3 login method "${String(auth)}" is not one of ${POP3_AUTH_METHODS.join(', ')}.`);
  }
  if (o.accessToken !== undefined) {
    if (auth !== 'auto') {
      throw usage(
        `An OAuth2 access token logs in with SASL OAUTHBEARER or XOAUTH2; it cannot be combined with the POP3 login method "${String(auth)}".`,
      );
    }
    if (o.accessToken === '') throw usage('The POP3 OAuth2 access token is empty.');
    // RFC 6750 b64token characters are printable ASCII; never echo the token itself.
    if (!/^[\x21-\x7e]+$/.test(o.accessToken)) {
      throw usage('The POP3 OAuth2 access token contains spaces or characters an access token cannot contain.');
    }
    if (o.user.includes('\x01')) throw usage('The POP3 user name contains a ^A (0x01) character.');
  } else if (o.password === undefined) {
    throw usage('No POP3 password (or OAuth2 access token) was given.');
  }
  if (o.password !== undefined && /[\r\n\0]/.test(o.password)) {
    throw usage('The POP3 password contains a line break or NUL character.');
  }
}
