/**
 * Live progress on a terminal: one cli-progress bar per running mailbox (by
 * bytes) plus a total, with messages done/total, MB/s and ETA computed here
 * (cli-progress has no rate of its own), each line fitted to the terminal's
 * width with a short label (the full names are printed once above the
 * bars). Finished mailboxes collapse into one line above the bars. Only used when stderr is a TTY: without one,
 * cli-progress 3.12 draws nothing until stop() and then prints bars with
 * their {payload} tokens unfilled.
 */
import { writeSync } from 'node:fs';
import { MultiBar, type SingleBar } from 'cli-progress';
import type { ProgressEvent } from '../engine/migrate.js';

/** Bytes and messages of one mailbox (or the sum of all), and when it started. */
export interface Tally {
  found: number;
  done: number;
  totalBytes: number;
  doneBytes: number;
  startedAt: number;
}

export function emptyTally(now: number): Tally {
  return { found: 0, done: 0, totalBytes: 0, doneBytes: 0, startedAt: now };
}

export function applyEvent(t: Tally, e: ProgressEvent): void {
  t.found = e.found;
  t.done = e.done;
  t.totalBytes = e.totalBytes;
  t.doneBytes = e.doneBytes;
}

/** MB/s since the start (0 for the first half second, so the first figures are not wild). */
export function rateMBps(t: Pick<Tally, 'doneBytes' | 'startedAt'>, now: number): number {
  const seconds = (now - t.startedAt) / 1000;
  return seconds < 0.5 ? 0 : t.doneBytes / 1e6 / seconds;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** Seconds left at the current rate, or undefined when there is no rate yet. */
export function etaSeconds(t: Tally, now: number): number | undefined {
  const rate = rateMBps(t, now) * 1e6;
  if (rate <= 0) return undefined;
  return Math.max(0, t.totalBytes - t.doneBytes) / rate;
}

/** The parts of one bar line, each already in words. */
export interface BarParts {
  label: string;
  /** 0 to 1; undefined while the mailbox is being listed. */
  ratio: number | undefined;
  msgs: string;
  mb: string;
  rate: string;
  left: string;
}

const BAR_MIN = 10;
const BAR_MAX = 30;
/** A label up to this long is kept whole: fields go first. */
const LABEL_KEEP = 32;

function cut(text: string, width: number): string {
  if (width <= 0) return '';
  return text.length <= width ? text : `${text.slice(0, Math.max(0, width - 1))}…`;
}

/**
 * One bar line that fits `columns`: the percentage always shows; when the
 * line would not fit, the MB figures go first, then the message counts, then
 * the rate; a label longer than LABEL_KEEP is shortened first. The last column
 * stays empty (some terminals wrap on it even with autowrap off).
 */
export function fitBarLine(columns: number, p: BarParts): string {
  const width = Math.max(20, columns) - 1;
  if (p.ratio === undefined) return cut(`${p.label} listing…`, width);
  const ratio = Math.min(1, Math.max(0, p.ratio));
  const pct = `${Math.floor(ratio * 100)}%`.padStart(4);
  const candidates = [[pct, p.msgs, p.mb, p.rate, p.left], [pct, p.msgs, p.rate, p.left], [pct, p.rate, p.left], [pct, p.left], [pct]];
  const label = p.label;
  for (const fields of candidates) {
    const tail = fields.join(' | ');
    const room = width - tail.length - 2;
    if (room < Math.min(label.length, LABEL_KEEP) + BAR_MIN) continue;
    const barSize = Math.max(BAR_MIN, Math.min(BAR_MAX, room - label.length));
    const shown = cut(label, room - barSize);
    const filled = Math.round(ratio * barSize);
    return `${shown} ${'█'.repeat(filled)}${'░'.repeat(barSize - filled)} ${tail}`;
  }
  return `${cut(label, width - pct.trim().length - 1)} ${pct.trim()}`;
}

/** What a bar shows, read again at every redraw so the rate and ETA move even between events. */
interface BarState {
  label: string;
  tally: Tally;
  listed: boolean;
  /** A line of text instead of a bar (the finished mailboxes). */
  text?: string;
}

function barParts(b: BarState, now: number): BarParts {
  const t = b.tally;
  const eta = etaSeconds(t, now);
  return {
    label: b.label,
    ratio: b.listed ? (t.totalBytes === 0 ? (t.found === t.done ? 1 : 0) : t.doneBytes / t.totalBytes) : undefined,
    msgs: `${t.done}/${t.found} msgs`,
    mb: `${(t.doneBytes / 1e6).toFixed(1)}/${(t.totalBytes / 1e6).toFixed(1)} MB`,
    rate: `${rateMBps(t, now).toFixed(1)} MB/s`,
    left: eta === undefined ? 'ETA -' : `ETA ${formatDuration(eta)}`,
  };
}

/** The escape sequences that undo what drawing bars does to a terminal: cursor shown, autowrap on. */
export const TERMINAL_RESTORE = '\x1b[?25h\x1b[?7h';

/**
 * Restores the terminal when the process leaves while bars are drawn: a
 * second Ctrl-C (process.exit), an uncaught error, any exit path that does
 * not pass through stop(). Written synchronously: 'exit' handlers cannot wait.
 */
function restoreOnExit(stream: NodeJS.WritableStream, text: () => string): () => void {
  const fd = (stream as { fd?: unknown }).fd;
  const restore = () => {
    try {
      if (typeof fd === 'number') writeSync(fd, text());
      else stream.write(text());
    } catch {
      // The terminal is gone: nothing left to restore.
    }
  };
  process.once('exit', restore);
  return () => process.off('exit', restore);
}

export class BarDisplay {
  private readonly multibar: MultiBar;
  private readonly bars = new Map<number, { bar: SingleBar; state: BarState }>();
  /** A line of text per mailbox that has no bar yet (what its connections are doing). */
  private readonly statusLines = new Map<number, { bar: SingleBar; state: BarState }>();
  private total: SingleBar | undefined;
  private readonly totalState: BarState;
  private finishedLine: SingleBar | undefined;
  private readonly finishedState: BarState = { label: '', tally: emptyTally(0), listed: true, text: '' };
  private readonly finished = { ok: 0, failed: 0 };
  private stopped = false;
  private readonly forgetRestore: () => void;

  constructor(
    stream: NodeJS.WritableStream,
    private readonly withTotal: boolean,
    private readonly totalTally: () => Tally,
    private readonly now: () => number = Date.now,
  ) {
    this.totalState = { label: 'total', tally: totalTally(), listed: true };
    this.forgetRestore = restoreOnExit(stream, () => this.exitText());
    this.multibar = new MultiBar({
      stream,
      // Computed at every redraw (5 a second), from the tallies and the terminal's width at that moment.
      format: (_options, params, payload: { state?: BarState }) => {
        const state = payload.state;
        if (!state) return '';
        if (state === this.totalState) state.tally = this.totalTally();
        const columns = params.maxWidth;
        if (state.text !== undefined) return cut(state.text, Math.max(20, columns) - 1);
        return fitBarLine(columns, barParts(state, this.now()));
      },
      hideCursor: true,
      clearOnComplete: true,
      autopadding: true,
      gracefulExit: false,
      fps: 5,
    });
  }

  /**
   * What gives the terminal back at exit. Bars stay as the last word on how
   * far the run got; status lines alone (the cursor is at the end of the
   * last) say nothing once the process is gone, so they are erased.
   */
  private exitText(): string {
    const lines = this.statusLines.size;
    if (lines === 0 || this.bars.size > 0 || this.finishedLine || this.total) return TERMINAL_RESTORE;
    return `\r${lines > 1 ? `\x1b[${lines - 1}A` : ''}\x1b[0J${TERMINAL_RESTORE}`;
  }

  /** A line above the bars (a warning, an error); never lost, never torn by a redraw. */
  log(line: string): void {
    if (this.stopped) return;
    this.multibar.log(line.endsWith('\n') ? line : `${line}\n`);
  }

  /** A line in place of the mailbox's bar until start() gives it one; cut to the terminal's width at every redraw. */
  status(id: number, text: string): void {
    if (this.stopped || this.bars.has(id)) return;
    const line = this.statusLines.get(id);
    if (line) {
      line.state.text = text;
      return;
    }
    const state: BarState = { label: '', tally: emptyTally(0), listed: true, text };
    this.statusLines.set(id, { bar: this.multibar.create(1, 0, { state }), state });
  }

  private dropStatus(id: number): void {
    const line = this.statusLines.get(id);
    if (!line) return;
    this.statusLines.delete(id);
    this.multibar.remove(line.bar);
  }

  /** `label` is what the bar shows; the full name is for lines above it. */
  start(id: number, label: string): void {
    if (this.stopped) return;
    this.dropStatus(id);
    if (this.withTotal && !this.total) this.total = this.multibar.create(1, 0, { state: this.totalState });
    const state: BarState = { label, tally: emptyTally(this.now()), listed: false };
    const bar = this.multibar.create(1, 0, { state });
    this.bars.set(id, { bar, state });
  }

  update(id: number, e: ProgressEvent): void {
    const entry = this.bars.get(id);
    if (!entry || this.stopped) return;
    if (!entry.state.listed) entry.state.tally.startedAt = this.now();
    entry.state.listed = true;
    applyEvent(entry.state.tally, e);
    entry.bar.setTotal(Math.max(1, e.totalBytes));
    entry.bar.update(e.totalBytes === 0 ? 0 : e.doneBytes);
    this.total?.update(0);
  }

  /** The mailbox's bar is drawn once more as it ends (100 % when it is complete), then goes; its result joins the one line of finished mailboxes. */
  end(id: number, resultLine: string, ok: boolean): void {
    if (this.stopped) return;
    this.dropStatus(id);
    const entry = this.bars.get(id);
    if (entry) {
      if (entry.state.listed) this.multibar.update();
      this.multibar.remove(entry.bar);
      this.bars.delete(id);
    }
    if (ok) this.finished.ok++;
    else this.finished.failed++;
    this.finishedState.text = `finished ${this.finished.ok + this.finished.failed}: ${this.finished.ok} ok, ${this.finished.failed} failed; last: ${resultLine}`;
    if (!this.finishedLine) this.finishedLine = this.multibar.create(1, 1, { state: this.finishedState });
    else this.finishedLine.update(1);
  }

  /** Flushes lines logged since the last redraw, then clears the bars and gives the terminal back. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    // A log() not yet drawn would be lost by stop(): draw once more first.
    this.multibar.update();
    this.multibar.stop();
    this.forgetRestore();
  }
}
