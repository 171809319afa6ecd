/**
 * poplift watch (and batch --every): the polling loop for hosts without
 * cron. Each cycle is one full run, exactly as safe as a cron run (lock,
 * journal, proofs before any delete); between cycles the loop sleeps the
 * interval, jittered, and longer while the mailbox keeps failing. A cycle
 * that moved nothing prints nothing; SIGINT/SIGTERM end the current cycle
 * cleanly, SIGUSR1 polls at once ("check mail now").
 */
import { displayText, jsonLine } from '../display-text.js';
import { PopliftError, signalExitCode, usageError } from '../errors.js';
import { setNextPoll } from '../state/history.js';
import type { CliIo } from './cli-io.js';
import {
  executeMigrate,
  lockedByAnotherRun,
  mailboxName,
  planMigrate,
  runContext,
  shortLabel,
  type MigrateCliOptions,
} from './migrate-command.js';
import { migrateJson } from './json-result.js';
import { Output, outputSettings, summaryLine } from './output.js';
import { checkNotifyOptions, historyStem, recordOutcome, type NotifyCliOptions } from './run-record.js';
import { formatSummary } from './summary-output.js';

export interface RepeatCliOptions {
  every?: string;
  maxInterval?: string;
  once?: boolean;
}

/** `90`, `30s`, `2m`, `1h`, `500ms`: a duration in milliseconds (a bare number is seconds). */
export function parseDuration(text: string, option: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw usageError(`${option} takes a duration such as 30s, 2m or 1h, not '${text}'.`);
  const ms = Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  if (ms < 100 || ms > 7 * 24 * 3_600_000) throw usageError(`${option} must be between 100ms and 7 days, not '${text}'.`);
  return ms;
}

export interface Schedule {
  everyMs: number;
  maxMs: number;
}

export function scheduleOf(o: RepeatCliOptions): Schedule {
  if (o.every === undefined) throw usageError('Give --every <interval> (for example --every 5m), or --once for a single run.');
  const everyMs = parseDuration(o.every, '--every');
  const maxMs = o.maxInterval === undefined ? Math.max(everyMs, 3_600_000) : parseDuration(o.maxInterval, '--max-interval');
  if (maxMs < everyMs) throw usageError('--max-interval must be at least --every.');
  return { everyMs, maxMs };
}

/**
 * The wait before the next cycle: the interval doubled for each failed cycle
 * in a row up to the cap, then spread by ±10 % so that many mailboxes
 * started together drift apart.
 */
export function nextDelay(schedule: Schedule, failuresInARow: number, random: () => number = Math.random): number {
  const backedOff = Math.min(schedule.maxMs, schedule.everyMs * 2 ** Math.min(failuresInARow, 30));
  return Math.round(backedOff * (0.9 + 0.2 * random()));
}

/** Signals for a loop: SIGINT/SIGTERM stop it (a second one leaves at once), SIGUSR1 cuts the current wait short. */
export function loopSignals() {
  let received: NodeJS.Signals | undefined;
  let wake: (() => void) | undefined;
  const stop = (sig: NodeJS.Signals) => {
    if (received) process.exit(signalExitCode(sig));
    received = sig;
    wake?.();
  };
  const now = () => wake?.();
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  process.on('SIGUSR1', now);
  return {
    stop: () => received !== undefined,
    signal: () => received,
    sleep: (ms: number) =>
      new Promise<void>((resolve) => {
        if (received) {
          resolve();
          return;
        }
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wake = undefined;
          resolve();
        }
        wake = done;
      }),
    dispose: () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      process.off('SIGUSR1', now);
    },
  };
}

type WatchOptions = MigrateCliOptions & NotifyCliOptions & RepeatCliOptions;

export async function runWatch(pop3Text: string, imapText: string, o: WatchOptions, io: CliIo): Promise<number> {
  const plan = planMigrate(pop3Text, imapText, o, 'auto');
  checkNotifyOptions(o);
  if (o.dryRun) throw usageError('watch moves mail; for a dry run use poplift migrate --dry-run.');
  const schedule = o.once ? undefined : scheduleOf(o);
  const signals = loopSignals();
  let failures = 0;
  let code: number;
  try {
    for (;;) {
      // A cycle is a cron run under --quiet: nothing when nothing moved, one line when mail moved, errors always.
      const output = new Output(io.stderr, {
        ...outputSettings({ ...o, quiet: !o.silent, silent: Boolean(o.silent) }, io.stderr, false, 'when-listed'),
        endLine: false,
      });
      const warn = (message: string) => output.warn(message);
      const context = runContext(plan, o, io, 'watch', warn)!;
      try {
        output.mailboxStarted(0, mailboxName(plan), shortLabel(plan));
        const { summary, exitCode } = await executeMigrate(plan, o, io, {
          warn,
          stopRequested: signals.stop,
          lockStem: (stem) => (context.lockStem = stem),
        });
        const sig = signals.signal();
        code = sig ? signalExitCode(sig) : exitCode;
        const recorded = sig ? undefined : await recordOutcome(context, { summary, exitCode });
        if (o.json) io.stdout.write(jsonLine(migrateJson(summary, code, sig)));
        const result = summaryLine(summary);
        output.mailboxEnded(0, result, exitCode === 0);
        output.final(formatSummary(summary), `${new Date().toISOString()} ${result}`, {
          changed: summary.appended > 0 || summary.deleted > 0,
          ok: exitCode === 0,
          alreadyReported: recorded?.report === false,
        });
        failures = exitCode === 0 ? 0 : failures + 1;
      } catch (err) {
        output.close();
        if (!(err instanceof PopliftError)) throw err;
        output.logOnly(`poplift: ${err.message}`);
        code = err.exitCode;
        if (lockedByAnotherRun(err)) {
          // Another run (cron, a manual one) is moving this mailbox: not a failure of this one.
        } else {
          const recorded = await recordOutcome(context, { exitCode: err.exitCode, error: err });
          if (recorded.report) io.stderr.write(`${new Date().toISOString()} poplift: ${displayText(err.message)}\n`);
          failures++;
        }
        if (o.once) throw err;
      } finally {
        output.close();
      }
      if (o.once || signals.stop() || schedule === undefined) break;
      const delay = nextDelay(schedule, failures);
      try {
        setNextPoll(context.stateDir, historyStem(context.mailbox), new Date(Date.now() + delay));
      } catch {
        // The next poll is only shown by poplift status.
      }
      await signals.sleep(delay);
      if (signals.stop()) break;
    }
    const sig = signals.signal();
    return sig ? signalExitCode(sig) : code;
  } finally {
    signals.dispose();
  }
}

/** batch --every: the whole batch again every interval (each row as safe as one cron run). */
export async function runBatchEvery(cycle: () => Promise<number>, o: RepeatCliOptions): Promise<number> {
  const schedule = scheduleOf(o);
  const signals = loopSignals();
  let code = 0;
  try {
    while (!signals.stop()) {
      code = await cycle();
      if (signals.stop()) break;
      await signals.sleep(nextDelay(schedule, 0));
    }
    const sig = signals.signal();
    return sig ? signalExitCode(sig) : code;
  } finally {
    signals.dispose();
  }
}
