/**
 * The command line: builds the commander program (migrate, batch, verify,
 * completion), runs it, and maps every outcome to a documented exit code.
 * Each command's module (and with it the POP3 and IMAP drivers) is loaded
 * only when that command runs, so --help, --version and completion start
 * without them.
 */
import { inspect } from 'node:util';
import { Argument, Command, CommanderError, Option } from 'commander';
import { displayText, jsonLine } from '../display-text.js';
import { ExitCode, PopliftError } from '../errors.js';
import type { BatchCliOptions } from './batch-command.js';
import type { CliIo } from './cli-io.js';
import { completionScript, SHELLS } from './completion.js';
import { allOptionNames, applySettings } from './config.js';
import { errorJson } from './json-result.js';
// Registers the flags that driver and engine messages name.
import './option-hints.js';
import type { LoginCliOptions } from './login-command.js';
import type { MigrateCliOptions } from './migrate-command.js';
import type { NotifyCliOptions } from './run-record.js';
import type { StatusCliOptions } from './status-command.js';
import type { RepeatCliOptions } from './watch-command.js';

type WatchCliOptions = MigrateCliOptions & NotifyCliOptions & RepeatCliOptions;
import {
  addLoginOptions,
  addMigrateOptions,
  addTlsOptions,
  BATCH_HELP,
  COMPLETION_HELP,
  EXIT_CODES_HELP,
  groupHelp,
  MIGRATE_HELP,
  VERIFY_HELP,
  WATCH_HELP,
} from './options.js';
import type { VerifyCliOptions } from './verify-command.js';
import { packageVersion } from '../version.js';

export type { CliIo } from './cli-io.js';

/** What a run reports back besides its exit code. */
export interface RunResult {
  code: number;
  debug: boolean;
  /** --json was given (command line, environment or config): an error still ends in one JSON object on stdout. */
  json?: boolean;
  /** The final JSON object was printed. */
  jsonDone?: boolean;
}

