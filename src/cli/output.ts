/**
 * Where migrate and batch write what happens, for the three audiences:
 *
 * - a person at a terminal: bars (progress.ts), warnings above them;
 * - cron, pipes and CI: plain lines only (no ANSI, no CR): one when a mailbox
 *   starts and ends, a progress line at most every --progress-interval;
 * - scripts: --json keeps stdout for JSON and stderr for warnings and errors.
 *
 * --quiet (for cron, in the chronic tradition) prints nothing for a run
 * that changed nothing and failed nothing, the one-line summary for a run
 * that moved mail, and always errors and failures; --silent drops the line
 * for a run that moved mail too. --log-file appends the plain-text log
 * whatever stderr shows. Every line goes out in one
 * write, so mailboxes running side by side never tear each other's lines.
 *
 * Every text passes displayText on its way out (a multi-line text line by
 * line: its callers built each line with the server's words neutralised),
 * so no byte a server or a message chose reaches a terminal or the log raw.
 */
import { appendFileSync } from 'node:fs';
import { wrapText } from './batch-table.js';
import { displayText } from '../display-text.js';
import { usageError } from '../errors.js';
import type { ProgressEvent } from '../engine/migrate.js';
import { summaryExitCode, type MigrationSummary } from '../engine/summary.js';
import { BarDisplay, applyEvent, emptyTally, etaSeconds, formatDuration, rateMBps, type Tally } from './progress.js';

export interface OutputSettings {
  quiet: boolean;
  /** Stricter than quiet: nothing unless something failed. */
  silent: boolean;
  /**
   * Print a "finished" line when a mailbox ends (batch). Off for migrate,
   * whose summary follows at once and would repeat it.
   */
  endLine?: boolean;
  json: boolean;
  logFile: string | undefined;
  /** Seconds between progress lines when stderr is not a terminal. */
  progressInterval: number;
  tty: boolean;
  /** Show a total bar (batch) besides the mailbox bars. */
  total: boolean;
  /**
   * Show a mailbox's start line and bar at once (batch), or once it is
   * listed (migrate: a login or lock failure stays the one line on stderr,
   * and a password prompt is not drawn over).
   */
  startLine?: 'immediate' | 'when-listed';
}

export interface OutputCliOptions {
  quiet?: boolean;
  silent?: boolean;
  /** Protocol traces go straight to stderr, so --debug draws no bars. */
  debug?: boolean;
  json?: boolean;
  logFile?: string;
  progressInterval: string;
  /** Every entry of the summary's lists on stderr, not only the first few. */
  list?: boolean;
}

export function outputSettings(
  o: OutputCliOptions,
  stderr: NodeJS.WritableStream,
  total = false,
  startLine: OutputSettings['startLine'] = 'immediate',
): OutputSettings {
  const interval = Number(o.progressInterval);
  if (!Number.isFinite(interval) || interval <= 0)
    throw usageError(`--progress-interval must be a positive number of seconds, not '${o.progressInterval}'.`);
  return {
    quiet: Boolean(o.quiet) || Boolean(o.silent),
    silent: Boolean(o.silent),
    json: Boolean(o.json),
    logFile: o.logFile,
    progressInterval: interval,
    tty: 'isTTY' in stderr && stderr.isTTY === true && !o.debug,
    total,
    startLine,
  };
}

/** Octets as "12.3 MB" (10^6 octets); below 0.1 MB as "39 KB" (10^3 octets), which "0.0 MB" would hide. */
export function formatSize(bytes: number): string {
  return bytes < 100_000 ? `${Math.round(bytes / 1e3)} KB` : `${(bytes / 1e6).toFixed(1)} MB`;
}

/** Each line of a text poplift built line by line, neutralised; the line ends stay. */
function displayLines(text: string): string {
  return text.split('\n').map(displayText).join('\n');
}

/** "1 message", "2 messages": the count with the word in the right number. */
export function count(n: number, singular: string, plural = `${singular}s`): string {
  return `${n} ${n === 1 ? singular : plural}`;
}

/** The one-line result of a mailbox: what the non-TTY log and the finished line show. */
export function mailboxResultLine(name: string, s: MigrationSummary | undefined, status: string): string {
  if (!s) return `${name}: ${status}`;
  const verb = s.dryRun ? 'would append' : 'appended';
  const deleted = s.deleted > 0 ? `, deleted from POP3 ${s.deleted}` : '';
  const changed = s.storedChanged > 0 ? `, stored changed ${s.storedChanged}` : '';
  const junk = s.junk > 0 ? ` (${s.junk} to junk)` : '';
  return `${name}: ${status}; found ${s.found}, ${verb} ${s.dryRun ? s.wouldAppend.length : s.appended}${junk}, duplicates ${s.duplicates}, failed ${s.failed}${changed}${deleted}; ${formatSize(s.bytes)} in ${s.seconds.toFixed(1)} s`;
}

