/**
 * poplift's public JSON, defined once: the final object of `migrate` and
 * `verify --json` (batch prints it as its last JSON line, the summary
 * event, also when the run ends in an error), batch's events, and `status
 * --json`. Each shape is a type here, filled field by field from the
 * engine's internal summaries, so that renaming an internal field cannot
 * change the public schema. Scripts branch on `status` and `error.code`; both
 * are stable, and `schema` changes when a field changes meaning or goes away
 * (docs/usage.md "JSON output").
 */
import { ExitCode, PopliftError, adviceOf, type Side } from '../errors.js';
import type { DuplicateReport, FailureReport, MigrationSummary, PlannedAppend } from '../engine/summary.js';
import type { ServerChange, VerifyNote, VerifyProblem, VerifyProblemKind, VerifyReport } from '../engine/verify.js';
import type { MailboxHealth, RunRecord } from '../state/history.js';

export const JSON_SCHEMA = 2;

/** The schema of `poplift status --json`. */
export const STATUS_SCHEMA = 1;

export type RunStatus = 'ok' | 'partial' | 'stopped' | 'usage' | 'auth' | 'connect' | 'locked' | 'later';

/** The status a run with this exit code ended in; `stopped` when a mailbox was stopped early with exit 1. */
export function runStatus(exitCode: number, stopped = false): RunStatus {
  switch (exitCode) {
    case ExitCode.OK:
      return 'ok';
    case ExitCode.USAGE:
      return 'usage';
    case ExitCode.AUTH:
      return 'auth';
    case ExitCode.CONNECT:
      return 'connect';
    case ExitCode.LOCKED:
      return 'locked';
    case ExitCode.LATER:
      return 'later';
    case 130:
    case 143:
      return 'stopped';
    default:
      return stopped ? 'stopped' : 'partial';
  }
}

/** Seconds to the millisecond: enough for any script, without float noise. */
export function roundSeconds(seconds: number): number {
  return Math.round(seconds * 1000) / 1000;
}

export type StopCode = 'INTERRUPTED' | 'MAX_ERRORS' | 'OVER_QUOTA' | 'INCOMPLETE' | 'STOPPED' | 'RUN_LATER';

/** Why a mailbox was stopped early, as a stable code: the engine's stopReason ('max-errors' becomes MAX_ERRORS). */
export function stopCode(summary: MigrationSummary, signal: NodeJS.Signals | undefined): StopCode | undefined {
  if (summary.stopReason !== undefined) return summary.stopReason.toUpperCase().replace(/-/g, '_') as StopCode;
  if (signal !== undefined) return 'INTERRUPTED';
  return summary.stopped === undefined ? undefined : 'STOPPED';
}

/** `error`: why a run (or a batch row) ended in an error. `code` is one of errors.ts's codes, or FAILED for an unexpected error. */
export interface ErrorJson {
  code: string;
  message: string;
  /** The next step, as the error code table gives it (absent for an unexpected error). */
  advice?: string;
  side?: Side;
  server?: string;
}

/** `stopped`: why a mailbox was stopped early. */
export interface StoppedJson {
  code: StopCode;
  message: string | undefined;
}

interface Envelope {
  schema: typeof JSON_SCHEMA;
  status: RunStatus;
  exitCode: number;
}

export interface DuplicateJson {
  uidl: string;
  key: string;
  keptIn: 'destination' | 'this-run';
  keptAs: string;
  keptUid?: number;
  sizeDiffers: boolean;
}

export interface FailureJson {
  uidl: string;
  side: Side;
  reason: string;
}

export interface PlannedAppendJson {
  uidl: string;
  key: string;
  size: number;
  flags: string[];
  date?: string;
}

export interface WindowJson {
  server: string;
  limit: number;
  advice: string;
  listed: number;
  reportedBefore: boolean;
}

export interface MigrateJson extends Envelope {
  command: 'migrate';
  pop3: string;
  imap: string;
  folder: string;
  dryRun: boolean;
  found: number;
  appended: number;
  /** Of `appended`, those put into the junk folder (--junk). */
  junk: number;
  duplicates: number;
  failed: number;
  storedChanged: number;
  changedList: FailureJson[];
  bytes: number;
  seconds: number;
  serverDates: number;
  duplicateList: DuplicateJson[];
  failures: FailureJson[];
  wouldAppend: PlannedAppendJson[];
  deleted: number;
  wouldDelete: string[];
  knownFromJournal: number;
  missingFromFolder: number;
  /** What the destination was recognised as, when that changed how it was treated. */
  destinationKind?: string;
  sessions: number;
  reconnects: number;
  /** The junk folder messages were put into (--junk), or null. */
  junkFolder: string | null;
  window: WindowJson | null;
  stopped: StoppedJson | null;
  warnings: string[];
}

