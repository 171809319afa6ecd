/**
 * The command line: parses options with commander, turns them into engine
 * options, prints results, and maps every outcome to a documented exit code.
 */
import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';
import type { ConnectionOptions } from 'node:tls';
import { Argument, Command, CommanderError, Option } from 'commander';
import { ExitCode, PopliftError, usageError, type Side } from '../errors.js';
import { migrateMailbox, type Endpoints, type MigrateHooks, type MigrateOptions } from '../engine/migrate.js';
import { summaryExitCode, type MigrationSummary } from '../engine/summary.js';
import { verifyExitCode, verifyMailbox, type VerifyReport } from '../engine/verify.js';
import { parseFlagList } from '../message/flags.js';
import type { DateMode } from '../message/internal-date.js';
import { Pop3Session } from '../source/pop3-session.js';
import { ImapTarget } from '../target/imap-target.js';
import { loadJournal, JournalWriter } from '../state/journal.js';
import { MailboxLock } from '../state/lock.js';
import { ensureStateDirectory, stateDirectory, stateName } from '../state/state-dir.js';
import { join } from 'node:path';
import { resolveCredentials, terminalPrompt, type Credentials } from './secrets.js';
import { describeServer, isLoopback, parseServerUrl, type ServerUrl } from './server-url.js';
import { formatSummary } from './summary-output.js';
import { runBatch, type BatchCliOptions } from './batch-command.js';
import { completionScript, SHELLS } from './completion.js';
import { allOptionNames, applySettings } from './config.js';
import { Output, mailboxResultLine, outputSettings, summaryLine, type OutputCliOptions } from './output.js';
import { formatVerifyReport } from './verify-output.js';

export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
  /** Given only when it is a terminal: then a missing password is asked for. */
  stdin?: NodeJS.ReadStream;
}

export interface MigrateCliOptions extends OutputCliOptions {
  folder: string;
  pop3PasswordFile?: string;
  imapPasswordFile?: string;
  pop3PasswordCommand?: string;
  imapPasswordCommand?: string;
  pop3TokenFile?: string;
  imapTokenFile?: string;
  pop3TokenCommand?: string;
  imapTokenCommand?: string;
  pop3Auth: 'auto' | 'plain' | 'user' | 'apop';
  dedupe: 'message-id' | 'none';
  flags?: string;
  markSeen?: boolean;
  keepDeletedFlag?: boolean;
  internalDate: DateMode;
  dryRun?: boolean;
  json?: boolean;
  debug?: boolean;
  caFile?: string;
  pop3CaFile?: string;
  imapCaFile?: string;
  insecure?: boolean;
  pop3Insecure?: boolean;
  imapInsecure?: boolean;
  allowPlaintext?: boolean;
  requireTls?: boolean;
  timeout: string;
  multiappend: boolean;
  maxInflight: string;
  stateDir?: string;
  retries: string;
  maxErrors?: string;
  delete?: boolean;
  deleteEvery: string;
  batchMessages: string;
}

/** What migrate and verify share: how to log in and reach both servers. */
type ConnectionCliOptions = Pick<
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
>;

interface VerifyCliOptions extends ConnectionCliOptions {
  folder: string;
  deep?: boolean;
  json?: boolean;
  /** Accepted so a migrate command line works unchanged; verify reads and writes no state. */
  stateDir?: string;
}

