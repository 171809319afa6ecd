/**
 * A tiny POP3 server for unit tests: a real TCP socket on 127.0.0.1 whose
 * replies can be cut into chosen pieces, delayed, or replaced by a close, a
 * reset or silence. Commands are read as they arrive (so pipelined commands
 * pile up in `commands`) and answered one after another.
 */
import { prng as mulberry32 } from './corpus.js';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContextOptions } from 'node:tls';

const CRLF = '\r\n';

/**
 * Every trap of RFC 1939 framing in one message: NUL as the very first byte
 * (node-pop3 drops it), 8-bit bytes, lines that start with '.', a line that is
 * a lone '.' and one that is '..', bare LF and bare CR (content, not line
 * ends), ".CR" not followed by LF, and LF.LF which is no terminator.
 */
export const HOSTILE = Buffer.concat([
  Buffer.from([0x00]),
  Buffer.from('Subject: caf', 'latin1'),
  Buffer.from([0xe9]),
  Buffer.from('\r\n\r\n'),
  Buffer.from('.leading dot\r\n'),
  Buffer.from('..two leading dots\r\n'),
  Buffer.from('.\r\n'),
  Buffer.from('..\r\n'),
  Buffer.from('bare LF\nsame line\r\n'),
  Buffer.from('bare CR\rsame line\r\n'),
  Buffer.from('.\rdot then bare CR\r\n'),
  Buffer.from([0xff, 0xfe, 0x80, 0x0d, 0x0d, 0x0a]),
  Buffer.from('\n.\nnot a terminator\r\n'),
  Buffer.from([0x00, 0x0d, 0x0a]),
  Buffer.from('last line\r\n'),
]);

/** RFC 1939 byte-stuffing: a line that starts with '.' gets one more. */
export function dotStuff(raw: Buffer): Buffer {
  const parts: Buffer[] = [];
  let lineStart = 0;
  for (;;) {
    if (raw[lineStart] === 0x2e) parts.push(Buffer.from('.'));
    let eol = -1;
    for (let i = raw.indexOf(0x0a, lineStart); i !== -1; i = raw.indexOf(0x0a, i + 1)) {
      if (i > 0 && raw[i - 1] === 0x0d) {
        eol = i;
        break;
      }
    }
    if (eol === -1) {
      parts.push(raw.subarray(lineStart));
      break;
    }
    parts.push(raw.subarray(lineStart, eol + 1));
    lineStart = eol + 1;
    if (lineStart >= raw.length) break;
  }
  return Buffer.concat(parts);
}

/** The full wire form of a +OK multi-line reply carrying `raw`. */
export function multiLineReply(status: string, raw: Buffer): Buffer {
  const needsCrlf = raw.length > 0 && !raw.subarray(-2).equals(Buffer.from(CRLF));
  return Buffer.concat([Buffer.from(`${status}${CRLF}`), dotStuff(raw), Buffer.from(needsCrlf ? '\r\n.\r\n' : '.\r\n')]);
}

export interface ScriptContext {
  readonly socket: Socket;
  /** Every command line received on this connection so far, pipelined ones included. */
  readonly commands: string[];
  /** Writes data, cut into the given pieces, each in its own write and tick. */
  send(data: Buffer | string, pieces?: (data: Buffer) => Buffer[]): Promise<void>;
  /** The reply the default script would give to `line`, not sent. */
  defaultReply(line: string): Buffer;
  /** Resolves once `count` commands have been received on this connection. */
  waitForCommands(count: number): Promise<void>;
}

/** Returns true when it answered (or deliberately did not answer) the command. */
export type CommandHook = (line: string, ctx: ScriptContext) => boolean | Promise<boolean>;

