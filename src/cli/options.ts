/**
 * The options of migrate, batch and verify, their help texts and themes, and
 * the small parsers for option values.
 */
import { Command, Option } from 'commander';
import { usageError } from '../errors.js';
import { parseFlagList } from '../message/flags.js';
import { PROFILE_NAMES } from '../imap/provider-profile.js';
import type { RateLimit, RunLimits } from '../imap/upload-budget.js';

export const EXIT_CODES_HELP = `
Exit codes:
  0    every source message is on the destination
  1    finished, but some messages failed or are not proven there (or the mailbox was stopped early)
  2    usage or configuration error
  3    authentication failed
  4    could not connect (network or TLS), or the server is busy: try again later
  5    another poplift run holds this mailbox's lock
  6    a provider's daily quota or long throttling stopped the run: what is
       done is recorded; run again later (from cron: nothing to do)
  130  stopped by SIGINT (143: SIGTERM) after saving its progress`;

export const MIGRATE_HELP = `
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
  # from cron (crontab line; see README "Running from cron"): only new mail,
  # delete what is confirmed on the new server, silent unless mail moved or failed
  */15 * * * *  $HOME/.local/bin/poplift migrate pop3s://alice@pop.old.example imaps://alice@imap.new.example --folder "Archive/Old ISP" --pop3-password-file $HOME/.config/poplift/pop3 --imap-password-file $HOME/.config/poplift/imap --delete --quiet --log-file $HOME/.local/state/poplift/cron.log
${EXIT_CODES_HELP}`;

export const WATCH_HELP = `
Each cycle is one migrate run (same lock, journal and proofs before any
delete), printing nothing when nothing moved, one line when mail moved, and
errors once when a mailbox starts failing, then at most once a day. A
mailbox that keeps failing is polled less often (the interval doubles up to
--max-interval) and normally again after a success. SIGUSR1 polls at once;
SIGINT or SIGTERM end the current cycle cleanly (exit 130 or 143).

Example:
  poplift watch pop3s://alice@pop.old.example imaps://alice@gmail.com@imap.gmail.com --every 5m --delete --notify-command 'mail -s "poplift: $POPLIFT_NOTIFY_EVENT" me@example.org'
`;

export const VERIFY_HELP = `
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
  4    could not connect (network or TLS), or the server is busy: try again later
  130  stopped by SIGINT (143: SIGTERM); nothing was changed`;