function packageVersion(): string {
  // dist/cli/main.js and src/cli/main.ts both sit two levels below package.json.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

const EXIT_CODES_HELP = `
Exit codes:
  0    every source message is on the destination
  1    finished, but some messages failed (or the mailbox was stopped early)
  2    usage or configuration error
  3    authentication failed
  4    could not connect (network or TLS)
  5    another poplift run holds this mailbox's lock
  130  stopped by SIGINT (143: SIGTERM) after saving its progress`;

const MIGRATE_HELP = `
Passwords come from POPLIFT_POP3_PASSWORD and POPLIFT_IMAP_PASSWORD, from
--pop3-password-file / --imap-password-file (first line of the file), from
--*-password-command, or a prompt when stdin is a terminal. OAuth2 access
tokens come from --*-token-file or --*-token-command (run again when the
server refuses the token).

Examples:
  # move everything once
  POPLIFT_POP3_PASSWORD=… POPLIFT_IMAP_PASSWORD=… \\
    poplift migrate pop3s://alice@pop.old.example imaps://alice@imap.new.example --folder "Archive/Old ISP"
  # see first what would be moved and deleted, changing nothing
  poplift migrate pop3s://alice@pop.old.example imaps://alice@imap.new.example --dry-run --delete
  # from cron: only new mail, then delete what is confirmed on the new server
  poplift migrate pop3s://alice@pop.old.example imaps://alice@imap.new.example \\
    --pop3-password-file ~/.config/poplift/pop3 --imap-password-file ~/.config/poplift/imap --delete --quiet
${EXIT_CODES_HELP}`;

const VERIFY_HELP = `
Changes nothing on either side: no DELE, no APPEND, no folder creation, no
state. A POP3 message counts as there when the folder holds a message with
its Message-ID (or fallback key) and its size. Without --deep only headers
are read (POP3 TOP, else RETR); --deep reads every message and compares its
SHA-256 with that of its copy. Passwords and TLS options work as for migrate.

Example:
  poplift verify pop3s://alice@pop.old.example imaps://alice@imap.new.example --folder "Archive/Old ISP" --deep

Exit codes:
  0    every POP3 message is in the folder
  1    some are missing, or (--deep) differ from their copy
  2    usage or configuration error
  3    authentication failed
  4    could not connect (network or TLS)`;

const BATCH_HELP = `
The file: a CSV with a header row, or a JSON array of objects with the same
keys. pop3_url and imap_url are required; folder, pop3_password_file and
imap_password_file are optional, and so is any migrate option as a column
in snake_case (delete, dry_run, flags, mark_seen, ...), overriding the
command line for that row. Yes/no columns take yes/no, true/false or 1/0.
Every row is checked first: bad rows are reported with their line number
and nothing starts (exit 2) unless --skip-bad-rows. Passwords: a row's
password files, else POPLIFT_POP3_PASSWORD / POPLIFT_IMAP_PASSWORD.

Example (pop3_url,imap_url,folder):
  poplift batch mailboxes.csv --jobs 8 --log-file batch.log

Exit codes:
  0    every mailbox succeeded
  1    some mailbox failed, was incomplete, or a bad row was skipped
  2    usage or configuration error (bad rows: nothing was started)
  130  stopped by SIGINT (143: SIGTERM); running mailboxes saved their progress`;

const COMPLETION_HELP = `
Examples:
  source <(poplift completion bash)                 # bash, e.g. in ~/.bashrc
  poplift completion zsh > "\${fpath[1]}/_poplift"   # zsh
  poplift completion fish > ~/.config/fish/completions/poplift.fish`;

function positiveNumber(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw usageError(`${name} must be a positive number, not '${text}'.`);
  return n;
}

function wholeNumber(text: string, name: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw usageError(`${name} must be a whole number of at least ${min}, not '${text}'.`);
  return n;
}

/** SIGINT/SIGTERM ask the engine to stop taking messages; a second signal leaves at once. */
export function watchSignals(): { stop: () => boolean; signal: () => NodeJS.Signals | undefined; dispose: () => void } {
  let received: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals) => {
    if (received) process.exit(sig === 'SIGINT' ? 130 : 143);
    received = sig;
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
  return {
    stop: () => received !== undefined,
    signal: () => received,
    dispose: () => {
      process.off('SIGINT', handler);
      process.off('SIGTERM', handler);
    },
  };
}

function tlsOptions(side: Side, o: ConnectionCliOptions, warn: (m: string) => void): ConnectionOptions {
  const lower = side === 'POP3' ? 'pop3' : 'imap';
  const caFile = (side === 'POP3' ? o.pop3CaFile : o.imapCaFile) ?? o.caFile;
  const insecure = (side === 'POP3' ? o.pop3Insecure : o.imapInsecure) ?? o.insecure;
  const options: ConnectionOptions = {};
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
function defaultCas(): readonly string[] {
  // getCACertificates is newer than Node 22.12; rootCertificates is the bundled list alone.
  return typeof tls.getCACertificates === 'function' ? tls.getCACertificates('default') : tls.rootCertificates;
}

/**
 * Logs in with the password or the current token; a token the server refuses
 * is fetched again once from --*-token-command (long cron runs outlive tokens).
 */
async function withTokenRefresh<T>(creds: Credentials, connect: (secret: { password?: string; accessToken?: string }) => Promise<T>): Promise<T> {
  const secret = () => (creds.token ? { accessToken: creds.token.current() } : { password: creds.password });
  try {
    return await connect(secret());
  } catch (err) {
    if (!creds.token?.refresh || !(err instanceof PopliftError) || err.exitCode !== ExitCode.AUTH) throw err;
    await creds.token.refresh();
    return connect(secret());
  }
}

function allowPlaintext(server: ServerUrl, o: ConnectionCliOptions): boolean {
  if (o.requireTls) return false;
  return Boolean(o.allowPlaintext) || isLoopback(server.host);
}

function label(url: ServerUrl): string {
  const scheme = `${url.side.toLowerCase()}${url.tls === 'implicit' ? 's' : ''}`;
  return `${scheme}://${encodeURIComponent(url.user)}@${describeServer(url)}`;
}

function folderLevels(folder: string): string[] {
  const levels = folder.split('/').filter((l) => l !== '');
  if (levels.length === 0) throw usageError(`--folder '${folder}' names no folder.`);
  return levels;
}

/**
 * Resolves both sides' credentials (files, commands, environment, a prompt)
 * and TLS settings, and returns how to log in to each server.
 */
async function connectionEndpoints(
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
        timeoutMs,
        tlsOptions: imapTls,
        debug,
      })),
  };
}

