/**
 * `poplift batch <file>`: many mailboxes, --jobs at a time, each a full
 * migrate (its own lock and journal) with the batch's options and the row's
 * overrides. Every row is checked before anything starts; one failing
 * mailbox never stops the others; a table at the end; exit 0 only when every
 * mailbox succeeded. Rows reading one POP3 mailbox run one after another
 * (they would only find each other's lock) and stay in one --shard.
 */
import { displayText, jsonLine } from '../display-text.js';
import type { Command } from 'commander';
import { ExitCode, PopliftError, adviceOf, signalExitCode } from '../errors.js';
import type { MigrationSummary } from '../engine/summary.js';
import { verifyExitCode, type VerifyReport } from '../engine/verify.js';
import { inShard, parseShard, readBatchFile, validateRow, type BatchRow, type ColumnSpec } from './batch-file.js';
import type { CliIo } from './cli-io.js';
import {
  executeMigrate,
  lockedByAnotherRun,
  planMigrate,
  runContext,
  shortLabel,
  watchSignals,
  type MigrateCliOptions,
  type MigratePlan,
} from './migrate-command.js';
import { recordOutcome, type NotifyCliOptions } from './run-record.js';
import { verifyPlanned } from './verify-command.js';
import { isYesNo } from './config.js';
import { mailboxIdentity } from '../state/mailbox-identity.js';
import { wholeNumber } from './options.js';
import {
  JSON_SCHEMA,
  batchMessageFailed,
  batchMessageProblem,
  batchMigrateEnd,
  batchVerifyEnd,
  errorExitCode,
  roundSeconds,
  runStatus,
  type BatchEvent,
  type BatchRowJson,
  type BatchRowOutcome,
} from './json-result.js';
import { count as counted, formatSize, Output, mailboxResultLine, outputSettings, type OutputCliOptions } from './output.js';
import { renderTable, wrapText, type TableFit } from './batch-table.js';

export interface BatchCliOptions extends MigrateCliOptions, OutputCliOptions, NotifyCliOptions {
  every?: string;
  jobs: string;
  shard?: string;
  skipBadRows?: boolean;
  /** Check every row as `poplift verify` does instead of migrating. */
  verify?: boolean;
}

/** Options a row may not set: they belong to the whole batch run. */
const BATCH_ONLY = new Set([
  'json',
  'debug',
  'quiet',
  'silent',
  'logFile',
  'progressInterval',
  'jobs',
  'shard',
  'skipBadRows',
  'verify',
  'config',
  'stateDir',
]);

/** Row columns (snake_case) for every migrate option of the batch command, e.g. dry_run, mark_seen. */
export function rowColumns(command: Command): Map<string, ColumnSpec> {
  const columns = new Map<string, ColumnSpec>();
  for (const option of command.options) {
    const attribute = option.attributeName();
    if (!option.long || BATCH_ONLY.has(attribute)) continue;
    const snake = attribute.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    columns.set(snake, { attribute, boolean: isYesNo(option), choices: option.argChoices });
  }
  return columns;
}

const SECRET_SOURCES = ['PasswordFile', 'PasswordCommand', 'TokenFile', 'TokenCommand'] as const;

/** The batch's options with the row's on top; a row's password or token file replaces the batch's way to log in on that side. */
export function rowOptions(o: MigrateCliOptions, row: BatchRow): MigrateCliOptions {
  const merged: Record<string, unknown> = { ...o };
  for (const side of ['pop3', 'imap']) {
    if (SECRET_SOURCES.some((s) => row.overrides[`${side}${s}`] !== undefined)) {
      for (const s of SECRET_SOURCES) delete merged[`${side}${s}`];
    }
  }
  Object.assign(merged, row.overrides);
  return merged as unknown as MigrateCliOptions;
}

interface Job {
  row: BatchRow;
  plan: MigratePlan;
  options: MigrateCliOptions;
  name: string;
}

interface JobResult {
  job: Job;
  summary: MigrationSummary | undefined;
  /** With --verify, instead of a summary. */
  report?: VerifyReport;
  /** For the table: a word or two. */
  status: string;
  ok: boolean;
  /** The row's own exit code, as `poplift migrate` or `verify` of it would exit. */
  exitCode: number;
  seconds: number;
  /** Why the row did not succeed, for the lines below the table. */
  error: string | undefined;
  /** The error the row ended in, if it ended in one. */
  thrown?: unknown;
}