export interface ScriptedPop3Options {
  greeting?: string;
  /** Sends the greeting instead of the default (e.g. one byte at a time). */
  sendGreeting?: (ctx: ScriptContext) => Promise<void>;
  /** CAPA lines; null makes CAPA answer -ERR. */
  capa?: string[] | null;
  /** CAPA lines after login, when they differ. */
  capaAfterLogin?: string[];
  user?: string;
  password?: string;
  /**
   * The OAuth2 access token AUTH XOAUTH2 / OAUTHBEARER accept (default
   * 'ya29.valid-token'). Any other token gets the JSON error challenge
   * `oauthError`, then -ERR once the client has answered it.
   */
  accessToken?: string;
  /** The JSON error challenge for a refused token (default: Gmail's 401). */
  oauthError?: object;
  messages?: Buffer[];
  /** false makes UIDL answer -ERR. */
  uidl?: boolean;
  /**
   * The UIDL the server gives message number n of a session (default
   * `uid-n`); undefined leaves its line out, as broken servers do.
   */
  uidlOf?: (n: number, message: Buffer) => string | undefined;
  /**
   * Messages whose DELE a QUIT committed are removed from `messages`, so
   * later sessions number the rest anew, as a real maildrop does.
   */
  removeOnQuit?: boolean;
  /** Implicit TLS with this key and certificate. */
  tls?: SecureContextOptions;
  /** Offer STLS (add 'STLS' to capa yourself) with this key and certificate. */
  stls?: SecureContextOptions;
  /**
   * Sent in the same write right after "+OK Begin TLS", before the handshake:
   * what an attacker on the path injects into the plain-text stream.
   */
  afterStls?: string;
  /** How every default reply is cut into pieces. */
  pieces?: (data: Buffer) => Buffer[];
  hook?: CommandHook;
}