/** A migrate command line checked and parsed, before anything connects. */
export interface MigratePlan {
  pop3: ServerUrl;
  imap: ServerUrl;
  pop3Label: string;
  imapLabel: string;
  levels: string[];
  extraFlags: string[];
  timeoutMs: number;
  maxInflight: number;
  retries: number;
  maxErrors: number | undefined;
  deleteEvery: number;
  batchMessages: number;
}

/** Checks every migrate option that can be checked without the network; throws a usage error (exit 2). */
export function planMigrate(pop3Text: string, imapText: string, o: MigrateCliOptions): MigratePlan {
  const pop3 = parseServerUrl(pop3Text, 'POP3');
  const imap = parseServerUrl(imapText, 'IMAP');
  const extraFlags = o.flags ? parseFlagListOrUsage(o.flags) : [];
  if (o.markSeen && !extraFlags.includes('\\Seen')) extraFlags.push('\\Seen');
  return {
    pop3,
    imap,
    pop3Label: label(pop3),
    imapLabel: label(imap),
    levels: folderLevels(o.folder),
    extraFlags,
    timeoutMs: positiveNumber(o.timeout, '--timeout') * 1000,
    maxInflight: positiveNumber(o.maxInflight, '--max-inflight') * 1024 * 1024,
    retries: wholeNumber(o.retries, '--retries', 0),
    maxErrors: o.maxErrors === undefined ? undefined : wholeNumber(o.maxErrors, '--max-errors', 1),
    deleteEvery: wholeNumber(o.deleteEvery, '--delete-every', 1),
    batchMessages: wholeNumber(o.batchMessages, '--batch-messages', 1),
  };
}

/** What a caller (migrate, or one row of a batch) hears from a running migration. */
export type MigrateRunHooks = Pick<MigrateHooks, 'warn' | 'onListed' | 'onProgress' | 'onFailure' | 'stopRequested'>;

export interface MigrateOutcome {
  summary: MigrationSummary;
  /** 0 or 1 as summaryExitCode; signals are the caller's business. */
  exitCode: number;
}

/**
 * One full migration of one mailbox: credentials, lock, journal, engine.
 * Shared by `migrate` and every row of `batch`. Throws PopliftError for
 * usage, login, connection and lock failures (exit codes 2 to 5).
 */