function statusOf(err: unknown): string {
  if (!(err instanceof PopliftError)) return 'error';
  switch (err.exitCode) {
    case ExitCode.AUTH:
      return 'auth failed';
    case ExitCode.CONNECT:
      return 'connect failed';
    case ExitCode.LOCKED:
      return 'locked';
    case ExitCode.USAGE:
      return 'config error';
    default:
      return 'error';
  }
}

/**
 * Rows grouped by the POP3 mailbox they read, as the lock identifies it
 * (user, resolved address, port), groups in the order of their first row.
 * Each row's plan keeps the identity so that its lock uses the same one.
 */
async function groupBySource(jobs: Job[]): Promise<Job[][]> {
  const lookups = new Map<string, Promise<string>>();
  const identities = await Promise.all(
    jobs.map((job) => {
      const { host, port, user } = job.plan.pop3;
      const key = JSON.stringify([host.toLowerCase(), port, user]);
      if (!lookups.has(key)) lookups.set(key, mailboxIdentity({ host, port, user }, job.plan.timeoutMs));
      return lookups.get(key)!;
    }),
  );
  const groups = new Map<string, Job[]>();
  jobs.forEach((job, i) => {
    job.plan.pop3Identity = identities[i];
    const group = groups.get(identities[i]!);
    if (group) group.push(job);
    else groups.set(identities[i]!, [job]);
  });
  return [...groups.values()];
}

/** What the JSON end event says of a row's result. */
function outcome(where: BatchRowJson, r: JobResult): BatchRowOutcome {
  return { where, exitCode: r.exitCode, ok: r.ok, seconds: r.seconds, ...(r.thrown === undefined ? {} : { error: r.thrown }) };
}

function jobName(plan: MigratePlan): string {
  return `${plan.pop3.user}@${plan.pop3.host} -> ${plan.imap.user}@${plan.imap.host} "${plan.levels.join('/')}"`;
}

/**
 * The final table: one row per mailbox, then totals, then the full reason of
 * each mailbox that did not succeed. `width` (a terminal's) narrows the
 * mailbox column and wraps the reasons so that no line is wider.
 */
export function formatBatchTable(results: JobResult[], skipped: number, seconds: number, width?: number): string {
  const header = ['line', 'mailbox', 'found', 'appended', 'dups', 'failed', 'MB', 'time', 'status'];
  const right = [true, false, true, true, true, true, true, true, false];
  const rows = results.map((r) => {
    const s = r.summary;
    const appended = s ? (s.dryRun ? s.wouldAppend.length : s.appended) : 0;
    return [
      String(r.job.row.line),
      r.job.name,
      String(s?.found ?? 0),
      String(appended),
      String(s?.duplicates ?? 0),
      String(s?.failed ?? 0),
      ((s?.bytes ?? 0) / 1e6).toFixed(1),
      `${r.seconds.toFixed(1)}s`,
      r.status,
    ];
  });
  const sum = (f: (s: MigrationSummary) => number) => results.reduce((n, r) => n + (r.summary ? f(r.summary) : 0), 0);
  const ok = results.filter((r) => r.ok).length;
  const totals = [
    '',
    `total: ${counted(results.length, 'mailbox', 'mailboxes')}, ${ok} ok, ${results.length - ok} failed${skipped > 0 ? `, ${counted(skipped, 'bad row')} skipped` : ''}`,
    String(sum((s) => s.found)),
    String(sum((s) => (s.dryRun ? s.wouldAppend.length : s.appended))),
    String(sum((s) => s.duplicates)),
    String(sum((s) => s.failed)),
    (sum((s) => s.bytes) / 1e6).toFixed(1),
    `${seconds.toFixed(1)}s`,
    ok === results.length && skipped === 0 ? 'ok' : 'FAILED',
  ];
  // Widths are of what is shown: a server-chosen byte becomes an escape several columns wide.
  const shown = (r: string[]) => r.map(displayText);
  return renderTable(header, right, rows.map(shown), shown(totals), tableFit(results, width)) + failureReasons(results, width);
}

