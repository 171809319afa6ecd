/**
 * Every run of a mailbox (migrate, a watch cycle, a batch row) ends here:
 * its record goes into the mailbox's history, and a change between healthy
 * and failing runs --notify-command once, with the details in environment
 * variables and as JSON on its standard input (never a password).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { jsonLine } from '../display-text.js';
import { PopliftError, usageError } from '../errors.js';
import type { MigrationSummary } from '../engine/summary.js';
import { recordRun, shouldReport, type MailboxRef, type RunRecord, type Transition } from '../state/history.js';
import { ensureStateDirectory } from '../state/state-dir.js';
import { wholeNumber } from './options.js';
import { withoutSecrets } from './secrets.js';

export interface NotifyCliOptions {
  notifyCommand?: string;
  notifyAfter?: string;
}

export interface RunContext {
  stateDir: string;
  mode: RunRecord['mode'];
  mailbox: MailboxRef;
  lockStem?: string | undefined;
  start: Date;
  options: NotifyCliOptions;
  warn: (message: string) => void;
}

/** The file stem of a mailbox's history: one per POP3 mailbox, IMAP account and folder. */
export function historyStem(mailbox: MailboxRef): string {
  return createHash('sha256').update(`${mailbox.pop3}\n${mailbox.imap}\n${mailbox.folder}`).digest('hex').slice(0, 24);
}

/** How long a notify command may run before it is stopped. */
const NOTIFY_TIMEOUT_MS = 60_000;

function runNotify(command: string, transition: Transition, record: RunRecord, warn: (m: string) => void): Promise<void> {
  const { health } = transition;
  const payload = {
    event: transition.kind,
    mailbox: health.mailbox,
    exitCode: record.exitCode,
    error: record.error,
    failures: health.failures,
    moved: record.moved,
    failed: record.failed,
    lastSuccess: health.lastSuccess,
    at: record.end,
  };
  const env = {
    ...withoutSecrets(process.env),
    POPLIFT_NOTIFY_EVENT: transition.kind,
    POPLIFT_NOTIFY_MAILBOX: `${health.mailbox.pop3} → ${health.mailbox.imap} ${health.mailbox.folder}`,
    POPLIFT_NOTIFY_POP3: health.mailbox.pop3,
    POPLIFT_NOTIFY_IMAP: health.mailbox.imap,
    POPLIFT_NOTIFY_FOLDER: health.mailbox.folder,
    POPLIFT_NOTIFY_EXIT_CODE: String(record.exitCode),
    POPLIFT_NOTIFY_ERROR_CODE: record.error?.code ?? '',
    POPLIFT_NOTIFY_ERROR: record.error?.message ?? '',
    POPLIFT_NOTIFY_FAILURES: String(health.failures),
    POPLIFT_NOTIFY_MOVED: String(record.moved),
    POPLIFT_NOTIFY_FAILED: String(record.failed),
    POPLIFT_NOTIFY_LAST_SUCCESS: health.lastSuccess ?? '',
  };
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', command], { env, stdio: ['pipe', 'ignore', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), NOTIFY_TIMEOUT_MS);
    child.stdin.on('error', () => undefined);
    child.stdin.end(jsonLine(payload));
    child.on('error', (err) => {
      clearTimeout(timer);
      warn(`The notify command could not be started (${err.message}).`);
      resolve();
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) warn(`The notify command ended with ${signal ?? `exit code ${String(code)}`}.`);
      resolve();
    });
  });
}

export function notifyAfter(o: NotifyCliOptions): number {
  return o.notifyAfter === undefined ? 2 : wholeNumber(o.notifyAfter, '--notify-after', 1);
}

/** Checks the notify options before anything runs (a usage error, exit 2). */
export function checkNotifyOptions(o: NotifyCliOptions): void {
  notifyAfter(o);
  if (o.notifyCommand?.trim() === '') throw usageError('--notify-command is empty.');
}

/** Errors already told to the user within the day: under --quiet main prints them to the log file only. */
const alreadyReported = new WeakSet<object>();

export function markAlreadyReported(err: unknown): void {
  if (typeof err === 'object' && err !== null) alreadyReported.add(err);
}

export function wasAlreadyReported(err: unknown): boolean {
  return typeof err === 'object' && err !== null && alreadyReported.has(err);
}

export interface RecordedRun {
  transition: Transition | undefined;
  /** Under --quiet: whether this failure is to be shown (on the transition, then at most once a day). */
  report: boolean;
}

/** Records how the run ended; never throws (a run's own outcome matters more than its history). */
export async function recordOutcome(
  context: RunContext,
  outcome: { summary?: MigrationSummary | undefined; exitCode: number; error?: unknown },
): Promise<RecordedRun> {
  const { summary, exitCode, error } = outcome;
  const record: RunRecord = {
    v: 1,
    mailbox: context.mailbox,
    mode: context.mode,
    start: context.start.toISOString(),
    end: new Date().toISOString(),
    moved: summary?.appended ?? 0,
    junk: summary?.junk ?? 0,
    skipped: summary?.duplicates ?? 0,
    failed: summary?.failed ?? 0,
    deleted: summary?.deleted ?? 0,
    exitCode,
    error:
      error instanceof PopliftError
        ? { code: error.code, message: error.message }
        : error instanceof Error
          ? { code: 'ERROR', message: error.message }
          : exitCode === 1 && summary !== undefined
            ? { code: 'MESSAGES_FAILED', message: `${summary.failed} message(s) failed` }
            : undefined,
  };
  const stem = historyStem(context.mailbox);
  try {
    ensureStateDirectory(context.stateDir);
  } catch {
    // A state directory that cannot be used stopped the run itself, and its error says so.
    return { transition: undefined, report: true };
  }
  try {
    const transition = recordRun(context.stateDir, stem, record, { notifyAfter: notifyAfter(context.options), lockStem: context.lockStem });
    if (transition !== undefined && context.options.notifyCommand !== undefined)
      await runNotify(context.options.notifyCommand, transition, record, context.warn);
    return { transition, report: shouldReport(context.stateDir, stem, new Date()) };
  } catch (err) {
    // A run stopped by its state directory (read-only, full) has said so already.
    if (!(error instanceof PopliftError && error.code === 'STATE'))
      context.warn(`Could not record this run in the state directory: ${(err as Error).message}`);
    return { transition: undefined, report: true };
  }
}