export async function executeMigrate(plan: MigratePlan, o: MigrateCliOptions, io: CliIo, hooks: MigrateRunHooks): Promise<MigrateOutcome> {
  const { pop3, imap, levels } = plan;
  const warn = hooks.warn;
  const endpoints = await connectionEndpoints(pop3, imap, o, plan.timeoutMs, io, warn);

  // State: one lock per source mailbox, one journal per mailbox + folder pair. A dry run writes nothing.
  const stateDir = stateDirectory(o.stateDir, io.env);
  // By host, not port: pop3:// and pop3s:// on one host reach the same maildrop.
  const pop3Account = `${pop3.user}@${pop3.host.toLowerCase()}`;
  const imapAccount = `${imap.user}@${imap.host.toLowerCase()}`;
  const journalPath = join(stateDir, `${stateName(pop3Account, imapAccount, levels.join('/'))}.journal`);
  let lock: MailboxLock | undefined;
  let writer: JournalWriter | undefined;
  if (!o.dryRun) {
    ensureStateDirectory(stateDir);
    lock = MailboxLock.acquire(join(stateDir, `${stateName(pop3Account)}.lock`), endpoints.pop3Label, warn);
  }
  try {
    const state = loadJournal(journalPath);
    if (state.badLines > 0) warn(`The journal ${journalPath} has ${state.badLines} unreadable line(s); those messages are checked against the destination again.`);
    if (!o.dryRun) {
      writer = new JournalWriter(journalPath);
      if (state.done.size === 0 && state.folder === undefined) {
        writer.add({ t: 'pair', pop3: endpoints.pop3Label, imap: endpoints.imapLabel, folder: levels.join('/'), at: new Date().toISOString() });
      }
    }
    const options: MigrateOptions = {
      folder: levels,
      dedupe: o.dedupe === 'message-id',
      dryRun: Boolean(o.dryRun),
      multiAppend: o.multiappend,
      batchMessages: plan.batchMessages,
      // Several batches must fit in flight so reading goes on while one commits.
      batchBytes: Math.min(8 * 1024 * 1024, Math.max(1024 * 1024, Math.floor(plan.maxInflight / 4))),
      maxInflightBytes: plan.maxInflight,
      extraFlags: plan.extraFlags,
      keepDeletedFlag: Boolean(o.keepDeletedFlag),
      dateMode: o.internalDate,
      retries: plan.retries,
      backoffMs: 1000,
      maxErrors: plan.maxErrors,
      delete: Boolean(o.delete),
      deleteEvery: plan.deleteEvery,
      journal: { state, writer },
    };
    const summary = await migrateMailbox(endpoints, options, hooks);
    return { summary, exitCode: summaryExitCode(summary) };
  } finally {
    writer?.close();
    lock?.release();
  }
}

/** How a mailbox is named in progress lines, bars and the batch table. */
export function mailboxName(plan: MigratePlan): string {
  return `${plan.pop3Label} -> ${plan.imapLabel} folder "${plan.levels.join('/')}"`;
}

