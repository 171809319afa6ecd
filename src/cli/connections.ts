/**
 * From command-line options to connections: TLS settings per side, the
 * plaintext policy, credentials (with one token refresh) and the endpoints
 * the engine connects through.
 */
import { displayText } from '../display-text.js';
import * as tls from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import { ExitCode, PopliftError, describeServer, usageError, type Side } from '../errors.js';
import { labelsOf, parseRunLimits, wholeNumber } from './options.js';
import { UploadBudget } from '../imap/upload-budget.js';
import type { StoreEndpoints } from '../store/mail-store.js';
import { Pop3Source } from '../pop3/pop3-source.js';
import type { Pop3Capabilities } from '../pop3/pop3-auth.js';
import { ImapDestination } from '../imap/imap-destination.js';
import { describeProfile, detectProfile } from '../imap/provider-profile.js';
import { readFileSync } from 'node:fs';
import type { CliIo } from './cli-io.js';
import type { MigrateCliOptions } from './migrate-options.js';
import { positiveNumber } from './options.js';
import { storedTokenSource } from '../oauth/stored-token.js';
import { stateDirectory } from '../state/state-dir.js';
import { fileProblem, resolveCredentials, terminalPrompt, type Credentials, type StoredSignInLookup } from './secrets.js';
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
  | 'imapAuth'
  | 'pop3OauthAccount'
  | 'imapOauthAccount'
  | 'stateDir'
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
  | 'maxMessageSize'
  | 'profile'
  | 'label'
> & {
  /** --max-bytes-per-run and --rate (migrate only). */
  maxBytesPerRun?: string;
  rate?: string;
  /** --connections (migrate only). */
  connections?: string;
  /** false with --no-multiappend (migrate only). */
  multiappend?: boolean;
  dryRun?: boolean;
};