export interface VerifyProblemJson {
  problem: VerifyProblemKind;
  uidl: string;
  number: number;
  size: number;
  key?: string;
  subject?: string;
  date?: string;
  copies: Array<{ uid: number; size: number }>;
  detail: string;
}

export interface VerifyNoteJson {
  note: 'server-changed' | 'not-compared';
  uidl: string;
  number: number;
  subject?: string;
  date?: string;
  uid?: number;
  changes: ServerChange[];
  detail: string;
}

export interface VerifyJson extends Envelope {
  command: 'verify';
  pop3: string;
  imap: string;
  folder: string;
  deep: boolean;
  read: 'TOP' | 'RETR';
  folderExists: boolean;
  found: number;
  folderMessages: number;
  present: number;
  missing: number;
  altered: number;
  /** With --junk: the junk folder looked in (null: none), and how many of `present` are there. */
  junkFolder: string | null;
  inJunk: number;
  serverChanged: number;
  serverChanges: Partial<Record<ServerChange, number>>;
  problems: VerifyProblemJson[];
  notes: VerifyNoteJson[];
  warnings: string[];
  seconds: number;
}

export interface ErrorResultJson extends Envelope {
  command?: string;
  error: ErrorJson;
}

const failure = (f: FailureReport): FailureJson => ({ uidl: f.uidl, side: f.side, reason: f.reason });

const duplicate = (d: DuplicateReport): DuplicateJson => ({
  uidl: d.uidl,
  key: d.key,
  keptIn: d.keptIn,
  keptAs: d.keptAs,
  keptUid: d.keptUid,
  sizeDiffers: d.sizeDiffers,
});

const planned = (p: PlannedAppend): PlannedAppendJson => ({ uidl: p.uidl, key: p.key, size: p.size, flags: [...p.flags], date: p.date });

export function migrateJson(summary: MigrationSummary, exitCode: number, signal: NodeJS.Signals | undefined): MigrateJson {
  const code = stopCode(summary, signal);
  const s = summary;
  const w = s.window;
  return {
    schema: JSON_SCHEMA,
    command: 'migrate',
    status: runStatus(exitCode, code !== undefined),
    exitCode,
    pop3: s.pop3,
    imap: s.imap,
    folder: s.folder,
    dryRun: s.dryRun,
    found: s.found,
    appended: s.appended,
    junk: s.junk,
    duplicates: s.duplicates,
    failed: s.failed,
    storedChanged: s.storedChanged,
    changedList: s.changedList.map(failure),
    bytes: s.bytes,
    seconds: roundSeconds(s.seconds),
    serverDates: s.serverDates,
    duplicateList: s.duplicateList.map(duplicate),
    failures: s.failures.map(failure),
    wouldAppend: s.wouldAppend.map(planned),
    deleted: s.deleted,
    wouldDelete: [...s.wouldDelete],
    knownFromJournal: s.knownFromJournal,
    missingFromFolder: s.missingFromFolder,
    destinationKind: s.destinationKind,
    sessions: s.sessions,
    reconnects: s.reconnects,
    junkFolder: s.junkFolder ?? null,
    window:
      w === undefined ? null : { server: w.server, limit: w.limit, advice: w.advice, listed: w.listed, reportedBefore: w.reportedBefore },
    stopped: code === undefined ? null : { code, message: s.stopped },
    warnings: [...s.warnings],
  };
}

const problem = (p: VerifyProblem): VerifyProblemJson => ({
  problem: p.problem,
  uidl: p.uidl,
  number: p.number,
  size: p.size,
  key: p.key,
  subject: p.subject,
  date: p.date,
  copies: p.copies.map((c) => ({ uid: c.uid, size: c.size })),
  detail: p.detail,
});

const note = (n: VerifyNote): VerifyNoteJson => ({
  note: n.note,
  uidl: n.uidl,
  number: n.number,
  subject: n.subject,
  date: n.date,
  uid: n.uid,
  changes: [...n.changes],
  detail: n.detail,
});

export function verifyJson(report: VerifyReport, exitCode: number): VerifyJson {
  const r = report;
  return {
    schema: JSON_SCHEMA,
    command: 'verify',
    status: runStatus(exitCode),
    exitCode,
    pop3: r.pop3,
    imap: r.imap,
    folder: r.folder,
    deep: r.deep,
    read: r.read,
    folderExists: r.folderExists,
    found: r.found,
    folderMessages: r.folderMessages,
    present: r.present,
    missing: r.missing,
    altered: r.altered,
    junkFolder: r.junkFolder,
    inJunk: r.inJunk,
    serverChanged: r.serverChanged,
    serverChanges: { ...r.serverChanges },
    problems: r.problems.map(problem),
    notes: r.notes.map(note),
    warnings: [...r.warnings],
    seconds: roundSeconds(r.seconds),
  };
}