async function runMigrate(pop3Text: string, imapText: string, o: MigrateCliOptions, io: CliIo): Promise<number> {
  const plan = planMigrate(pop3Text, imapText, o);
  const output = new Output(io.stderr, outputSettings(o, io.stderr, false, 'when-listed'));
  const signals = watchSignals();
  const id = 0;
  try {
    output.mailboxStarted(id, mailboxName(plan));
    const { summary, exitCode } = await executeMigrate(plan, o, io, {
      warn: (message) => output.warn(message),
      onListed: (e) => output.mailboxListed(id, e),
      onProgress: (e) => output.mailboxProgress(id, e),
      stopRequested: signals.stop,
    });
    output.mailboxEnded(id, mailboxResultLine(mailboxName(plan), summary, exitCode === 0 ? 'ok' : 'incomplete'), exitCode === 0);
    output.close();
    if (o.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
    output.final(formatSummary(summary), summaryLine(summary));
    const sig = signals.signal();
    if (sig) return sig === 'SIGINT' ? 130 : 143;
    return exitCode;
  } catch (err) {
    output.close();
    if (err instanceof Error) output.logOnly(`poplift: ${err.message}`);
    throw err;
  } finally {
    signals.dispose();
    output.close();
  }
}

/** Verifies one planned mailbox pair (batch --verify), changing nothing. */
export async function verifyPlanned(plan: MigratePlan, o: MigrateCliOptions, io: CliIo, warn: (m: string) => void): Promise<VerifyReport> {
  const endpoints = await connectionEndpoints(plan.pop3, plan.imap, o, plan.timeoutMs, io, warn);
  return verifyMailbox(endpoints, { folder: plan.levels, deep: false }, { warn });
}

async function runVerify(pop3Text: string, imapText: string, o: VerifyCliOptions, io: CliIo): Promise<number> {
  const warn = (message: string) => io.stderr.write(`poplift: warning: ${message}\n`);
  const pop3 = parseServerUrl(pop3Text, 'POP3');
  const imap = parseServerUrl(imapText, 'IMAP');
  const levels = folderLevels(o.folder);
  const timeoutMs = positiveNumber(o.timeout, '--timeout') * 1000;
  const endpoints = await connectionEndpoints(pop3, imap, o, timeoutMs, io, warn);
  const report = await verifyMailbox(endpoints, { folder: levels, deep: Boolean(o.deep) }, { warn });
  if (o.json) io.stdout.write(`${JSON.stringify(report)}\n`);
  else io.stderr.write(formatVerifyReport(report));
  return verifyExitCode(report);
}

function parseFlagListOrUsage(text: string): string[] {
  try {
    return parseFlagList(text);
  } catch (err) {
    throw usageError(`--flags: ${(err as Error).message}`);
  }
}

export function buildProgram(io: CliIo, result: { code: number; debug: boolean }): Command {
  const program = new Command();
  program
    .name('poplift')
    .description('Move mail out of POP3 mailboxes into IMAP folders, byte for byte, without duplicates.')
    .version(packageVersion(), '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
      outputError: (s, write) => write(`poplift: ${s.replace(/^error: /, '')}`),
    })
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError('(run poplift --help for usage)');

  const migrate = program
    .command('migrate')
    .description('copy every message of a POP3 mailbox into an IMAP folder')
    .argument('<pop3-url>', 'pop3://USER@HOST[:PORT] or pop3s://USER@HOST[:PORT] (USER percent-encoded)')
    .argument('<imap-url>', 'imap://USER@HOST[:PORT] or imaps://USER@HOST[:PORT]');
  groupHelp(addMigrateOptions(migrate, 'print the summary as one JSON object on stdout'))
    .addHelpText('after', MIGRATE_HELP)
    .action(async (pop3Url: string, imapUrl: string, o: MigrateCliOptions) => {
      result.debug = Boolean(o.debug);
      result.code = await runMigrate(pop3Url, imapUrl, o, io);
    });

  const batch = program
    .command('batch')
    .description('migrate every mailbox listed in a CSV or JSON file, several at a time')
    .argument('<file>', 'CSV with a header row (pop3_url,imap_url,folder,...) or a JSON array of objects with those keys');
  addMigrateOptions(batch, 'JSON Lines on stdout: an event per mailbox start, failed message and mailbox end, then a summary')
    .option('--jobs <n>', 'mailboxes migrated at the same time', '4')
    .option('--shard <K/N>', 'run only rows whose 0-based index mod N is K-1 (for N machines sharing one file)')
    .option('--skip-bad-rows', 'run the valid rows even when some rows are bad (the exit code is then 1)')
    .option('--verify', 'change nothing: check that every message of each POP3 mailbox is in its folder (as poplift verify)');
  groupHelp(batch)
    .addHelpText('after', BATCH_HELP)
    .action(async (file: string, o: BatchCliOptions) => {
      result.debug = Boolean(o.debug);
      result.code = await runBatch(file, o, io, batch, { plan: planMigrate, execute: executeMigrate, verify: verifyPlanned, watchSignals });
    });

  const verify = program
    .command('verify')
    .description('check, changing nothing, that every message of a POP3 mailbox is in an IMAP folder')
    .argument('<pop3-url>', 'pop3://USER@HOST[:PORT] or pop3s://USER@HOST[:PORT] (USER percent-encoded)')
    .argument('<imap-url>', 'imap://USER@HOST[:PORT] or imaps://USER@HOST[:PORT]')
    .option('--folder <path>', "the folder to check, '/' separates levels", 'INBOX')
    .option('--deep', 'read every message whole and compare its SHA-256 with that of its copy');
  addLoginOptions(verify)
    .option('--json', 'print the report as one JSON object on stdout')
    .option('--debug', 'print protocol traces (passwords masked) and stack traces');
  addTlsOptions(verify)
    .option('--state-dir <dir>', 'accepted as for migrate; verify reads and writes no state')
    .option('--config <file>', 'read options from this JSON or YAML file (command line, then POPLIFT_* variables, win over it)');
  groupHelp(verify)
    .addHelpText('after', VERIFY_HELP)
    .action(async (pop3Url: string, imapUrl: string, o: VerifyCliOptions) => {
      result.debug = Boolean(o.debug);
      result.code = await runVerify(pop3Url, imapUrl, o, io);
    });

  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'the shell to complete for').choices(SHELLS))
    .addHelpText('after', COMPLETION_HELP)
    .action((shell: string) => {
      io.stdout.write(completionScript(program, shell));
    });

  // Options the command line left unset come from POPLIFT_* variables, then from --config.
  const optionNames = allOptionNames(program);
  program.hook('preAction', (_program, command) => applySettings(command, io.env, optionNames));
  return program;
}