export function tlsOptions(side: Side, o: ConnectionCliOptions, warn: (m: string) => void): ConnectionOptions {
  const lower = side === 'POP3' ? 'pop3' : 'imap';
  const ownCaFile = side === 'POP3' ? o.pop3CaFile : o.imapCaFile;
  const caFile = ownCaFile ?? o.caFile;
  const caOption = ownCaFile !== undefined ? `--${lower}-ca-file` : '--ca-file';
  const insecure = (side === 'POP3' ? o.pop3Insecure : o.imapInsecure) ?? o.insecure;
  // Set here for both sides rather than left to Node's default, which NODE_OPTIONS can lower.
  const options: ConnectionOptions = { minVersion: 'TLSv1.2' };
  if (caFile !== undefined) {
    try {
      // Node's `ca` replaces the default CAs; --ca-file adds to them, so a server with a public certificate still verifies.
      options.ca = [...defaultCas(), readFileSync(caFile, 'utf8')];
    } catch (err) {
      const whose = ownCaFile !== undefined ? `the ${side} CA file` : 'the CA file';
      throw usageError(`Cannot read ${whose} ${caFile} (${caOption}): ${fileProblem(err)}.`);
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
export async function withTokenRefresh<T>(
  creds: Credentials,
  connect: (secret: { password?: string; accessToken?: string }) => Promise<T>,
): Promise<T> {
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
): Promise<StoreEndpoints> {
  const debug = o.debug ? (line: string) => io.stderr.write(`${displayText(line)}\n`) : undefined;
  const prompt = io.stdin?.isTTY ? terminalPrompt(io.stdin, io.stderr) : undefined;
  // Every problem with the command line at once: fixing one only to be told of the next costs a run each.
  const problems: PopliftError[] = [];
  const attempt = async <T>(f: () => T | Promise<T>): Promise<T | undefined> => {
    try {
      return await f();
    } catch (err) {
      if (!(err instanceof PopliftError) || err.exitCode !== ExitCode.USAGE) throw err;
      if (!problems.some((p) => p.message === err.message)) problems.push(err);
      return undefined;
    }
  };
  const stateDir = stateDirectory(o.stateDir, io.env);
  const storedSignIn = (side: Side, account: string, required: boolean): StoredSignInLookup => ({
    account,
    required,
    load: () => storedTokenSource(stateDir, account, side, timeoutMs),
  });
  const pop3Creds = await attempt(() =>
    resolveCredentials({
      side: 'POP3',
      account: `${pop3.user}@${pop3.host}`,
      passwordFile: o.pop3PasswordFile,
      passwordCommand: o.pop3PasswordCommand,
      tokenFile: o.pop3TokenFile,
      tokenCommand: o.pop3TokenCommand,
      stored: storedSignIn('POP3', o.pop3OauthAccount ?? pop3.user, o.pop3Auth === 'oauth' || o.pop3OauthAccount !== undefined),
      env: io.env,
      fromUrl: pop3.password,
      warn,
      prompt,
    }),
  );
  const imapCreds = await attempt(() =>
    resolveCredentials({
      side: 'IMAP',
      account: `${imap.user}@${imap.host}`,
      passwordFile: o.imapPasswordFile,
      passwordCommand: o.imapPasswordCommand,
      tokenFile: o.imapTokenFile,
      tokenCommand: o.imapTokenCommand,
      stored: storedSignIn('IMAP', o.imapOauthAccount ?? imap.user, o.imapAuth === 'oauth' || o.imapOauthAccount !== undefined),
      env: io.env,
      fromUrl: imap.password,
      warn,
      prompt,
    }),
  );
  const maxMessageBytes = Math.floor(positiveNumber(o.maxMessageSize ?? '256', '--max-message-size') * 1024 * 1024);
  const uploadConnections = o.connections === undefined ? undefined : wholeNumber(o.connections, '--connections', 1);
  // One budget for the whole run, whatever reconnects happen (--max-bytes-per-run, --rate).
  const limits = parseRunLimits(o);
  const budget = limits.maxBytesPerRun === undefined && limits.rate === undefined ? undefined : new UploadBudget(limits);
  // One for the run, whatever reconnects happen: a refused label is told once.
  const labels = labelsOf(o);
  const labelling = labels.length === 0 ? undefined : { labels, warn };
  const pop3Tls = await attempt(() => tlsOptions('POP3', o, warn));
  const imapTls = await attempt(() => tlsOptions('IMAP', o, warn));
  if (problems.length === 1) throw problems[0]!;
  if (problems.length > 1) throw usageError(problems.map((p) => p.message).join(' '));
  if (!pop3Creds || !imapCreds || !pop3Tls || !imapTls) throw new Error('credentials or TLS settings missing without a reported problem');

  /** What the first POP3 session's CAPA said before login, for the further sessions of the run. */
  let pop3CapabilitiesBeforeLogin: Pop3Capabilities | undefined;
  return {
    sourceLabel: label(pop3),
    destinationLabel: label(imap),
    connectSource: (connectOptions) =>
      withTokenRefresh(pop3Creds, async (secret) => {
        const source = await Pop3Source.connect({
          host: pop3.host,
          port: pop3.port,
          tls: pop3.tls,
          allowPlaintext: allowPlaintext(pop3, o),
          user: pop3.user,
          ...secret,
          auth: secret.accessToken === undefined && o.pop3Auth !== 'oauth' ? o.pop3Auth : 'auto',
          timeoutMs,
          maxMessageBytes,
          tlsOptions: pop3Tls,
          debug: debug && ((line: string) => debug(`POP3 ${line}`)),
          // The engine lists each session it opens before anything else.
          listAtLogin: true,
          capabilitiesBeforeLogin: pop3CapabilitiesBeforeLogin,
          loginAfter: connectOptions?.loginAfter,
        });
        pop3CapabilitiesBeforeLogin ??= source.capabilitiesBeforeLogin;
        // A provider whose POP3 lists a window per session (Gmail) is looked at again after each window.
        const provider = detectProfile({ host: pop3.host, greeting: source.greeting, capabilities: source.capabilities });
        if (provider.profile.pop3Window !== undefined) source.movingWindow = describeProfile(provider);
        return source;
      }),
    connectDestination: () =>
      withTokenRefresh(imapCreds, (secret) =>
        ImapDestination.connect(
          {
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
            ...(o.profile === undefined ? {} : { profile: o.profile }),
          },
          budget,
          labelling,
        ).then((target) => {
          debug?.(`IMAP provider profile: ${describeProfile(target.profile)}`);
          return target;
        }),
      ),
  };
}