export function buildProgram(io: CliIo, result: RunResult): Command {
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
      result.json = Boolean(o.json);
      const { runMigrate } = await import('./migrate-command.js');
      // A person at a terminal who forgot --folder learns it before the mail lands in INBOX; cron is not told.
      const tty = (io.stderr as { isTTY?: boolean }).isTTY === true;
      if (tty && migrate.getOptionValueSource('folder') === 'default' && !o.quiet && !o.silent && !o.json)
        io.stderr.write('poplift: no --folder given: the mail goes into INBOX.\n');
      result.code = await runMigrate(pop3Url, imapUrl, o, io);
      result.jsonDone = result.json;
    });

  const batch = program
    .command('batch')
    .description('migrate every mailbox listed in a CSV or JSON file, several at a time')
    .argument('<file>', 'CSV with a header row (pop3_url,imap_url,folder,...) or a JSON array of objects with those keys');
  addMigrateOptions(batch, 'JSON Lines on stdout: an event per mailbox start, failed message and mailbox end, then a summary')
    .option('--jobs <n>', 'mailboxes migrated at the same time', '4')
    .option('--shard <K/N>', 'run only rows whose 0-based index mod N is K-1 (for N machines sharing one file)')
    .option('--skip-bad-rows', 'run the valid rows even when some rows are bad (the exit code is then 1)')
    .option('--verify', 'change nothing: check that every message of each POP3 mailbox is in its folder (as poplift verify)')
    .option('--every <interval>', 'run the batch again every <interval> (30s, 5m, 1h), until SIGINT or SIGTERM');
  groupHelp(batch)
    .addHelpText('after', BATCH_HELP)
    .action(async (file: string, o: BatchCliOptions) => {
      result.debug = Boolean(o.debug);
      result.json = Boolean(o.json);
      const { runBatch } = await import('./batch-command.js');
      if (o.every === undefined) result.code = await runBatch(file, o, io, batch);
      else {
        const { runBatchEvery } = await import('./watch-command.js');
        result.code = await runBatchEvery(() => runBatch(file, o, io, batch), o);
      }
      result.jsonDone = result.json;
    });

  const watch = program
    .command('watch')
    .description('poll a POP3 mailbox and move new mail into an IMAP folder every interval, for months (a cron run in a loop)')
    .argument('<pop3-url>', 'pop3://USER@HOST[:PORT] or pop3s://USER@HOST[:PORT] (USER percent-encoded)')
    .argument('<imap-url>', 'imap://USER@HOST[:PORT] or imaps://USER@HOST[:PORT]');
  addMigrateOptions(watch, "print each cycle's summary as one JSON object per line on stdout")
    .option('--every <interval>', 'time between polls (30s, 5m, 1h), spread by ±10 %')
    .option('--max-interval <interval>', 'longest wait between polls while the mailbox keeps failing (default: 1h, or --every if longer)')
    .option('--once', "poll once and exit with that run's exit code");
  groupHelp(watch)
    .addHelpText('after', WATCH_HELP)
    .action(async (pop3Url: string, imapUrl: string, o: WatchCliOptions) => {
      result.debug = Boolean(o.debug);
      const { runWatch } = await import('./watch-command.js');
      result.code = await runWatch(pop3Url, imapUrl, o, io);
    });

  program
    .command('status')
    .description('show what each mailbox run from cron, watch or batch did lately, and whether it is failing')
    .option('--json', 'print the status as one JSON object on stdout (docs/usage.md)')
    .option('--runs <n>', 'runs listed per mailbox in --json', '10')
    .option('--state-dir <dir>', 'the state directory to read (as for migrate)')
    .action(async (o: StatusCliOptions) => {
      const { runStatus } = await import('./status-command.js');
      result.code = runStatus(o, io);
    });

  const verify = program
    .command('verify')
    .description('check, changing nothing, that every message of a POP3 mailbox is in an IMAP folder')
    .argument('<pop3-url>', 'pop3://USER@HOST[:PORT] or pop3s://USER@HOST[:PORT] (USER percent-encoded)')
    .argument('<imap-url>', 'imap://USER@HOST[:PORT] or imaps://USER@HOST[:PORT]')
    // No default: checking INBOX when the migration went to another folder would report every message missing.
    .requiredOption('--folder <path>', "the folder to check, '/' separates levels (required: the folder migrate was given)")
    .option('--junk <where>', 'also look in the junk folder migrate --junk used: auto (the folder the server marks \\Junk) or a folder')
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
      result.json = Boolean(o.json);
      const { runVerify } = await import('./verify-command.js');
      result.code = await runVerify(pop3Url, imapUrl, o, io);
      result.jsonDone = result.json;
    });

  program
    .command('login')
    .description('sign in once with OAuth2 (Google, Microsoft 365, any provider) and store a token later runs refresh by themselves')
    .argument('[provider]', 'google, microsoft, or the path of a provider file (docs/oauth.md)')
    .argument('[account]', 'the account, as the POP3 or IMAP URL names its user (or any name for an application)')
    .option('--list', 'list the stored sign-ins')
    .option('--client-id <id>', "your application's client id (the provider's app registration)")
    .option('--client-secret-file <file>', "read your application's client secret from the first line of <file>")
    .option('--tenant <tenant>', "Microsoft: the directory's tenant id or domain (default: common)")
    .addOption(
      new Option(
        '--flow <flow>',
        'browser: sign in in a browser, here or elsewhere; device: enter a code on any device; app: client credentials, no person',
      ).choices(['browser', 'device', 'app']),
    )
    .option('--wait <seconds>', 'how long to wait for the sign-in', '600')
    .option('--state-dir <dir>', 'where the sign-in is stored (as for migrate)')
    .option('--timeout <seconds>', 'give up on an authorization server that does not answer', '60')
    .action(async (provider: string | undefined, account: string | undefined, o: LoginCliOptions) => {
      const { runLogin } = await import('./login-command.js');
      result.code = await runLogin(provider, account, o, io);
    });

  program
    .command('logout')
    .description('remove the stored OAuth2 sign-in of an account')
    .argument('<account>', 'the account given to poplift login')
    .option('--state-dir <dir>', 'where the sign-in is stored (as for migrate)')
    .action(async (account: string, o: { stateDir?: string }) => {
      const { runLogout } = await import('./login-command.js');
      result.code = runLogout(account, o, io);
    });

  program
    .command('completion')
    .description('print a shell completion script (bash, zsh or fish)')
    .addArgument(new Argument('<shell>', 'the shell to complete for').choices(SHELLS))
    .addHelpText('after', COMPLETION_HELP)
    .action((shell: string) => {
      io.stdout.write(completionScript(program, shell));
    });

  program
    .command('demo')
    .description('a demonstration on private servers (needs Dovecot): migrate, re-run, verify, then clean up')
    .action(async () => {
      result.code = await (await import('./demo-command.js')).runDemo(io);
    });

  // Options the command line left unset come from POPLIFT_* variables, then from --config.
  const optionNames = allOptionNames(program);
  program.hook('preAction', (_program, command) => applySettings(command, io.env, optionNames));
  return program;
}

