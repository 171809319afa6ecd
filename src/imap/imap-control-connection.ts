/**
 * Opens the control connection (imapflow) of a destination: the options
 * poplift gives imapflow and why, the login under a deadline, a wrong port
 * told apart from a slow server, and imapflow's errors put into poplift's
 * words. Everything after the login is imap-target.ts.
 */
import { isIP } from 'node:net';
import { ImapFlow, type ImapFlowOptions } from 'imapflow';
import { ExitCode, PopliftError, describeServer } from '../errors.js';
import { SecretRedactor } from '../secrets-redaction.js';
import { seconds, type ImapLogin } from './imap-connection.js';
import { loginError } from './imap-control-errors.js';
import { overCap } from './imap-errors.js';
import { noStartTls } from './imap-login.js';
import { adaptImapFlow, withinDeadline } from './imapflow-adapter.js';
import { probePort } from './port-probe.js';
import { resolveProfile, type DetectedProfile, type ProfileChoice } from './provider-profile.js';

export interface ImapConnectOptions extends ImapLogin {
  /**
   * Fetches a fresh OAuth2 token; the upload connection logs in after the
   * control connection, so the token may expire (or be spent) in between.
   */
  refreshToken?: () => Promise<string>;
  /** The provider's rules to follow (--profile); 'auto' or absent: detected from host, greeting and capabilities. */
  profile?: ProfileChoice;
  /** At most this many upload connections (--connections); default: 1 with MULTIAPPEND, else 8. */
  uploadConnections?: number;
  /** false with --no-multiappend: the server's MULTIAPPEND is not used, so several connections are. */
  multiAppend?: boolean;
  /** Open the first upload connection as soon as the control connection is logged in (a run that uploads). */
  openUploads?: boolean;
}

/** The longest line taken from the server on the control connection, and the largest literal (a whole message). */
const MAX_LINE_BYTES = 1024 * 1024;
const MAX_LITERAL_BYTES = 512 * 1024 * 1024;

/** Why imapflow gave up on the connection, when it was a size cap. */
export interface StreamErrors {
  overCap?: Error;
}

/** How long a connection may go without an IMAP greeting before poplift checks what answers on the port. */
const WRONG_PORT_AFTER_MS = 1000;

/** A logged-in control connection. */
export interface ControlConnection {
  client: ImapFlow;
  server: string;
  /** The hosted provider behind the server (or 'generic'), and why. */
  profile: DetectedProfile;
  errors: StreamErrors;
}