/** The table batch --verify ends with: per mailbox what is there and what is not. */
export function formatVerifyTable(results: JobResult[], seconds: number, width?: number): string {
  const header = ['line', 'mailbox', 'found', 'present', 'missing', 'altered', 'time', 'status'];
  const right = [true, false, true, true, true, true, true, false];
  const rows = results.map((r) => [
    String(r.job.row.line),
    r.job.name,
    String(r.report?.found ?? 0),
    String(r.report?.present ?? 0),
    String(r.report?.missing ?? 0),
    String(r.report?.altered ?? 0),
    `${r.seconds.toFixed(1)}s`,
    r.status,
  ]);
  const sum = (f: (v: VerifyReport) => number) => String(results.reduce((n, r) => n + (r.report ? f(r.report) : 0), 0));
  const ok = results.filter((r) => r.ok).length;
  const totals = [
    '',
    `total: ${counted(results.length, 'mailbox', 'mailboxes')}, ${ok} all there`,
    sum((v) => v.found),
    sum((v) => v.present),
    sum((v) => v.missing),
    sum((v) => v.altered),
    `${seconds.toFixed(1)}s`,
    ok === results.length ? 'ok' : 'FAILED',
  ];
  // Widths are of what is shown: a server-chosen byte becomes an escape several columns wide.
  const shown = (r: string[]) => r.map(displayText);
  return renderTable(header, right, rows.map(shown), shown(totals), tableFit(results, width)) + failureReasons(results, width);
}

function tableFit(results: JobResult[], width: number | undefined): TableFit | undefined {
  return width === undefined ? undefined : { width, short: results.map((r) => shortLabel(r.job.plan)) };
}

/** Below the table, whole: why each mailbox that did not succeed did not (the table has room for a word only). */
function failureReasons(results: JobResult[], width?: number): string {
  const failed = results.filter((r) => !r.ok);
  if (failed.length === 0) return '';
  const lines = failed.map((r) => {
    const why = r.error ?? (r.summary && r.summary.failed > 0 ? `${counted(r.summary.failed, 'message')} failed` : r.status);
    const text = `line ${r.job.row.line} ${r.job.name}: ${why}`;
    return width === undefined ? text : wrapText(text, width, '    ').join('\n');
  });
  return `${counted(failed.length, 'mailbox', 'mailboxes')} did not succeed:\n${lines.join('\n')}\n`;
}