/** How every line and report names a mailbox and its folder: the one place it is written. */
export function mailboxLabel(pop3: string, imap: string, folder: string): string {
  return `${pop3} -> ${imap} folder "${folder}"`;
}

/**
 * ISO 8601 in the machine's time zone with its offset
 * (2026-12-07T23:50:01.123+01:00): a log read beside other logs of the
 * machine must not leave the reader guessing whether it is UTC.
 */
export function localTimestamp(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const local = new Date(date.getTime() + offset * 60_000).toISOString().slice(0, -1);
  const sign = offset < 0 ? '-' : '+';
  const abs = Math.abs(offset);
  return `${local}${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** The final one-line summary of one migration (--quiet). */
export function summaryLine(s: MigrationSummary): string {
  return mailboxResultLine(mailboxLabel(s.pop3, s.imap, s.folder), s, summaryExitCode(s) === 0 ? 'ok' : 'incomplete');
}

export class Output {
  private readonly mode: 'bars' | 'lines' | 'none';
  private bars: BarDisplay | undefined;
  private readonly running = new Map<number, { name: string; label: string; tally: Tally }>();
  /** Mailboxes whose bar was started: their status line is gone for good. */
  private readonly barred = new Set<number>();
  /** Bytes and messages of mailboxes already finished, for the total. */
  private readonly finishedTally = emptyTally(0);
  private readonly startedAt: number;
  private lastProgressLine: number;
  private closed = false;

  constructor(
    private readonly stderr: NodeJS.WritableStream,
    private readonly settings: OutputSettings,
    private readonly now: () => number = Date.now,
  ) {
    this.mode = settings.quiet || settings.json ? 'none' : settings.tty ? 'bars' : 'lines';
    if (this.mode === 'bars') {
      const columns = (stderr as { columns?: unknown }).columns;
      this.wrapWidth = Math.max(20, typeof columns === 'number' && columns > 0 ? columns : 80) - 1;
    }
    this.startedAt = now();
    this.lastProgressLine = this.startedAt;
  }

  /** Appends to --log-file, one timestamped line each. */
  private toLog(text: string): void {
    if (!this.settings.logFile) return;
    const stamp = localTimestamp(new Date(this.now()));
    const lines = text
      .replace(/\n$/, '')
      .split('\n')
      .map((l) => `${stamp} ${displayText(l)}\n`)
      .join('');
    try {
      appendFileSync(this.settings.logFile, lines, { mode: 0o600 });
    } catch (err) {
      const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      this.settings.logFile = undefined;
      this.toStderr(`poplift: warning: cannot write the log file: ${why}; logging to it stopped.`);
    }
  }

  private toStderr(text: string): void {
    // Line by line: a line break here is one of poplift's own (a wrap); a server's was neutralised before.
    const line = text.replace(/\n$/, '').split('\n').map(displayText).join('\n');
    if (this.bars) this.bars.log(line);
    else this.stderr.write(`${line}\n`);
  }

  /**
   * Set while bars are drawn on a terminal: they turn its own line wrapping
   * off, so a line printed above them is wrapped here (after neutralising,
   * so the wrap counts what is shown) rather than cut at the edge.
   */
  wrapWidth: number | undefined = undefined;

  private onScreen(line: string): string {
    return this.wrapWidth === undefined ? line : wrapText(line, this.wrapWidth, '  ', true).join('\n');
  }

  /** An error: shown even with --quiet. */
  error(message: string): void {
    const line = `poplift: ${displayText(message)}`;
    this.toLog(line);
    this.toStderr(this.onScreen(line));
  }

  warn(message: string): void {
    const line = `poplift: warning: ${displayText(message)}`;
    this.toLog(line);
    if (!this.settings.quiet) this.toStderr(this.onScreen(line));
  }

  /** A line for the log: on stderr only in plain-line mode. */
  private event(text: string): void {
    const line = displayText(text);
    this.toLog(line);
    if (this.mode === 'lines') this.stderr.write(`${line}\n`);
  }

  /** `label` is the short name a bar shows (e.g. `alice → Archive/Old ISP`); `name`, with both URLs, is printed once above it. */
  mailboxStarted(id: number, name: string, label: string = name): void {
    if (this.closed) return;
    this.running.set(id, { name: displayText(name), label: displayText(label), tally: emptyTally(this.now()) });
    if (this.settings.startLine === 'when-listed') return;
    this.startBar(id);
    this.event(`poplift: started ${name}`);
  }

  /**
   * What a mailbox's connections are doing ("connecting to …"), on a
   * terminal only and only until its bar replaces it: cron, pipes, --quiet
   * and --json see nothing of it.
   */
  mailboxStatus(id: number, text: string): void {
    if (this.mode !== 'bars' || this.closed || this.barred.has(id)) return;
    this.bars ??= new BarDisplay(this.stderr, this.settings.total, () => this.totalTally(), this.now);
    this.bars.status(id, displayText(text));
  }

  private startBar(id: number): void {
    const r = this.running.get(id);
    if (this.mode !== 'bars' || this.closed || !r) return;
    this.barred.add(id);
    this.bars ??= new BarDisplay(this.stderr, this.settings.total, () => this.totalTally(), this.now);
    if (r.label !== r.name) this.bars.log(this.onScreen(`poplift: ${r.name}`));
    this.bars.start(id, r.label);
  }

  mailboxListed(id: number, e: ProgressEvent): void {
    const r = this.running.get(id);
    if (!r) return;
    applyEvent(r.tally, e);
    if (this.settings.startLine === 'when-listed') {
      r.tally.startedAt = this.now();
      this.startBar(id);
    }
    this.bars?.update(id, e);
    const what = `${count(e.found, 'message')} to read, ${formatSize(e.totalBytes)}`;
    this.event(this.settings.startLine === 'when-listed' ? `poplift: started ${r.name}: ${what}` : `poplift: ${r.name}: ${what}`);
  }

  mailboxProgress(id: number, e: ProgressEvent): void {
    const r = this.running.get(id);
    if (!r) return;
    applyEvent(r.tally, e);
    this.bars?.update(id, e);
    const now = this.now();
    if (now - this.lastProgressLine >= this.settings.progressInterval * 1000) {
      this.lastProgressLine = now;
      this.event(this.progressLine(now));
    }
  }

  mailboxEnded(id: number, resultLine: string, ok: boolean): void {
    const r = this.running.get(id);
    if (r) {
      this.running.delete(id);
      this.finishedTally.found += r.tally.found;
      this.finishedTally.done += r.tally.done;
      this.finishedTally.totalBytes += r.tally.totalBytes;
      this.finishedTally.doneBytes += r.tally.doneBytes;
    }
    this.bars?.end(id, displayText(resultLine), ok);
    if (this.settings.endLine !== false) this.event(`poplift: finished ${resultLine}`);
  }

  private totalTally(): Tally {
    const t: Tally = { ...this.finishedTally, startedAt: this.startedAt };
    for (const r of this.running.values()) {
      t.found += r.tally.found;
      t.done += r.tally.done;
      t.totalBytes += r.tally.totalBytes;
      t.doneBytes += r.tally.doneBytes;
    }
    return t;
  }

  private progressLine(now: number): string {
    const t = this.totalTally();
    const eta = etaSeconds(t, now);
    const names = [...this.running.values()].map((r) => `${r.name} ${r.tally.done}/${r.tally.found}`).join(', ');
    return (
      `poplift: progress: ${t.done}/${t.found} messages, ${formatSize(t.doneBytes)} of ${formatSize(t.totalBytes)}, ` +
      `${rateMBps(t, now).toFixed(1)} MB/s, ETA ${eta === undefined ? '-' : formatDuration(eta)}; running: ${names || 'none'}`
    );
  }

  /** Stops the bars; later lines go straight to stderr. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.bars?.stop();
    this.bars = undefined;
  }

  /**
   * The end: the full text (summary or table) normally; with --quiet the one
   * line when the run moved mail (`changed`) or did not fully succeed, else
   * nothing; with --silent the one line only when it did not fully succeed;
   * nothing on stderr with --json (stdout has it). The log gets the full text.
   */
  final(
    fullText: string,
    oneLine: string,
    outcome: { changed: boolean; ok: boolean; alreadyReported?: boolean; shortText?: string },
  ): void {
    this.close();
    this.toLog(fullText);
    if (this.settings.json) return;
    if (!this.settings.quiet) this.stderr.write(displayLines(outcome.shortText ?? fullText));
    else if ((!outcome.ok && !outcome.alreadyReported) || (outcome.changed && !this.settings.silent))
      this.stderr.write(`${displayText(oneLine)}\n`);
  }

  /** --quiet or --silent: cron mails only what is printed. */
  get quiet(): boolean {
    return this.settings.quiet;
  }

  /** A line for the log file only (e.g. an error the caller prints itself). */
  logOnly(line: string): void {
    // One line: a line break in an error's server words must not start a log line of its own.
    this.toLog(displayText(line));
  }
}