export async function openControlConnection(options: ImapConnectOptions): Promise<ControlConnection> {
  const server = describeServer(options);
  const flowOptions: ImapFlowOptions = {
    host: options.host,
    port: options.port,
    secure: options.tls === 'implicit',
    // Without permission to go plaintext, STARTTLS is required before the login is sent.
    doSTARTTLS: options.tls === 'implicit' ? false : options.allowPlaintext ? undefined : true,
    ...(isIP(options.host) ? {} : { servername: options.host }),
    auth:
      options.accessToken !== undefined
        ? { user: options.user, accessToken: options.accessToken }
        : // LOGIN takes one round trip; imapflow's AUTHENTICATE PLAIN waits for a continuation first.
          { user: options.user, pass: options.password ?? '', loginMethod: 'LOGIN' },
    // imapflow hands these to net.connect/tls.connect (and to the STARTTLS upgrade): without
    // TCP_NODELAY each of its small commands may wait on a delayed ACK.
    tls: { ...options.tlsOptions, noDelay: true } as ImapFlowOptions['tls'],
    // imapflow logs pino JSON to stdout by default; poplift's stdout is for results only.
    logger: options.debug ? debugLogger(SecretRedactor.forCredentials(options).wrap(options.debug)!) : false,
    disableAutoIdle: true,
    // No ENABLE round trip: poplift needs neither CONDSTORE nor UTF8=ACCEPT (names go out in modified UTF-7).
    disableAutoEnable: true,
    connectionTimeout: options.timeoutMs,
    greetingTimeout: options.timeoutMs,
    socketTimeout: Math.max(options.timeoutMs, 30_000),
    clientInfo: { name: 'poplift' },
    // imapflow's defaults (1 GiB lines) let a broken server fill memory with one line
    // (979 MB for a 300 MB line). Lines poplift needs are short; literals carry whole messages.
    maxLineLength: MAX_LINE_BYTES,
    maxLiteralSize: MAX_LITERAL_BYTES,
    maxResponseSize: MAX_LITERAL_BYTES + MAX_LINE_BYTES,
  };
  const client = new ImapFlow(flowOptions);
  // Checks imapflow's insides and makes it send no ID (see imapflow-adapter.ts).
  adaptImapFlow(client);
  const errors: StreamErrors = {};
  let lastError: unknown;
  client.on('error', (err: unknown) => {
    lastError = err;
    const code = (err as { code?: unknown } | null | undefined)?.code;
    if (code === 'LineTooLarge' || code === 'LiteralTooLarge' || code === 'ResponseTooLarge') errors.overCap ??= err as Error;
  });
  // A port that answers in another protocol (or waits for TLS) gets no IMAP greeting: after a
  // second without one, a short second connection tells what it is, instead of the whole timeout.
  let wrongPort: PopliftError | undefined;
  const watch = setTimeout(() => {
    void probePort(options.host, options.port, options.tls === 'implicit').then((said) => {
      if (said === undefined || client.usable) return;
      wrongPort = new PopliftError(`IMAP server ${server} sent no IMAP greeting: ${said}.`, {
        exitCode: ExitCode.CONNECT,
        side: 'IMAP',
        server,
        code: 'IMAP_CONNECT',
      });
      client.close();
    });
  }, WRONG_PORT_AFTER_MS);
  watch.unref();
  try {
    await withinDeadline(
      client,
      options.timeoutMs,
      client.connect(),
      (ms) =>
        new PopliftError(
          `IMAP server ${server} did not finish its greeting and login within ${seconds(ms)}; giving up on this connection.`,
          {
            exitCode: ExitCode.CONNECT,
            side: 'IMAP',
            server,
            code: 'IMAP_CONNECT',
          },
        ),
    );
  } catch (err) {
    if (wrongPort) throw wrongPort;
    if ((err as { code?: unknown } | null | undefined)?.code === 'GREETING_TIMEOUT') {
      // imapflow's own words suggest TLS even to a server that sent bytes, only too slowly.
      throw new PopliftError(
        `IMAP server ${server} did not finish its greeting within ${seconds(options.timeoutMs)}: check that this is an IMAP port (imaps:// for TLS), or raise --timeout for a very slow server.`,
        { exitCode: ExitCode.CONNECT, side: 'IMAP', server, code: 'IMAP_CONNECT', cause: err },
      );
    }
    const e = (err ?? lastError) as { message?: string } | null | undefined;
    if (options.tls === 'starttls' && !options.allowPlaintext && /STARTTLS/i.test(e?.message ?? '')) {
      throw noStartTls(server, err);
    }
    if (errors.overCap) throw overCap(server, errors.overCap);
    // A server may echo the credentials in its refusal.
    throw SecretRedactor.forCredentials(options).redactError(loginError(options, err ?? lastError));
  } finally {
    clearTimeout(watch);
  }
  const profile = resolveProfile(options.profile, {
    host: options.host,
    greeting: client.greeting,
    capabilities: client.capabilities.keys(),
  });
  return { client, server, profile, errors };
}

function debugLogger(debug: (line: string) => void) {
  const emit = (o: unknown) => {
    const entry = o as { msg?: string; src?: string } | null | undefined;
    if (entry?.msg) debug(`IMAP ${entry.src === 'c' ? 'C' : entry.src === 's' ? 'S' : '-'}: ${entry.msg}`);
  };
  return { debug: emit, info: emit, warn: emit, error: emit };
}