export async function runBatch(file: string, o: BatchCliOptions, io: CliIo, command: Command): Promise<number> {
  const jobs = wholeNumber(o.jobs, '--jobs', 1);
  const shard = o.shard === undefined ? undefined : parseShard(o.shard);
  const settings = outputSettings(o, io.stderr, true);
  const output = new Output(io.stderr, settings);
  // On a terminal, what batch prints itself fits its width (the last column left empty, as the bars leave it).
  const termColumns = (io.stderr as { columns?: unknown }).columns;
  const screenWidth = settings.tty && typeof termColumns === 'number' && termColumns > 0 ? Math.max(20, termColumns) - 1 : undefined;
  const warn = (message: string) => output.warn(message);

  // Every row is checked before anything starts.
  const columns = rowColumns(command);
  const raw = readBatchFile(file);
  const checked: Job[] = [];
  const problems: Array<{ index: number; text: string }> = [];
  raw.forEach((r, index) => {
    let job: Job | undefined;
    const { problems: p } = validateRow(r, index, columns, (row) => {
      const options = rowOptions(o, row);
      const plan = planMigrate(row.pop3Url, row.imapUrl, options, o.every === undefined ? 'off' : 'auto');
      job = { row, plan, options, name: jobName(plan) };
    });
    if (p.length > 0) problems.push({ index, text: `${file} line ${r.line}: ${p.join('; ')}` });
    else if (job) checked.push(job);
  });
  // Rows reading one POP3 mailbox (as the lock names it) form a group that runs in file order.
  const groups = await groupBySource(checked);
  for (const group of groups) {
    const last = group.at(-1)!;
    for (const job of group.slice(0, -1)) {
      if (!job.options.delete || job.options.dryRun) continue;
      problems.push({
        index: job.row.index,
        text:
          `${file} line ${job.row.line}: delete is set, but line ${last.row.line} reads the same POP3 mailbox after this row; ` +
          `only the last row naming a mailbox may delete (the rows before it copy first), so set delete on line ${last.row.line} alone`,
      });
    }
  }
  problems.sort((a, b) => a.index - b.index);
  const bad = new Set(problems.map((p) => p.index));
  // A group goes to the shard of its first row, so one mailbox is never read by two machines at once.
  const work: Job[][] = groups
    .filter((group) => inShard(group[0]!.row.index, shard))
    .map((group) => group.filter((job) => !bad.has(job.row.index)))
    .filter((group) => group.length > 0);
  const jobCount = work.reduce((n, g) => n + g.length, 0);
  if (problems.length > 0) {
    for (const p of problems) output.error(o.skipBadRows ? `skipping ${p.text}` : p.text);
    if (!o.skipBadRows) {
      const message = `${counted(problems.length, 'bad row')} in ${file}; nothing was started. Fix them, or pass --skip-bad-rows to run the others.`;
      output.error(message);
      if (o.json) {
        const event: BatchEvent = {
          event: 'summary',
          schema: JSON_SCHEMA,
          status: runStatus(ExitCode.USAGE),
          exitCode: ExitCode.USAGE,
          error: { code: 'BAD_ROWS', message, advice: adviceOf('BAD_ROWS') },
        };
        io.stdout.write(jsonLine(event));
      }
      return ExitCode.USAGE;
    }
  }

  const json = (event: BatchEvent) => {
    if (o.json) io.stdout.write(jsonLine(event));
  };
  const rowIo: CliIo = { stdout: io.stdout, stderr: io.stderr, env: io.env };
  const signals = watchSignals();
  const started = performance.now();
  const results: JobResult[] = [];

  const runOne = async (id: number, job: Job): Promise<JobResult> => {
    const where: BatchRowJson = {
      line: job.row.line,
      row: job.row.index,
      pop3: job.plan.pop3Label,
      imap: job.plan.imapLabel,
      folder: job.plan.levels.join('/'),
    };
    json({ event: 'start', ...where });
    output.mailboxStarted(id, job.name, shortLabel(job.plan));
    const t0 = performance.now();
    /** A mailbox that could not run (login refused, lock held, ...): reported, and the batch goes on. */
    const failure = (err: unknown): JobResult => {
      const message = err instanceof Error ? err.message : String(err);
      output.error(`${job.name}: ${message}`);
      return {
        job,
        summary: undefined,
        status: statusOf(err),
        ok: false,
        exitCode: errorExitCode(err),
        seconds: (performance.now() - t0) / 1000,
        error: message,
        thrown: err,
      };
    };
    let result: JobResult;
    if (o.verify) {
      try {
        const report = await verifyPlanned(job.plan, job.options, rowIo, (message) => warn(`${job.name}: ${message}`));
        const ok = report.problems.length === 0;
        const status = ok ? 'all there' : `${report.missing} missing, ${report.altered} altered`;
        const exitCode = verifyExitCode(report);
        result = { job, summary: undefined, report, status, ok, exitCode, seconds: (performance.now() - t0) / 1000, error: undefined };
        for (const p of report.problems) json(batchMessageProblem(where, p));
      } catch (err) {
        result = failure(err);
      }
      results.push(result);
      output.mailboxEnded(id, `${job.name}: ${result.status}`, result.ok);
      json(batchVerifyEnd(outcome(where, result), result.report));
      return result;
    }
    const context = runContext(job.plan, job.options, rowIo, 'batch', (message) => output.warn(`${job.name}: ${message}`));
    try {
      const { summary, exitCode } = await executeMigrate(job.plan, job.options, rowIo, {
        warn: (message) => warn(`${job.name}: ${message}`),
        onListed: (e) => output.mailboxListed(id, e),
        onProgress: (e) => output.mailboxProgress(id, e),
        onFailure: (f) => json(batchMessageFailed(where, f)),
        stopRequested: signals.stop,
        lockStem: (stem) => {
          if (context) context.lockStem = stem;
        },
      });
      const status = exitCode === 0 ? 'ok' : summary.stopped !== undefined ? 'stopped' : 'incomplete';
      result = { job, summary, status, ok: exitCode === 0, exitCode, seconds: (performance.now() - t0) / 1000, error: summary.stopped };
      if (context && !signals.stop()) await recordOutcome(context, { summary, exitCode });
    } catch (err) {
      result = failure(err);
      if (context && !lockedByAnotherRun(err)) await recordOutcome(context, { exitCode: errorExitCode(err), error: err });
    }
    results.push(result);
    output.mailboxEnded(id, mailboxResultLine(job.name, result.summary, result.status), result.ok);
    json(batchMigrateEnd(outcome(where, result), result.summary, Boolean(job.options.dryRun)));
    return result;
  };

  const ids = new Map<Job, number>();
  for (const job of work.flat()) ids.set(job, ids.size);
  let nextGroup = 0;
  try {
    // A worker takes a whole group: rows sharing a mailbox never run at once, other groups fill the other slots.
    const worker = async () => {
      while (nextGroup < work.length && !signals.stop()) {
        const group = work[nextGroup++]!;
        let earlierFailed: number | undefined;
        for (const job of group) {
          if (signals.stop()) break;
          let run = job;
          if (earlierFailed !== undefined && job.options.delete && !job.options.dryRun) {
            // Deleting now would take mail that the failed row has not copied yet.
            warn(
              `${job.name}: not deleting from POP3 this time: line ${earlierFailed} reading the same mailbox did not finish; run the batch again.`,
            );
            run = { ...job, options: { ...job.options, delete: false } };
          }
          const result = await runOne(ids.get(job)!, run);
          if (!result.ok) earlierFailed ??= job.row.line;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(jobs, work.length) }, () => worker()));
  } finally {
    signals.dispose();
    output.close();
  }

  results.sort((a, b) => a.job.row.index - b.job.row.index);
  const seconds = (performance.now() - started) / 1000;
  const skipped = o.skipBadRows ? problems.length : 0;
  const ok = results.filter((r) => r.ok).length;
  const sig = signals.signal();
  const exitCode = sig ? signalExitCode(sig) : ok === jobCount && skipped === 0 ? 0 : 1;
  if (o.verify) {
    const count = (f: (r: VerifyReport) => number) => results.reduce((n, r) => n + (r.report ? f(r.report) : 0), 0);
    const totals = {
      mailboxes: jobCount,
      allThere: ok,
      notAllThere: jobCount - ok,
      found: count((r) => r.found),
      present: count((r) => r.present),
      missing: count((r) => r.missing),
      altered: count((r) => r.altered),
      serverChanged: count((r) => r.serverChanged),
    };
    json({
      event: 'summary',
      schema: JSON_SCHEMA,
      status: runStatus(exitCode),
      verify: true,
      ...totals,
      seconds: roundSeconds(seconds),
      exitCode,
    });
    const oneLine = `poplift batch --verify: ${counted(totals.mailboxes, 'mailbox', 'mailboxes')}, ${ok} with every message there; ${totals.missing} missing, ${totals.altered} altered of ${totals.found}`;
    output.final(formatVerifyTable(results, seconds, screenWidth), oneLine, { changed: false, ok: exitCode === 0 });
    return exitCode;
  }
  const sum = (f: (s: MigrationSummary) => number) => results.reduce((n, r) => n + (r.summary ? f(r.summary) : 0), 0);
  const totals = {
    mailboxes: jobCount,
    succeeded: ok,
    failed: jobCount - ok,
    notStarted: jobCount - results.length,
    skippedRows: skipped,
    found: sum((s) => s.found),
    appended: sum((s) => s.appended),
    junk: sum((s) => s.junk),
    duplicates: sum((s) => s.duplicates),
    failedMessages: sum((s) => s.failed),
    bytes: sum((s) => s.bytes),
    deleted: sum((s) => s.deleted),
    seconds: Number(seconds.toFixed(3)),
  };
  json({
    event: 'summary',
    schema: JSON_SCHEMA,
    status: runStatus(exitCode),
    ...totals,
    ...(shard ? { shard: `${shard.k}/${shard.n}` } : {}),
    exitCode,
  });
  const oneLine =
    `poplift batch: ${counted(totals.mailboxes, 'mailbox', 'mailboxes')}, ${ok} ok, ${totals.failed} failed${skipped > 0 ? `, ${counted(skipped, 'bad row')} skipped` : ''}; ` +
    `found ${totals.found}, appended ${totals.appended}, duplicates ${totals.duplicates}, failed ${totals.failedMessages}; ${formatSize(totals.bytes)} in ${seconds.toFixed(1)} s`;
  const changed = totals.appended > 0 || totals.deleted > 0 || sum((s) => s.wouldAppend.length) > 0;
  output.final(
    formatBatchTable(results, skipped, seconds, screenWidth) + (sig ? `stopped by ${sig}; run the batch again to continue.\n` : ''),
    oneLine,
    { changed, ok: exitCode === 0 },
  );
  return exitCode;
}