const FALLBACK_CODES: Readonly<Record<number, string>> = { 1: 'FAILED', 2: 'USAGE', 3: 'AUTH', 4: 'CONNECT', 5: 'LOCKED', 6: 'LATER' };

/** `error` of a run or batch row that ended in this error. */
export function errorFields(err: unknown, exitCode: number): ErrorJson {
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof PopliftError)) return { code: FALLBACK_CODES[exitCode] ?? 'FAILED', message };
  return {
    code: err.code,
    message,
    advice: adviceOf(err.code),
    ...(err.side ? { side: err.side } : {}),
    ...(err.server ? { server: err.server } : {}),
  };
}

/** The exit code of a run or batch row that ended in this error. */
export function errorExitCode(err: unknown): number {
  return err instanceof PopliftError ? err.exitCode : ExitCode.PARTIAL;
}

/** The final object of a run that ended in an error instead of a summary. */
export function errorJson(command: string | undefined, err: unknown, exitCode: number): ErrorResultJson {
  return {
    schema: JSON_SCHEMA,
    ...(command ? { command } : {}),
    status: runStatus(exitCode),
    exitCode,
    error: errorFields(err, exitCode),
  };
}

/** Where a batch event happened: the row and the mailbox it names. */
export interface BatchRowJson {
  line: number;
  row: number;
  pop3: string;
  imap: string;
  folder: string;
}

export interface BatchStartEvent extends BatchRowJson {
  event: 'start';
}

export interface BatchMessageFailedEvent extends BatchRowJson, FailureJson {
  event: 'message-failed';
}

export interface BatchMessageProblemEvent extends BatchRowJson, VerifyProblemJson {
  event: 'message-problem';
}

/**
 * The end of one row: `status`, `exitCode` and `error` (when the row ended
 * in an error) in the vocabulary of migrate's and verify's final object;
 * `stopped` when the mailbox was stopped early.
 */
interface BatchEndEvent extends BatchRowJson {
  event: 'end';
  status: RunStatus;
  exitCode: number;
  ok: boolean;
  error?: ErrorJson;
  seconds: number;
}

export interface BatchMigrateEndEvent extends BatchEndEvent {
  stopped?: StoppedJson;
  found: number;
  appended: number;
  junk: number;
  duplicates: number;
  failed: number;
  bytes: number;
  deleted: number;
  dryRun: boolean;
}

export interface BatchVerifyEndEvent extends BatchEndEvent {
  found: number;
  present: number;
  missing: number;
  altered: number;
  serverChanged: number;
}

export interface BatchSummaryEvent {
  event: 'summary';
  schema: typeof JSON_SCHEMA;
  status: RunStatus;
  exitCode: number;
  mailboxes: number;
  seconds: number;
}

export interface BatchMigrateSummaryEvent extends BatchSummaryEvent {
  succeeded: number;
  failed: number;
  notStarted: number;
  skippedRows: number;
  found: number;
  appended: number;
  junk: number;
  duplicates: number;
  failedMessages: number;
  bytes: number;
  deleted: number;
  shard?: string;
}

export interface BatchVerifySummaryEvent extends BatchSummaryEvent {
  verify: true;
  allThere: number;
  notAllThere: number;
  found: number;
  present: number;
  missing: number;
  altered: number;
  serverChanged: number;
}

/** The summary event of a batch that started nothing: bad rows, or an error before the rows ran. */
export interface BatchErrorSummaryEvent extends ErrorResultJson {
  event: 'summary';
}

export type BatchEvent =
  | BatchStartEvent
  | BatchMessageFailedEvent
  | BatchMessageProblemEvent
  | BatchMigrateEndEvent
  | BatchVerifyEndEvent
  | BatchMigrateSummaryEvent
  | BatchVerifySummaryEvent
  | BatchErrorSummaryEvent;

/** How a batch row ended, as batch-command.ts knows it. */
export interface BatchRowOutcome {
  where: BatchRowJson;
  exitCode: number;
  ok: boolean;
  seconds: number;
  /** Set when the row ended in an error instead of a summary. */
  error?: unknown;
}

function endFields(o: BatchRowOutcome, stopped: boolean): BatchEndEvent {
  return {
    event: 'end',
    ...o.where,
    status: runStatus(o.exitCode, stopped),
    exitCode: o.exitCode,
    ok: o.ok,
    ...(o.error === undefined ? {} : { error: errorFields(o.error, o.exitCode) }),
    seconds: roundSeconds(o.seconds),
  };
}