/** Everything migrate takes besides the two URLs; batch takes the same as defaults for its rows. */
function addMigrateOptions(command: Command, jsonHelp: string): Command {
  command.option('--folder <path>', "destination folder, '/' separates levels; created when missing", 'INBOX');
  addLoginOptions(command)
    .addOption(new Option('--dedupe <mode>', 'skip messages already in the folder, by Message-ID (or fallback key)').choices(['message-id', 'none']).default('message-id'))
    .option('--flags <flags>', "add these flags to every message, e.g. '\\Seen $Imported'")
    .option('--mark-seen', 'add \\Seen to every message')
    .option('--keep-deleted-flag', 'map X-Status D / X-Mozilla-Status 0x0008 to \\Deleted (default: ignore)')
    .addOption(
      new Option('--internal-date <source>', 'internal date from the topmost Received header, the Date header, or the server clock')
        .choices(['received', 'date', 'server'])
        .default('received'),
    )
    .option('--dry-run', 'connect, list and index, then report what would be done; change nothing')
    .option('--json', jsonHelp)
    .option('--debug', 'print protocol traces (passwords masked) and stack traces');
  return addTlsOptions(command)
    .option('--no-multiappend', 'upload one message per APPEND even when the server offers MULTIAPPEND')
    .option('--max-inflight <MiB>', 'message data held in memory between reading and upload', '64')
    .option('--batch-messages <n>', 'messages per MULTIAPPEND command (at most 8 MB each)', '100')
    .option('--state-dir <dir>', 'where journals and locks live (default $XDG_STATE_HOME/poplift or ~/.local/state/poplift)')
    .option('--retries <n>', 'reconnect attempts after a dropped, reset or stalled connection', '5')
    .option('--max-errors <n>', 'stop the mailbox after this many failed messages')
    .option('--delete', 'delete from POP3 each message whose copy is confirmed on the destination')
    .option('--delete-every <n>', 'commit deletions (QUIT and reconnect) every <n> messages', '500')
    .option('--quiet', 'print only errors and the final one-line summary')
    .option('--progress-interval <seconds>', 'when stderr is not a terminal, a progress line at most this often', '30')
    .option('--log-file <file>', 'also append the plain-text log (timestamped lines) to <file>')
    .option('--config <file>', 'read options from this JSON or YAML file (command line, then POPLIFT_* variables, win over it)');
}

/** Help headings: options are listed by theme rather than in one long list. */
const HELP_GROUPS: Array<[string, RegExp]> = [
  ['What to move:', /^(folder|dedupe|flags|markSeen|keepDeletedFlag|internalDate|dryRun|deep|verify)$/],
  ['Passwords and logins:', /^(pop3|imap)(PasswordFile|PasswordCommand|TokenFile|TokenCommand|Auth)$/],
  ['TLS:', /^((pop3|imap)?(CaFile)|(pop3|imap)?Insecure|insecure|caFile|allowPlaintext|requireTls)$/i],
  ['Cron, state and deleting:', /^(stateDir|retries|timeout|maxErrors|delete|deleteEvery)$/],
  ['Speed and memory:', /^(multiappend|maxInflight|batchMessages|jobs|shard)$/],
  ['Output:', /^(json|quiet|progressInterval|logFile|debug|skipBadRows)$/],
  ['Config:', /^config$/],
];