export const BATCH_HELP = `
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

export const COMPLETION_HELP = `
Examples:
  source <(poplift completion bash)                 # bash, e.g. in ~/.bashrc
  poplift completion zsh > "\${fpath[1]}/_poplift"   # zsh
  poplift completion fish > ~/.config/fish/completions/poplift.fish`;

export function positiveNumber(text: string, name: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw usageError(`${name} must be a positive number, not '${text}'.`);
  return n;
}

/**
 * Node's timers take at most 2^31-1 ms (about 24.8 days); a longer delay
 * silently becomes 1 ms, which would turn a generous --timeout into none.
 */
export const MAX_TIMEOUT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);

/** --timeout in milliseconds: a positive number of seconds, at most MAX_TIMEOUT_SECONDS. */
export function timeoutMs(text: string): number {
  const seconds = positiveNumber(text, '--timeout');
  if (seconds > MAX_TIMEOUT_SECONDS) {
    throw usageError(`--timeout must be at most ${MAX_TIMEOUT_SECONDS} seconds (about 24 days), not '${text}'.`);
  }
  return Math.max(1, Math.round(seconds * 1000));
}

export function wholeNumber(text: string, name: string, min: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) throw usageError(`${name} must be a whole number of at least ${min}, not '${text}'.`);
  return n;
}

export function folderLevels(folder: string): string[] {
  const levels = folder.split('/').filter((l) => l !== '');
  if (levels.length === 0) throw usageError(`--folder '${folder}' names no folder.`);
  return levels;
}

/** --junk: the destination's \\Junk folder (auto), no routing (off), or a folder's levels. */
export type JunkChoice = 'auto' | 'off' | string[];

export function parseJunk(text: string): JunkChoice {
  const lower = text.toLowerCase();
  if (lower === 'auto' || lower === 'off') return lower;
  const levels = text.split('/').filter((l) => l !== '');
  if (levels.length === 0) throw usageError(`--junk '${text}' names no folder: give auto, off, or a folder ('/' separates levels).`);
  return levels;
}

/**
 * --label, given once or more (one from a config file, a batch column or POPLIFT_LABEL): each one
 * checked against Gmail's rules for label names, before anything connects.
 */
export function labelsOf(o: { label?: string | readonly string[] }): string[] {
  const raw = o.label === undefined ? [] : typeof o.label === 'string' ? [o.label] : o.label.map(String);
  for (const l of raw) {
    const problem =
      l === ''
        ? 'is empty'
        : /[\r\n\0]/.test(l)
          ? 'contains a line break or NUL'
          : /^\s|\s$/.test(l)
            ? 'starts or ends with a space'
            : /\s\s/.test(l)
              ? 'contains two spaces in a row'
              : l.includes('^')
                ? "contains '^'"
                : undefined;
    if (problem !== undefined) throw usageError(`--label '${l}' ${problem}, which Gmail refuses in a label name.`);
  }
  return [...new Set(raw)];
}

export function parseFlagListOrUsage(text: string): string[] {
  try {
    return parseFlagList(text);
  } catch (err) {
    throw usageError(`--flags: ${(err as Error).message}`);
  }
}

/** Everything migrate takes besides the two URLs; batch takes the same as defaults for its rows. */
export function addMigrateOptions(command: Command, jsonHelp: string): Command {
  command.option('--folder <path>', "destination folder, '/' separates levels; created when missing", 'INBOX');
  addLoginOptions(command)
    .addOption(
      new Option('--dedupe <mode>', 'skip messages already in the folder, by Message-ID (or fallback key)')
        .choices(['message-id', 'none'])
        .default('message-id'),
    )
    .option(
      '--junk <where>',
      "messages the source's spam filter marked go to: auto (the folder the server marks \\Junk), a folder, or off (default: off; watch and batch --every: auto)",
    )
    .option(
      '--label <name>',
      'Gmail: add this label to every uploaded message (UID STORE +X-GM-LABELS); give it again for more labels',
      (value: string, previous: string[] | undefined) => [...(previous ?? []), value],
    )
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
    .addOption(
      new Option(
        '--profile <provider>',
        "the destination's rules (connections, upload size, folder names): detected from its host name and greeting unless set",
      )
        .choices(['auto', ...PROFILE_NAMES])
        .default('auto'),
    )
    .option('--no-multiappend', 'upload one message per APPEND even when the server offers MULTIAPPEND')
    .option('--max-inflight <MiB>', 'message data held in memory between reading and upload', '16')
    .option('--batch-messages <n>', 'messages per MULTIAPPEND command (at most 8 MB each)', '100')
    .option(
      '--connections <n>',
      'upload connections at most (default: 1 with MULTIAPPEND; into Courier-IMAP 1, or 4 over a longer link; else 8)',
    )
    .option('--state-dir <dir>', 'where journals and locks live (default $XDG_STATE_HOME/poplift or ~/.local/state/poplift)')
    .option('--retries <n>', 'reconnect attempts after a dropped, reset or stalled connection', '5')
    .option('--retry-failed', 'try again messages skipped because the server dropped the connection on them in 3 runs in a row')
    .option(
      '--recopy-missing',
      'copy again messages copied earlier whose copy is no longer in the folder (off: deletions there are taken as meant)',
    )
    .option('--max-errors <n>', 'stop the mailbox after this many failed messages')
    .option('--delete', 'delete from POP3 each message whose copy is confirmed on the destination')
    .option('--delete-every <n>', 'commit deletions (QUIT and reconnect) every <n> messages', '500')
    .option(
      '--max-sessions <n>',
      'most POP3 sessions one run opens to find messages a server lists only in later sessions (Gmail; default 50); given, the further sessions are opened for any server',
    )
    .option('--notify-command <cmd>', 'run <cmd> (through sh) when the mailbox goes from healthy to failing, and once when it recovers')
    .option('--notify-after <n>', 'failed runs in a row that make a mailbox failing (a refused login at once)', '2')
    .option(
      '--max-bytes-per-run <size>',
      'upload at most this much per run (e.g. 450M for a 500 MB/day quota), then stop with exit 6; the next run goes on',
    )
    .option('--rate <pace>', 'upload at most this fast: octets per second (2M) or messages per second (4msg)')
    .option('--quiet', 'for cron: print nothing when nothing was moved and nothing failed, one line when mail was moved, always errors')
    .option('--silent', 'for cron: print nothing unless something failed (errors and the one-line summary then)')
    .option('--progress-interval <seconds>', 'when stderr is not a terminal, a progress line at most this often', '30')
    .option('--log-file <file>', 'also append the plain-text log (timestamped lines) to <file>')
    .option('--list', 'list every duplicate, failure and planned message in the summary (default: the first 5 of each, and a count)')
    .option('--config <file>', 'read options from this JSON or YAML file (command line, then POPLIFT_* variables, win over it)');
}

/** Help headings: options are listed by theme rather than in one long list. */
export const HELP_GROUPS: Array<[string, RegExp]> = [
  ['What to move:', /^(folder|junk|label|dedupe|flags|markSeen|keepDeletedFlag|internalDate|dryRun|deep|verify)$/],
  ['Passwords and logins:', /^(pop3|imap)(PasswordFile|PasswordCommand|TokenFile|TokenCommand|Auth|OauthAccount)$/],
  ['TLS:', /^((pop3|imap)?(CaFile)|(pop3|imap)?Insecure|insecure|caFile|allowPlaintext|requireTls)$/i],
  [
    'Cron, state and deleting:',
    /^(stateDir|retries|retryFailed|recopyMissing|timeout|maxErrors|delete|deleteEvery|maxSessions|notifyCommand|notifyAfter|every|once|maxInterval)$/,
  ],
  ['Speed and memory:', /^(multiappend|maxInflight|maxMessageSize|batchMessages|connections|jobs|shard|profile|maxBytesPerRun|rate)$/],
  ['Output:', /^(json|quiet|silent|progressInterval|logFile|list|debug|skipBadRows)$/],
  ['Config:', /^config$/],
];

/**
 * Puts each option of `command` under its theme's heading in --help (verify
 * moves nothing: its first heading says what it checks), shows defaults as
 * they are typed (30, not "30"), and points a usage error at this command's
 * own --help.
 */
export function groupHelp(command: Command): Command {
  const first = command.name() === 'verify' ? 'What to check:' : undefined;
  for (const option of command.options) {
    const group = HELP_GROUPS.find(([, pattern]) => pattern.test(option.attributeName()));
    if (group) option.helpGroup(group === HELP_GROUPS[0] && first ? first : group[0]);
    if (typeof option.defaultValue === 'string' && option.defaultValueDescription === undefined)
      option.defaultValueDescription = option.defaultValue;
  }
  command.showHelpAfterError(`(run poplift ${command.name()} --help for usage)`);
  return command;
}

/** Passwords, tokens and the POP3 login method (migrate and verify). */
export function addLoginOptions(command: Command): Command {
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
      new Option(
        '--pop3-auth <method>',
        'POP3 login: SASL PLAIN when offered else USER/PASS (auto), force one, or oauth: the sign-in poplift login stored',
      )
        .choices(['auto', 'plain', 'user', 'apop', 'oauth'])
        .default('auto'),
    )
    .addOption(
      new Option('--imap-auth <method>', 'IMAP login: the password or token given (auto), or oauth: the sign-in poplift login stored')
        .choices(['auto', 'oauth'])
        .default('auto'),
    )
    .option('--pop3-oauth-account <account>', "use this account's stored sign-in for POP3 (default: the URL's user)")
    .option(
      '--imap-oauth-account <account>',
      "use this account's stored sign-in for IMAP (default: the URL's user; an application's name for app-only access)",
    );
}

/** Certificates, the plaintext policy and the idle timeout (migrate and verify). */
export function addTlsOptions(command: Command): Command {
  return (
    command
      .option('--ca-file <pem>', 'trust the CAs in <pem> on both sides')
      .option('--pop3-ca-file <pem>', 'trust the CAs in <pem> for the POP3 server')
      .option('--imap-ca-file <pem>', 'trust the CAs in <pem> for the IMAP server')
      .option('--insecure', 'do not verify TLS certificates on either side (warns on every run)')
      .option('--pop3-insecure', 'do not verify the POP3 server certificate')
      .option('--imap-insecure', 'do not verify the IMAP server certificate')
      .option('--allow-plaintext', 'log in without TLS when a server offers no STARTTLS/STLS (always allowed on loopback)')
      // Together they would leave one silently ignored, and a refusal's advice (--allow-plaintext) useless.
      .addOption(new Option('--require-tls', 'refuse unencrypted logins even on loopback').conflicts('allowPlaintext'))
      .option(
        '--timeout <seconds>',
        'give up on a connection that sends nothing for this long, or does not finish an exchange within twice this',
        '60',
      )
      .option('--max-message-size <MiB>', 'leave (and report) a POP3 message larger than this on the server', '256')
  );
}

const SIZE_UNITS: Readonly<Record<string, number>> = {
  '': 1,
  B: 1,
  K: 1024,
  KB: 1024,
  KIB: 1024,
  M: 1024 ** 2,
  MB: 1024 ** 2,
  MIB: 1024 ** 2,
  G: 1024 ** 3,
  GB: 1024 ** 3,
  GIB: 1024 ** 3,
};

/** A size in octets from '500M', '2G', '1.5GB', '300k' or plain octets (K, M, G are powers of 1024). */
export function byteSize(text: string, name: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m ? SIZE_UNITS[m[2]!.toUpperCase()] : undefined;
  const bytes = m && unit !== undefined ? Math.floor(Number(m[1]) * unit) : NaN;
  if (!Number.isFinite(bytes) || bytes < 1) throw usageError(`${name} must be a size such as 500M or 2G, not '${text}'.`);
  return bytes;
}

/** An upload pace: octets per second ('2M', '2M/s') or messages per second ('4msg', '4msg/s'). */
export function rateLimit(text: string, name = '--rate'): RateLimit {
  const body = text.trim().replace(/\/s$/i, '');
  const messages = /^(\d+(?:\.\d+)?)\s*(?:msg|msgs|messages?)$/i.exec(body);
  if (messages) {
    const n = Number(messages[1]);
    if (n > 0) return { messagesPerSecond: n };
  } else {
    try {
      return { bytesPerSecond: byteSize(body, name) };
    } catch {
      // Reported below with both forms.
    }
  }
  throw usageError(`${name} must be octets per second such as 2M (or 2M/s), or messages per second such as 4msg, not '${text}'.`);
}

export function parseRunLimits(o: { maxBytesPerRun?: string | undefined; rate?: string | undefined }): RunLimits {
  return {
    maxBytesPerRun: o.maxBytesPerRun === undefined ? undefined : byteSize(o.maxBytesPerRun, '--max-bytes-per-run'),
    rate: o.rate === undefined ? undefined : rateLimit(o.rate),
  };
}
