/**
 * From command-line options to connections: TLS settings per side, the
 * plaintext policy, credentials (with one token refresh) and the endpoints
 * the engine connects through.
 */
import * as tls from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import { ExitCode, PopliftError, describeServer, usageError, type Side } from '../errors.js';
import { wholeNumber } from './options.js';
import type { Endpoints } from '../engine/migrate.js';
import { Pop3Session } from '../pop3/pop3-session.js';
import { ImapTarget } from '../imap/imap-target.js';
import { readFileSync } from 'node:fs';
import type { CliIo } from './main.js';
import type { MigrateCliOptions } from './migrate-command.js';
import { resolveCredentials, terminalPrompt, type Credentials } from './secrets.js';
import { isLoopback, type ServerUrl } from './server-url.js';

/** What migrate and verify share: how to log in and reach both servers. */
export type ConnectionCliOptions = Pick<
  MigrateCliOptions,
  | 'pop3PasswordFile'
  | 'imapPasswordFile'
  | 'pop3PasswordCommand'
  | 'imapPasswordCommand'
  | 'pop3TokenFile'
  | 'imapTokenFile'
  | 'pop3TokenCommand'
  | 'imapTokenCommand'
  | 'pop3Auth'
  | 'debug'
  | 'caFile'
  | 'pop3CaFile'
  | 'imapCaFile'
  | 'insecure'
  | 'pop3Insecure'
  | 'imapInsecure'
  | 'allowPlaintext'
  | 'requireTls'
  | 'timeout'
> & {
  /** --connections (migrate only). */
  connections?: string;
  /** false with --no-multiappend (migrate only). */
  multiappend?: boolean;
  dryRun?: boolean;
};

export function tlsOptions(side: Side, o: ConnectionCliOptions, warn: (m: string) => void): ConnectionOptions {
  const lower = side === 'POP3' ? 'pop3' : 'imap';
  const caFile = (side === 'POP3' ? o.pop3CaFile : o.imapCaFile) ?? o.caFile;
  const insecure = (side === 'POP3' ? o.pop3Insecure : o.imapInsecure) ?? o.insecure;
  // Set here for both sides rather than left to Node's default, which NODE_OPTIONS can lower.
  const options: ConnectionOptions = { minVersion: 'TLSv1.2' };
  if (caFile !== undefined) {
    try {
      // Node's `ca` replaces the default CAs; --ca-file adds to them, so a server with a public certificate still verifies.
      options.ca = [...defaultCas(), readFileSync(caFile, 'utf8')];
    } catch (err) {
      throw usageError(`Cannot read the ${side} CA file ${caFile} (--${lower}-ca-file): ${(err as NodeJS.ErrnoException).code ?? err}.`);
    }
  }
  if (insecure) {
    warn(`${side} certificate verification is off (--${lower}-insecure): anyone on the path can read the password and the mail.`);
    options.rejectUnauthorized = false;
  }
  return options;
}

/** The CAs Node trusts when no `ca` is given (bundled, NODE_EXTRA_CA_CERTS, and the system's with --use-system-ca). */
export function defaultCas(): readonly string[] {
  // getCACertificates is newer than Node 22.12; rootCertificates is the bundled list alone.
  return typeof tls.getCACertificates === 'function' ? tls.getCACertificates('default') : tls.rootCertificates;
}

/**
 * Logs in with the password or the current token; a token the server refuses
 * is fetched again once from --*-token-command (long cron runs outlive tokens).
 */
export async function withTokenRefresh<T>(creds: Credentials, connect: (secret: { password?: string; accessToken?: string }) => Promise<T>): Promise<T> {
  const secret = () => (creds.token ? { accessToken: creds.token.current() } : { password: creds.password });
  try {
    return await connect(secret());
  } catch (err) {
    if (!creds.token?.refresh || !(err instanceof PopliftError) || err.exitCode !== ExitCode.AUTH) throw err;
    await creds.token.refresh();
    return connect(secret());
  }
}

export function allowPlaintext(server: ServerUrl, o: ConnectionCliOptions): boolean {
  if (o.requireTls) return false;
  return Boolean(o.allowPlaintext) || isLoopback(server.host);
}

export function label(url: ServerUrl): string {
  const scheme = `${url.side.toLowerCase()}${url.tls === 'implicit' ? 's' : ''}`;
  return `${scheme}://${encodeURIComponent(url.user)}@${describeServer(url)}`;
}

/**
 * Resolves both sides' credentials (files, commands, environment, a prompt)
 * and TLS settings, and returns how to log in to each server.
 */
export async function connectionEndpoints(
  pop3: ServerUrl,
  imap: ServerUrl,
  o: ConnectionCliOptions,
  timeoutMs: number,
  io: CliIo,
  warn: (message: string) => void,
): Promise<Endpoints> {
  const debug = o.debug ? (line: string) => io.stderr.write(`${line}\n`) : undefined;
  const prompt = io.stdin?.isTTY ? terminalPrompt(io.stdin, io.stderr) : undefined;
  const pop3Creds = await resolveCredentials({
    side: 'POP3',
    passwordFile: o.pop3PasswordFile,
    passwordCommand: o.pop3PasswordCommand,
    tokenFile: o.pop3TokenFile,
    tokenCommand: o.pop3TokenCommand,
    env: io.env,
    fromUrl: pop3.password,
    warn,
    prompt,
  });
  const imapCreds = await resolveCredentials({
    side: 'IMAP',
    passwordFile: o.imapPasswordFile,
    passwordCommand: o.imapPasswordCommand,
    tokenFile: o.imapTokenFile,
    tokenCommand: o.imapTokenCommand,
    env: io.env,
    fromUrl: imap.password,
    warn,
    prompt,
  });
  const uploadConnections = o.connections === undefined ? undefined : wholeNumber(o.connections, '--connections', 1);
  const pop3Tls = tlsOptions('POP3', o, warn);
  const imapTls = tlsOptions('IMAP', o, warn);

  return {
    pop3Label: label(pop3),
    imapLabel: label(imap),
    connectSource: () =>
      withTokenRefresh(pop3Creds, (secret) => Pop3Session.connect({
        host: pop3.host,
        port: pop3.port,
        tls: pop3.tls,
        allowPlaintext: allowPlaintext(pop3, o),
        user: pop3.user,
        ...secret,
        auth: secret.accessToken === undefined ? o.pop3Auth : 'auto',
        timeoutMs,
        tlsOptions: pop3Tls,
        debug: debug && ((line: string) => debug(`POP3 ${line}`)),
      })),
    connectTarget: () =>
      withTokenRefresh(imapCreds, (secret) => ImapTarget.connect({
        host: imap.host,
        port: imap.port,
        tls: imap.tls,
        allowPlaintext: allowPlaintext(imap, o),
        user: imap.user,
        ...secret,
        refreshToken: imapCreds.token?.refresh,
        uploadConnections,
        multiAppend: o.multiappend !== false,
        // Only migrate has --[no-]multiappend; a dry run and verify upload nothing.
        openUploads: typeof o.multiappend === 'boolean' && !o.dryRun,
        timeoutMs,
        tlsOptions: imapTls,
        debug,
      })),
  };
}
