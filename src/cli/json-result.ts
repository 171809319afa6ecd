/**
 * The one final JSON object every `--json` run of migrate and verify prints
 * on stdout (batch prints it as its last JSON line, the summary event),
 * also when the run ends in an error. Scripts branch on `status` and
 * `error.code`; both are stable, and `schema` changes when a field changes
 * meaning or goes away (README "JSON output").
 */
import { ExitCode, PopliftError } from '../errors.js';
import type { MigrationSummary } from '../engine/summary.js';
import type { VerifyReport } from '../engine/verify.js';

export const JSON_SCHEMA = 2;

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

export type StopCode = 'INTERRUPTED' | 'MAX_ERRORS' | 'OVER_QUOTA' | 'INCOMPLETE' | 'STOPPED';

/** Why a mailbox was stopped early, as a stable code: the engine's stopReason ('max-errors' becomes MAX_ERRORS). */
export function stopCode(summary: MigrationSummary, signal: NodeJS.Signals | undefined): StopCode | undefined {
  if (summary.stopReason !== undefined) return summary.stopReason.toUpperCase().replace(/-/g, '_') as StopCode;
  if (signal !== undefined) return 'INTERRUPTED';
  return summary.stopped === undefined ? undefined : 'STOPPED';
}

export function migrateJson(summary: MigrationSummary, exitCode: number, signal: NodeJS.Signals | undefined): Record<string, unknown> {
  const code = stopCode(summary, signal);
  const out: Record<string, unknown> = {
    schema: JSON_SCHEMA,
    command: 'migrate',
    status: runStatus(exitCode, code !== undefined),
    exitCode,
    ...summary,
    seconds: roundSeconds(summary.seconds),
    window: summary.window ?? null,
    junkFolder: summary.junkFolder ?? null,
    stopped: code === undefined ? null : { code, message: summary.stopped },
  };
  // Carried by stopped.code.
  delete out.stopReason;
  return out;
}

export function verifyJson(report: VerifyReport, exitCode: number): Record<string, unknown> {
  return {
    schema: JSON_SCHEMA,
    command: 'verify',
    status: runStatus(exitCode),
    exitCode,
    ...report,
    seconds: roundSeconds(report.seconds),
  };
}

/** The final object of a run that ended in an error instead of a summary. */
export function errorJson(command: string | undefined, err: unknown, exitCode: number): Record<string, unknown> {
  const message = err instanceof Error ? err.message : String(err);
  const p = err instanceof PopliftError ? err : undefined;
  const fallback: Record<number, string> = { 1: 'FAILED', 2: 'USAGE', 3: 'AUTH', 4: 'CONNECT', 5: 'LOCKED', 6: 'LATER' };
  // The codes are errors.ts's table (README lists them); the side, where one is concerned, is its own field.
  const code = p?.code ?? fallback[exitCode] ?? 'FAILED';
  return {
    schema: JSON_SCHEMA,
    ...(command ? { command } : {}),
    status: runStatus(exitCode),
    exitCode,
    error: {
      code,
      message,
      ...(p?.side ? { side: p.side } : {}),
      ...(p?.server ? { server: p.server } : {}),
    },
  };
}
