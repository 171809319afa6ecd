/**
 * poplift migrate: checks the options (planMigrate), then runs one mailbox
 * with its lock, journal and output (executeMigrate, shared with batch).
 */
import { jsonLine } from '../display-text.js';
import { join } from 'node:path';
import { PopliftError, signalExitCode } from '../errors.js';
import { migrateMailbox, type MigrateHooks, type MigrateOptions } from '../engine/migrate.js';
import { summaryExitCode, type MigrationSummary } from '../engine/summary.js';
import { adoptLegacyJournal, legacyJournalBelongs, loadJournal, JournalWriter } from '../state/journal.js';
import { MailboxLock } from '../state/lock.js';
import { MachineLock } from '../state/machine-lock.js';
import { mailboxIdentity } from '../state/mailbox-identity.js';
import { ensureStateDirectory, journalName, legacyJournalName, lockStem, stateDirectory, type StateEndpoint } from '../state/state-dir.js';
import { connectionEndpoints, label } from './connections.js';
import { withLoginStatus } from './login-status.js';
import type { MigrateCliOptions } from './migrate-options.js';
import type { CliIo } from './cli-io.js';
import {
  folderLevels,
  labelsOf,
  parseFlagListOrUsage,
  parseJunk,
  positiveNumber,
  timeoutMs,
  wholeNumber,
  type JunkChoice,
} from './options.js';
import { mailboxLabel, Output, outputSettings, summaryLine } from './output.js';
import { parseServerUrl, type ServerUrl } from './server-url.js';
import { formatSummary } from './summary-output.js';
import { migrateJson } from './json-result.js';
import { checkNotifyOptions, markAlreadyReported, recordOutcome, type NotifyCliOptions, type RunContext } from './run-record.js';

export type { MigrateCliOptions } from './migrate-options.js';

/** SIGINT/SIGTERM ask the engine to stop taking messages; a second signal leaves at once. */
export function watchSignals(onForcedExit?: (sig: NodeJS.Signals) => void): {
  stop: () => boolean;
  signal: () => NodeJS.Signals | undefined;
  dispose: () => void;
} {
  let received: NodeJS.Signals | undefined;
  const handler = (sig: NodeJS.Signals) => {
    if (received) {
      onForcedExit?.(sig);
      process.exit(signalExitCode(sig));
    }
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
  maxSessions: number;
  /** --max-sessions was given: further sessions are opened whatever the first listing shows. */
  lookForMore: boolean;
  batchMessages: number;
  /** The POP3 mailbox's identity (mailboxIdentity) when the caller resolved it already, as batch does. */
  pop3Identity?: string;
  /** --junk: where messages the source marked as spam go ('off': with the rest). */
  junk: JunkChoice;
  /** --label: Gmail labels every uploaded message gets. */
  labels: string[];
}

/** Most POP3 sessions a run opens when the user did not say (Gmail: 50 windows of about 250 messages). */
const DEFAULT_MAX_SESSIONS = 50;

function stateEndpoint(url: ServerUrl): StateEndpoint {
  return { scheme: `${url.side.toLowerCase()}${url.tls === 'implicit' ? 's' : ''}`, host: url.host, port: url.port, user: url.user };
}

/**
 * Checks every migrate option that can be checked without the network; throws a usage error (exit 2).
 * `junkDefault`: --junk when not given (off for migrate and batch, auto for the polling modes).
 */
export function planMigrate(pop3Text: string, imapText: string, o: MigrateCliOptions, junkDefault: 'off' | 'auto' = 'off'): MigratePlan {
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
    timeoutMs: timeoutMs(o.timeout),
    maxInflight: positiveNumber(o.maxInflight, '--max-inflight') * 1024 * 1024,
    retries: wholeNumber(o.retries, '--retries', 0),
    maxErrors: o.maxErrors === undefined ? undefined : wholeNumber(o.maxErrors, '--max-errors', 1),
    deleteEvery: wholeNumber(o.deleteEvery, '--delete-every', 1),
    maxSessions: o.maxSessions === undefined ? DEFAULT_MAX_SESSIONS : wholeNumber(o.maxSessions, '--max-sessions', 1),
    lookForMore: o.maxSessions !== undefined,
    batchMessages: wholeNumber(o.batchMessages, '--batch-messages', 1),
    junk: parseJunk(o.junk ?? junkDefault),
    labels: labelsOf(o),
  };
}

