/**
 * What became of each run of a mailbox, for `poplift status` and for alerts
 * that fire when a mailbox goes from healthy to failing and back, not on
 * every run. Per mailbox (POP3 mailbox, IMAP account and folder) two files
 * in the state directory: `history-<hash>.jsonl`, one line per run, cut to
 * the last HISTORY_RUNS; and `health-<hash>.json`, the running counts and
 * alert state, replaced whole by rename. Neither follows a link.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readNoFollow, replaceFile } from './private-file.js';
import { stateFsError } from './state-dir.js';

/** Runs kept per mailbox. */
export const HISTORY_RUNS = 100;

export interface MailboxRef {
  pop3: string;
  imap: string;
  folder: string;
}

export interface RunRecord {
  v: 1;
  mailbox: MailboxRef;
  /** migrate, a watch cycle, or a batch row. */
  mode: 'migrate' | 'watch' | 'batch';
  start: string;
  end: string;
  moved: number;
  /** Of those moved, the messages put into the junk folder (--junk); absent in records written before it was kept. */
  junk?: number;
  skipped: number;
  failed: number;
  deleted: number;
  exitCode: number;
  error?: { code: string; message: string } | undefined;
}

export interface MailboxHealth {
  v: 1;
  mailbox: MailboxRef;
  /** The lock stem of the POP3 mailbox, to tell whether a run holds it now. */
  lockStem?: string | undefined;
  lastRun?: RunRecord | undefined;
  lastSuccess?: string | undefined;
  lastError?: { at: string; code: string; message: string } | undefined;
  /** Runs in a row that failed (exit 1 to 4). */
  failures: number;
  /** An alert said the mailbox is failing and no recovery was announced since. */
  alerting: boolean;
  /** When a persistent failure was last told to the user (stderr under --quiet), ISO. */
  lastReported?: string | undefined;
  movedTotal: number;
  /** Messages moved per UTC day, the last few days. */
  movedByDay: Record<string, number>;
  /** A watch's next poll, ISO. */
  nextPoll?: string | undefined;
}

/** Exit codes that mean the mailbox is not being served: failed messages, configuration, login, connection. */
export function isFailure(exitCode: number): boolean {
  return exitCode >= 1 && exitCode <= 4;
}

function files(stateDir: string, stem: string): { history: string; health: string } {
  return { history: join(stateDir, `history-${stem}.jsonl`), health: join(stateDir, `health-${stem}.json`) };
}

/** The file's bytes, or undefined when it does not exist. */
function readState(path: string): Buffer | undefined {
  try {
    return readNoFollow(path)?.content;
  } catch (err) {
    throw stateFsError(err, path, 'read');
  }
}

export function readHistory(stateDir: string, stem: string): RunRecord[] {
  const text = readState(files(stateDir, stem).history)?.toString('utf8') ?? '';
  const runs: RunRecord[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    try {
      const record = JSON.parse(line) as Partial<RunRecord> | null;
      if (record?.v === 1) runs.push(record as RunRecord);
    } catch {
      // A line cut by a crash: the others still tell the story.
    }
  }
  return runs;
}

export function readHealth(stateDir: string, stem: string): MailboxHealth | undefined {
  const text = readState(files(stateDir, stem).health)?.toString('utf8');
  if (text === undefined) return undefined;
  try {
    const health = JSON.parse(text) as Partial<MailboxHealth> | null;
    return health?.v === 1 ? (health as MailboxHealth) : undefined;
  } catch {
    return undefined;
  }
}

/** Every mailbox with a history in `stateDir`, by its stem. */
export function knownMailboxes(stateDir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(stateDir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw stateFsError(err, stateDir, 'read');
  }
  return names.filter((n) => /^health-[0-9a-f]+\.json$/.test(n)).map((n) => n.slice('health-'.length, -'.json'.length));
}

export interface Transition {
  /** failing: the mailbox just went from healthy to failing; recovered: back. */
  kind: 'failing' | 'recovered';
  health: MailboxHealth;
}

/**
 * Appends the run to the history and updates the health; returns the
 * transition an alert should announce, if this run made one. A mailbox is
 * failing after `notifyAfter` failed runs in a row, or at once when a
 * server refused the login (a changed password does not cure itself).
 */
export function recordRun(
  stateDir: string,
  stem: string,
  run: RunRecord,
  settings: { notifyAfter: number; lockStem?: string | undefined },
): Transition | undefined {
  const paths = files(stateDir, stem);
  const previous = readHistory(stateDir, stem);
  const kept = [...previous, run].slice(-HISTORY_RUNS);
  replaceFile(paths.history, kept.map((r) => `${JSON.stringify(r)}\n`).join(''));

  const health: MailboxHealth = readHealth(stateDir, stem) ?? {
    v: 1,
    mailbox: run.mailbox,
    failures: 0,
    alerting: false,
    movedTotal: 0,
    movedByDay: {},
  };
  health.mailbox = run.mailbox;
  if (settings.lockStem !== undefined) health.lockStem = settings.lockStem;
  health.lastRun = run;
  health.movedTotal += run.moved;
  const day = run.end.slice(0, 10);
  health.movedByDay[day] = (health.movedByDay[day] ?? 0) + run.moved;
  for (const d of Object.keys(health.movedByDay).sort().slice(0, -7)) delete health.movedByDay[d];
  let transition: Transition['kind'] | undefined;
  if (isFailure(run.exitCode)) {
    health.failures++;
    if (run.error !== undefined) health.lastError = { at: run.end, ...run.error };
    const loginRefused = run.exitCode === 3;
    if (!health.alerting && (health.failures >= settings.notifyAfter || loginRefused)) {
      health.alerting = true;
      transition = 'failing';
    }
  } else if (run.exitCode === 0 || run.exitCode === 6) {
    health.failures = 0;
    if (run.exitCode === 0) health.lastSuccess = run.end;
    if (health.alerting) {
      health.alerting = false;
      health.lastReported = undefined;
      transition = 'recovered';
    }
  }
  replaceFile(paths.health, `${JSON.stringify(health)}\n`);
  return transition === undefined ? undefined : { kind: transition, health };
}

/**
 * Whether a failure of a mailbox already known to be failing should be told
 * again on stderr under --quiet: on the transition, then at most once a day.
 */
export function shouldReport(stateDir: string, stem: string, now: Date): boolean {
  const health = readHealth(stateDir, stem);
  if (health === undefined || !health.alerting) return true;
  if (health.lastReported !== undefined && now.getTime() - Date.parse(health.lastReported) < 24 * 3600 * 1000) return false;
  health.lastReported = now.toISOString();
  replaceFile(files(stateDir, stem).health, `${JSON.stringify(health)}\n`);
  return true;
}

export function setNextPoll(stateDir: string, stem: string, at: Date | undefined): void {
  const health = readHealth(stateDir, stem);
  if (health === undefined) return;
  health.nextPoll = at?.toISOString();
  replaceFile(files(stateDir, stem).health, `${JSON.stringify(health)}\n`);
}