/** A cause for --debug: its stack when it is an Error; an object that is not one is inspected rather than shown as [object Object]. */
function causeText(cause: unknown): string {
  if (cause instanceof Error) return cause.stack ?? String(cause);
  return typeof cause === 'string' ? cause : inspect(cause);
}

/**
 * A stack trace and cause for --debug. Their first line is the message, a
 * server's words among it: shown neutralised, where a line break in it
 * must not start a line of its own; the frames are poplift's.
 */
function debugText(err: Error, cause: string): string {
  const neutral = (text: string): string => {
    const message = err.message;
    const at = message === '' ? -1 : text.indexOf(message);
    const shown = at < 0 ? text : text.slice(0, at) + displayText(message) + text.slice(at + message.length);
    return shown.split('\n').map(displayText).join('\n');
  };
  return `${neutral(err.stack ?? '')}\n${cause === '' ? '' : `${neutral(cause)}\n`}`;
}

function describeUnexpected(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Whether --json is asked for before commander has parsed anything (a parse error must still end in JSON). */
function jsonRequested(args: string[], env: NodeJS.ProcessEnv): boolean {
  if (args.includes('--json')) return true;
  return /^(1|true|yes|on)$/i.test(env.POPLIFT_JSON ?? '');
}

const COMMANDS = new Set(['migrate', 'batch', 'verify']);

/** Runs poplift with these arguments (without node and script) and returns the exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const result: RunResult = { code: ExitCode.OK, debug: args.includes('--debug') };
  const program = buildProgram(io, result);
  if (args.length === 0) {
    // Nothing asked for is a usage error: a script that forgot its arguments must not look successful.
    io.stderr.write(program.helpInformation());
    return ExitCode.USAGE;
  }
  const command = COMMANDS.has(args[0]!) ? args[0] : undefined;
  const fail = (err: unknown, code: number): number => {
    if (command && !result.jsonDone && (result.json ?? jsonRequested(args, io.env))) {
      // batch speaks JSON Lines: its final line is always the summary event.
      const event = command === 'batch' ? { event: 'summary' } : {};
      io.stdout.write(jsonLine({ ...event, ...errorJson(command, err, code) }));
    }
    return code;
  };
  try {
    await program.parseAsync(args, { from: 'user' });
    return result.code;
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.code === 'commander.help') return ExitCode.OK;
      // commander has already printed its message.
      return fail(new PopliftError(err.message.replace(/^error: /, ''), { code: 'USAGE' }), ExitCode.USAGE);
    }
    if (err instanceof PopliftError) {
      const { wasAlreadyReported } = await import('./run-record.js');
      if (!wasAlreadyReported(err)) io.stderr.write(`poplift: ${displayText(err.message)}\n`);
      if (result.debug && err.stack) io.stderr.write(debugText(err, err.cause === undefined ? '' : `cause: ${causeText(err.cause)}`));
      return fail(err, err.exitCode);
    }
    io.stderr.write(
      `poplift: unexpected error: ${displayText(describeUnexpected(err))}${result.debug ? '' : ' (run with --debug for details)'}\n`,
    );
    if (result.debug && err instanceof Error && err.stack) io.stderr.write(debugText(err, ''));
    return fail(err, ExitCode.PARTIAL);
  }
}

export async function main(): Promise<void> {
  const code = await run(process.argv.slice(2), {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    stdin: process.stdin.isTTY ? process.stdin : undefined,
    input: process.stdin,
  });
  // Leave once stdout is flushed: a library timer or socket left behind must not keep a cron job hanging.
  process.stdout.write('', () => process.exit(code));
}