/** What a caller (migrate, or one row of a batch) hears from a running migration. */
export type MigrateRunHooks = Pick<MigrateHooks, 'warn' | 'onListed' | 'onProgress' | 'onFailure' | 'stopRequested'> & {
  /** What the connections are doing until the mailbox is listed ("connecting to …"). */
  status?: (text: string) => void;
  /** The lock stem of the POP3 mailbox, once known (poplift status tells from it whether a run holds it). */
  lockStem?: (stem: string) => void;
};

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
  const reached = await connectionEndpoints(pop3, imap, o, plan.timeoutMs, io, warn);
  const endpoints = hooks.status ? withLoginStatus(reached, hooks.status, 'logged in to both servers; listing …') : reached;

  // State: one lock per source mailbox, one journal per mailbox + folder pair. A dry run writes nothing.
  const stateDir = stateDirectory(o.stateDir, io.env);
  const folder = levels.join('/');
  const journalPath = join(stateDir, journalName(stateEndpoint(pop3), stateEndpoint(imap), folder));
  const legacyPath = join(stateDir, legacyJournalName(stateEndpoint(pop3), stateEndpoint(imap), folder));
  const pair = { pop3: endpoints.sourceLabel, imap: endpoints.destinationLabel, folder };
  let lock: MailboxLock | undefined;
  let machineLock: MachineLock | undefined;
  let writer: JournalWriter | undefined;
  if (!o.dryRun) {
    ensureStateDirectory(stateDir);
    // Keyed by the mailbox as the server sees it (address, port, user), so two spellings of one host never run at once.
    const identity = plan.pop3Identity ?? (await mailboxIdentity(pop3, plan.timeoutMs));
    hooks.lockStem?.(lockStem(identity));
    // The machine-wide lock first: runs with other state directories (another user, another HOME) see only that one.
    machineLock = await MachineLock.acquire(lockStem(identity), endpoints.sourceLabel);
    try {
      lock = MailboxLock.acquire(join(stateDir, lockStem(identity)), endpoints.sourceLabel, warn);
      machineLock.holds(lock.path);
      adoptLegacyJournal(legacyPath, journalPath, pair);
    } catch (err) {
      lock?.release();
      machineLock.release();
      throw err;
    }
  }
  /** Writers of the junk folder's journal (opened once the engine knows that folder). */
  const junkWriters: JournalWriter[] = [];
  try {
    // A dry run renames nothing, but reads an older journal that a real run would adopt.
    const state = loadJournal(o.dryRun && legacyJournalBelongs(legacyPath, journalPath, pair) ? legacyPath : journalPath);
    if (state.badLines > 0)
      warn(
        `The journal ${journalPath} has ${state.badLines} unreadable line(s); those messages are checked against the destination again.`,
      );
    if (!o.dryRun) {
      writer = new JournalWriter(journalPath);
      if (state.done.size === 0 && state.folder === undefined) {
        writer.begin({ t: 'pair', pop3: endpoints.sourceLabel, imap: endpoints.destinationLabel, folder, at: new Date().toISOString() });
      }
    }
    // The junk folder has its own journal, as a run into that folder alone would.
    const junkJournal = (junkLevels: readonly string[]): MigrateOptions['journal'] => {
      const junkFolder = junkLevels.join('/');
      const path = join(stateDir, journalName(stateEndpoint(pop3), stateEndpoint(imap), junkFolder));
      const junkState = loadJournal(path);
      if (junkState.badLines > 0)
        warn(`The journal ${path} has ${junkState.badLines} unreadable line(s); those messages are checked against the destination again.`);
      if (o.dryRun) return { state: junkState, writer: undefined };
      const junkWriter = new JournalWriter(path);
      junkWriters.push(junkWriter);
      if (junkState.done.size === 0 && junkState.folder === undefined) {
        const at = new Date().toISOString();
        junkWriter.begin({ t: 'pair', pop3: endpoints.sourceLabel, imap: endpoints.destinationLabel, folder: junkFolder, at });
      }
      return { state: junkState, writer: junkWriter };
    };
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
      retryFailed: Boolean(o.retryFailed),
      recopyMissing: Boolean(o.recopyMissing),
      backoffMs: 1000,
      maxErrors: plan.maxErrors,
      delete: Boolean(o.delete),
      deleteEvery: plan.deleteEvery,
      maxSessions: plan.maxSessions,
      lookForMore: plan.lookForMore,
      journal: { state, writer },
      junk: plan.junk === 'off' ? undefined : { folder: plan.junk, journal: junkJournal },
    };
    const summary = await migrateMailbox(endpoints, options, hooks);
    return { summary, exitCode: summaryExitCode(summary) };
  } finally {
    writer?.close();
    for (const w of junkWriters) w.close();
    lock?.release();
    machineLock?.release();
  }
}