export function batchMigrateEnd(o: BatchRowOutcome, summary: MigrationSummary | undefined, dryRun: boolean): BatchMigrateEndEvent {
  const code = summary === undefined ? undefined : stopCode(summary, undefined);
  const s = summary;
  return {
    ...endFields(o, code !== undefined),
    ...(code === undefined ? {} : { stopped: { code, message: s?.stopped } }),
    found: s?.found ?? 0,
    appended: s?.appended ?? 0,
    junk: s?.junk ?? 0,
    duplicates: s?.duplicates ?? 0,
    failed: s?.failed ?? 0,
    bytes: s?.bytes ?? 0,
    deleted: s?.deleted ?? 0,
    dryRun: s?.dryRun ?? dryRun,
  };
}

export function batchVerifyEnd(o: BatchRowOutcome, report: VerifyReport | undefined): BatchVerifyEndEvent {
  return {
    ...endFields(o, false),
    found: report?.found ?? 0,
    present: report?.present ?? 0,
    missing: report?.missing ?? 0,
    altered: report?.altered ?? 0,
    serverChanged: report?.serverChanged ?? 0,
  };
}

export function batchMessageFailed(where: BatchRowJson, f: FailureReport): BatchMessageFailedEvent {
  return { event: 'message-failed', ...where, ...failure(f) };
}

export function batchMessageProblem(where: BatchRowJson, p: VerifyProblem): BatchMessageProblemEvent {
  return { event: 'message-problem', ...where, ...problem(p) };
}

export interface RunJson {
  mode: 'migrate' | 'watch' | 'batch';
  start: string;
  end: string;
  moved: number;
  skipped: number;
  failed: number;
  deleted: number;
  /** Of `moved`, the messages put into the junk folder (--junk); absent in records written before it was kept. */
  junk?: number;
  exitCode: number;
  error?: { code: string; message: string };
}

/** One mailbox in `poplift status --json`. */
export interface MailboxStatusJson {
  pop3: string;
  imap: string;
  folder: string;
  /** ok: the last run succeeded; failing: an alert is out; failed: the last run failed, not (yet) failing; unknown: no finished run. */
  status: 'ok' | 'failing' | 'failed' | 'unknown';
  lastRun: RunJson | null;
  lastSuccess: string | null;
  lastError: { at: string; code: string; message: string } | null;
  failuresInARow: number;
  movedToday: number;
  movedTotal: number;
  running: { pid: number; host: string; since: string } | null;
  nextPoll: string | null;
  runs: RunJson[];
}

export interface StatusJson {
  schema: typeof STATUS_SCHEMA;
  stateDir: string;
  mailboxes: MailboxStatusJson[];
}

export function runJson(r: RunRecord): RunJson {
  return {
    mode: r.mode,
    start: r.start,
    end: r.end,
    moved: r.moved,
    skipped: r.skipped,
    failed: r.failed,
    deleted: r.deleted,
    ...(r.junk === undefined ? {} : { junk: r.junk }),
    exitCode: r.exitCode,
    ...(r.error === undefined ? {} : { error: { code: r.error.code, message: r.error.message } }),
  };
}

/** A mailbox's status from its health file, the lock holder (if a run holds it now) and its last runs. */
export function mailboxStatusJson(
  health: MailboxHealth,
  today: string,
  holder: { pid: number; host: string; started: string } | undefined,
  runs: RunRecord[],
): MailboxStatusJson {
  const last = health.lastRun;
  const e = health.lastError;
  return {
    pop3: health.mailbox.pop3,
    imap: health.mailbox.imap,
    folder: health.mailbox.folder,
    status: health.alerting ? 'failing' : last === undefined ? 'unknown' : last.exitCode === 0 || last.exitCode === 6 ? 'ok' : 'failed',
    lastRun: last === undefined ? null : runJson(last),
    lastSuccess: health.lastSuccess ?? null,
    lastError: e === undefined ? null : { at: e.at, code: e.code, message: e.message },
    failuresInARow: health.failures,
    movedToday: health.movedByDay[today] ?? 0,
    movedTotal: health.movedTotal,
    running: holder === undefined ? null : { pid: holder.pid, host: holder.host, since: holder.started },
    nextPoll: health.nextPoll ?? null,
    runs: runs.map(runJson),
  };
}

export function statusJson(stateDir: string, mailboxes: MailboxStatusJson[]): StatusJson {
  return { schema: STATUS_SCHEMA, stateDir, mailboxes };
}