/** Puts each option of `command` under its theme's heading in --help. */
function groupHelp(command: Command): Command {
  for (const option of command.options) {
    const group = HELP_GROUPS.find(([, pattern]) => pattern.test(option.attributeName()));
    if (group) option.helpGroup(group[0]);
  }
  return command;
}

/** Passwords, tokens and the POP3 login method (migrate and verify). */
function addLoginOptions(command: Command): Command {
  return command
    .option('--pop3-password-file <file>', 'read the POP3 password from the first line of <file>')
    .option('--imap-password-file <file>', 'read the IMAP password from the first line of <file>')
    .option('--pop3-password-command <cmd>', 'run <cmd> (through sh); the first line it prints is the POP3 password')
    .option('--imap-password-command <cmd>', 'run <cmd> (through sh); the first line it prints is the IMAP password')
    .option('--pop3-token-file <file>', 'log in to POP3 with the OAuth2 access token in <file> (XOAUTH2/OAUTHBEARER)')
    .option('--imap-token-file <file>', 'log in to IMAP with the OAuth2 access token in <file> (XOAUTH2/OAUTHBEARER)')
    .option('--pop3-token-command <cmd>', 'run <cmd> for a POP3 OAuth2 access token; run again when the server refuses it')
    .option('--imap-token-command <cmd>', 'run <cmd> for an IMAP OAuth2 access token; run again when the server refuses it')
    .addOption(
      new Option('--pop3-auth <method>', 'POP3 login: SASL PLAIN when offered else USER/PASS (auto), or force one')
        .choices(['auto', 'plain', 'user', 'apop'])
        .default('auto'),
    );
}

/** Certificates, the plaintext policy and the idle timeout (migrate and verify). */
function addTlsOptions(command: Command): Command {
  return command
    .option('--ca-file <pem>', 'trust the CAs in <pem> on both sides')
    .option('--pop3-ca-file <pem>', 'trust the CAs in <pem> for the POP3 server')
    .option('--imap-ca-file <pem>', 'trust the CAs in <pem> for the IMAP server')
    .option('--insecure', 'do not verify TLS certificates on either side (warns on every run)')
    .option('--pop3-insecure', 'do not verify the POP3 server certificate')
    .option('--imap-insecure', 'do not verify the IMAP server certificate')
    .option('--allow-plaintext', 'log in without TLS when a server offers no STARTTLS/STLS (always allowed on loopback)')
    // Together they would leave one silently ignored, and a refusal's advice (--allow-plaintext) useless.
    .addOption(new Option('--require-tls', 'refuse unencrypted logins even on loopback').conflicts('allowPlaintext'))
    .option('--timeout <seconds>', 'give up on a connection that sends nothing for this long', '60');
}

function describeUnexpected(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Runs poplift with these arguments (without node and script) and returns the exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const result = { code: ExitCode.OK as number, debug: args.includes('--debug') };
  const program = buildProgram(io, result);
  try {
    await program.parseAsync(args, { from: 'user' });
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.OK;
      // commander has already printed its message.
      return ExitCode.USAGE;
    }
    if (err instanceof PopliftError) {
      io.stderr.write(`poplift: ${err.message}\n`);
      if (result.debug && err.stack) io.stderr.write(`${err.stack}\n${err.cause ? `cause: ${(err.cause as Error).stack ?? err.cause}\n` : ''}`);
      return err.exitCode;
    }
    io.stderr.write(`poplift: unexpected error: ${describeUnexpected(err)}${result.debug ? '' : ' (run with --debug for details)'}\n`);
    if (result.debug && err instanceof Error && err.stack) io.stderr.write(`${err.stack}\n`);
    return ExitCode.PARTIAL;
  }
}

export async function main(): Promise<void> {
  const code = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    stdin: process.stdin.isTTY ? process.stdin : undefined,
  });
  // Leave once stdout is flushed: a library timer or socket left behind must not keep a cron job hanging.
  process.stdout.write('', () => process.exit(code));
}