/** How a mailbox is named in its progress lines and bar (summaryLine names it the same way from the summary). */
export function mailboxName(plan: MigratePlan): string {
  return mailboxLabel(plan.pop3Label, plan.imapLabel, plan.levels.join('/'));
}

/** What a progress bar calls a mailbox, short enough to leave room for the bar on 80 columns. */
export function shortLabel(plan: MigratePlan): string {
  return `${plan.pop3.user} → ${plan.levels.join('/')}`;
}

/** What a run records in its mailbox's history, or undefined for a dry run (which writes nothing). */
export function runContext(
  plan: MigratePlan,
  o: MigrateCliOptions & NotifyCliOptions,
  io: CliIo,
  mode: RunContext['mode'],
  warn: (m: string) => void,
): RunContext | undefined {
  if (o.dryRun) return undefined;
  return {
    stateDir: stateDirectory(o.stateDir, io.env),
    mode,
    mailbox: { pop3: plan.pop3Label, imap: plan.imapLabel, folder: plan.levels.join('/') },
    start: new Date(),
    options: o,
    warn,
  };
}

/** A run stopped because another one is moving this mailbox: nothing is wrong, and under --quiet nothing is said. */
export function lockedByAnotherRun(err: unknown): boolean {
  // LOCKED also says a mailbox is named twice in one run: that is a mistake to show, not a run to leave alone.
  return err instanceof PopliftError && err.code === 'LOCKED' && !err.message.startsWith('This poplift process');
}

export async function runMigrate(pop3Text: string, imapText: string, o: MigrateCliOptions & NotifyCliOptions, io: CliIo): Promise<number> {
  const plan = planMigrate(pop3Text, imapText, o);
  checkNotifyOptions(o);
  const output = new Output(io.stderr, { ...outputSettings(o, io.stderr, false, 'when-listed'), endLine: false });
  // A second signal leaves at once: the bar ends on its own line, and a line says what became of the run.
  const signals = watchSignals((sig) => {
    output.close();
    output.error(`stopped at once by a second ${sig}; what was recorded before it is kept: run poplift again to go on.`);
  });
  const id = 0;
  const warn = (message: string) => output.warn(message);
  const context = runContext(plan, o, io, 'migrate', warn);
  try {
    output.mailboxStarted(id, mailboxName(plan), shortLabel(plan));
    const { summary, exitCode } = await executeMigrate(plan, o, io, {
      warn,
      status: (text) => output.mailboxStatus(id, text),
      onListed: (e) => output.mailboxListed(id, e),
      onProgress: (e) => output.mailboxProgress(id, e),
      stopRequested: signals.stop,
      lockStem: (stem) => {
        if (context) context.lockStem = stem;
      },
    });
    const result = summaryLine(summary);
    output.mailboxEnded(id, result, exitCode === 0);
    output.close();
    const sig = signals.signal();
    const code = sig ? signalExitCode(sig) : exitCode;
    const recorded = context && !sig ? await recordOutcome(context, { summary, exitCode: code }) : undefined;
    if (o.json) io.stdout.write(jsonLine(migrateJson(summary, code, sig)));
    const changed = summary.appended > 0 || summary.deleted > 0 || summary.wouldAppend.length > 0 || summary.wouldDelete.length > 0;
    output.final(formatSummary(summary), result, {
      changed,
      ok: code === 0,
      alreadyReported: recorded?.report === false,
      shortText: formatSummary(summary, Boolean(o.list)),
    });
    return code;
  } catch (err) {
    output.close();
    if (err instanceof Error) output.logOnly(`poplift: ${err.message}`);
    if (context && !lockedByAnotherRun(err)) {
      const recorded = await recordOutcome(context, { exitCode: err instanceof PopliftError ? err.exitCode : 1, error: err });
      if (output.quiet && !recorded.report) markAlreadyReported(err);
    }
    if (output.quiet && lockedByAnotherRun(err)) markAlreadyReported(err);
    throw err;
  } finally {
    signals.dispose();
    output.close();
  }
}