/** The base64 payloads the scripted server understands, for tests to compare against. */
export const sasl = {
  plain: (user: string, password: string): string => Buffer.from(`\0${user}\0${password}`, 'utf8').toString('base64'),
  xoauth2: (user: string, token: string): string => Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`, 'utf8').toString('base64'),
  oauthBearer: (user: string, token: string): string =>
    Buffer.from(`n,a=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},\x01auth=Bearer ${token}\x01\x01`, 'utf8').toString('base64'),
  apop: (timestamp: string, password: string): string =>
    createHash('md5')
      .update(timestamp + password, 'utf8')
      .digest('hex'),
};

const GMAIL_OAUTH_ERROR = { status: '401', schemes: 'Bearer', scope: 'https://mail.google.com/' };

export interface ScriptedPop3 {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** Command lines from every connection, in arrival order. */
  readonly log: string[];
  /** Message numbers whose DELE was committed by QUIT. */
  readonly committedDeletes: number[];
  close(): Promise<void>;
}

export async function startScriptedPop3(options: ScriptedPop3Options = {}): Promise<ScriptedPop3> {
  const log: string[] = [];
  const committedDeletes: number[] = [];
  const messages = options.messages ?? [];
  const sockets = new Set<Socket>();

  const server: Server = createServer((raw) => {
    sockets.add(raw);
    raw.on('close', () => sockets.delete(raw));
    // Aborted sockets are what several tests are about; their errors are expected.
    raw.on('error', () => undefined);
    raw.setNoDelay(true);
    let socket: Socket = raw;
    if (options.tls !== undefined) {
      socket = new TLSSocket(raw, { isServer: true, secureContext: createSecureContext(options.tls) });
      socket.on('error', () => undefined);
      sockets.add(socket);
    }
    serve(socket);
  });

  function serve(initial: Socket): void {
    let socket = initial;
    const commands: string[] = [];
    const waiters: { count: number; resolve: () => void }[] = [];
    let authenticated = false;
    let pendingUser: string | undefined;
    /** An AUTH exchange waiting for the client's next line. */
    let saslState: { mechanism: string; awaiting: 'initial' | 'error-ack' } | undefined;
    const deleted = new Set<number>();
    let pending = Buffer.alloc(0);
    let processing = Promise.resolve();

    const ctx: ScriptContext = {
      get socket() {
        return socket;
      },
      commands,
      async send(data, pieces) {
        const bytes = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
        const parts = pieces === undefined ? [bytes] : pieces(bytes);
        for (const part of parts) {
          if (socket.destroyed) return;
          await new Promise<void>((resolve) => socket.write(part, () => resolve()));
          if (parts.length > 1) await new Promise((resolve) => setImmediate(resolve));
        }
      },
      defaultReply,
      waitForCommands(count) {
        if (commands.length >= count) return Promise.resolve();
        return new Promise((resolve) => waiters.push({ count, resolve }));
      },
    };

    function live(): number[] {
      return messages.map((_, i) => i + 1).filter((n) => !deleted.has(n));
    }

    const userName = options.user ?? 'alice';
    const password = options.password ?? 'secret';
    const accessToken = options.accessToken ?? 'ya29.valid-token';

    function loggedIn(): Buffer {
      authenticated = true;
      return Buffer.from(`+OK Logged in.${CRLF}`);
    }

    /** Checks one client-first SASL message (base64, "" for an empty one). */
    function saslCheck(mechanism: string, response: string): Buffer {
      const decoded = Buffer.from(response, 'base64').toString('utf8');
      if (mechanism === 'PLAIN') {
        const [, authcid, passwd] = decoded.split('\0');
        if (authcid === userName && passwd === password) return loggedIn();
        return Buffer.from(`-ERR [AUTH] Authentication failed.${CRLF}`);
      }
      const match =
        mechanism === 'XOAUTH2'
          ? /^user=([^\x01]*)\x01auth=Bearer ([^\x01]*)\x01\x01$/.exec(decoded)
          : /^n,a=([^,]*),\x01auth=Bearer ([^\x01]*)\x01\x01$/.exec(decoded);
      const user = mechanism === 'XOAUTH2' ? match?.[1] : match?.[1]?.replace(/=2C/g, ',').replace(/=3D/g, '=');
      if (match !== null && user === userName && match[2] === accessToken) return loggedIn();
      saslState = { mechanism, awaiting: 'error-ack' };
      const error = Buffer.from(JSON.stringify(options.oauthError ?? GMAIL_OAUTH_ERROR)).toString('base64');
      return Buffer.from(`+ ${error}${CRLF}`);
    }

    function defaultReply(line: string): Buffer {
      if (saslState !== undefined) {
        const state = saslState;
        saslState = undefined;
        if (line === '*') return Buffer.from(`-ERR [AUTH] Authentication cancelled.${CRLF}`);
        if (state.awaiting === 'error-ack') return Buffer.from(`-ERR [AUTH] Invalid credentials.${CRLF}`);
        return saslCheck(state.mechanism, line);
      }
      const [verb = '', ...args] = line.split(' ');
      const n = Number(args[0]);
      const message = Number.isInteger(n) && n >= 1 && !deleted.has(n) ? messages[n - 1] : undefined;
      switch (verb.toUpperCase()) {
        case 'CAPA': {
          const lines = authenticated && options.capaAfterLogin !== undefined ? options.capaAfterLogin : options.capa;
          if (lines === null) return Buffer.from(`-ERR unknown command${CRLF}`);
          return Buffer.from(`+OK Capability list follows${CRLF}${(lines ?? []).map((l) => l + CRLF).join('')}.${CRLF}`);
        }
        case 'USER':
          pendingUser = args.join(' ');
          return Buffer.from(`+OK${CRLF}`);
        case 'PASS': {
          const ok = pendingUser === userName && args.join(' ') === password;
          if (!ok) return Buffer.from(`-ERR [AUTH] Authentication failed.${CRLF}`);
          return loggedIn();
        }
        case 'APOP': {
          const timestamp = /<[^<>]*>/.exec(options.greeting ?? '')?.[0];
          if (timestamp === undefined) return Buffer.from(`-ERR APOP not available.${CRLF}`);
          if (args[0] !== userName || args[1] !== sasl.apop(timestamp, password)) {
            return Buffer.from(`-ERR [AUTH] Authentication failed.${CRLF}`);
          }
          return loggedIn();
        }
        case 'AUTH': {
          const mechanism = (args[0] ?? '').toUpperCase();
          if (!['PLAIN', 'XOAUTH2', 'OAUTHBEARER'].includes(mechanism)) {
            return Buffer.from(`-ERR Unsupported authentication mechanism.${CRLF}`);
          }
          const initial = args[1];
          if (initial === undefined) {
            saslState = { mechanism, awaiting: 'initial' };
            return Buffer.from(`+ ${CRLF}`);
          }
          // RFC 5034: "=" is a zero-length initial response.
          return saslCheck(mechanism, initial === '=' ? '' : initial);
        }
        case 'STAT': {
          const nums = live();
          const size = nums.reduce((sum, k) => sum + messages[k - 1]!.length, 0);
          return Buffer.from(`+OK ${nums.length} ${size}${CRLF}`);
        }
        case 'LIST':
          return Buffer.from(
            `+OK${CRLF}${live()
              .map((k) => `${k} ${messages[k - 1]!.length}${CRLF}`)
              .join('')}.${CRLF}`,
          );
        case 'UIDL':
          if (options.uidl === false) return Buffer.from(`-ERR UIDL not supported${CRLF}`);
          return Buffer.from(
            `+OK${CRLF}${live()
              .map((k) => [k, options.uidlOf ? options.uidlOf(k, messages[k - 1]!) : `uid-${k}`] as const)
              .filter(([, uidl]) => uidl !== undefined)
              .map(([k, uidl]) => `${k} ${uidl}${CRLF}`)
              .join('')}.${CRLF}`,
          );
        case 'RETR':
          if (message === undefined) return Buffer.from(`-ERR There's no message ${args[0]}.${CRLF}`);
          return multiLineReply(`+OK ${message.length} octets`, message);
        case 'TOP': {
          if (message === undefined) return Buffer.from(`-ERR There's no message ${args[0]}.${CRLF}`);
          // The header section, its empty line and the first args[1] body lines.
          const lines = Number(args[1]);
          let end = message.indexOf('\r\n\r\n');
          end = end === -1 ? message.length : end + 4;
          for (let k = 0; k < lines && end < message.length; k++) {
            const lf = message.indexOf('\n', end);
            end = lf === -1 ? message.length : lf + 1;
          }
          return multiLineReply('+OK', message.subarray(0, end));
        }
        case 'RSET':
          deleted.clear();
          return Buffer.from(`+OK${CRLF}`);
        case 'DELE':
          if (message === undefined) return Buffer.from(`-ERR There's no message ${args[0]}.${CRLF}`);
          deleted.add(n);
          return Buffer.from(`+OK Marked to be deleted.${CRLF}`);
        case 'NOOP':
          return Buffer.from(`+OK${CRLF}`);
        case 'QUIT':
          if (authenticated) {
            const committed = [...deleted].sort((a, b) => a - b);
            committedDeletes.push(...committed);
            if (options.removeOnQuit) for (const k of committed.reverse()) messages.splice(k - 1, 1);
            deleted.clear();
          }
          return Buffer.from(`+OK Logging out.${CRLF}`);
        default:
          return Buffer.from(`-ERR Unknown command: ${verb}${CRLF}`);
      }
    }

    async function handle(line: string): Promise<void> {
      if (options.hook !== undefined && (await options.hook(line, ctx))) return;
      const verb = line.split(' ', 1)[0]!.toUpperCase();
      if (verb === 'STLS' && options.stls !== undefined) {
        await ctx.send(`+OK Begin TLS negotiation now.${CRLF}${options.afterStls ?? ''}`);
        socket.removeListener('data', onData);
        const secure = new TLSSocket(socket, { isServer: true, secureContext: createSecureContext(options.stls) });
        secure.on('error', () => undefined);
        sockets.add(secure);
        socket = secure;
        socket.on('data', onData);
        return;
      }
      await ctx.send(defaultReply(line), options.pieces);
      if (verb === 'QUIT') socket.end();
    }

    function onData(chunk: Buffer): void {
      pending = Buffer.concat([pending, chunk]);
      for (let eol = pending.indexOf(CRLF); eol !== -1; eol = pending.indexOf(CRLF)) {
        const line = pending.subarray(0, eol).toString('utf8');
        pending = pending.subarray(eol + 2);
        commands.push(line);
        log.push(line);
        for (const waiter of waiters.filter((w) => commands.length >= w.count)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve();
        }
        processing = processing.then(() => handle(line)).catch(() => undefined);
      }
    }

    socket.on('data', onData);
    const greet = options.sendGreeting;
    processing = processing.then(() =>
      greet !== undefined ? greet(ctx) : ctx.send(`${options.greeting ?? '+OK scripted POP3 ready.'}${CRLF}`),
    );
  }

  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('scripted POP3 server has no TCP address');

  return {
    host: '127.0.0.1',
    port: address.port,
    log,
    committedDeletes,
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A TCP port on 127.0.0.1 where nothing listens (bound, then released). */
export async function closedPort(): Promise<number> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no TCP address');
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return address.port;
}

/** Cuts data into pieces of 1 to `max` bytes, from a seeded generator. */
export function randomPieces(seed: number, max: number): (data: Buffer) => Buffer[] {
  return (data) => {
    const random = mulberry32(seed);
    const out: Buffer[] = [];
    for (let i = 0; i < data.length;) {
      const size = 1 + Math.floor(random() * max);
      out.push(data.subarray(i, i + size));
      i += size;
    }
    return out;
  };
}

/** A small, seeded PRNG so that a failing chunking can be replayed. */
export { mulberry32 };
