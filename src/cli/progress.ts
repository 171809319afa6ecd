/**
 * Live progress on a terminal: one cli-progress bar per running mailbox (by
 * bytes) plus a total, with messages done/total, MB/s and ETA computed here
 * (cli-progress has no rate of its own). Finished mailboxes collapse into one
 * line above the bars. Only used when stderr is a TTY: without one,
 * cli-progress 3.12 draws nothing until stop() and then prints bars with
 * their {payload} tokens unfilled.
 */
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

/** The payload every bar format uses; every key is always set (unset keys print as {name}). */
function payload(name: string, t: Tally, now: number, listed: boolean): Record<string, string> {
  const eta = etaSeconds(t, now);
  return {
    name,
    msgs: listed ? `${t.done}/${t.found} msgs` : 'listing…',
    mb: `${(t.doneBytes / 1e6).toFixed(1)}/${(t.totalBytes / 1e6).toFixed(1)} MB`,
    rate: `${rateMBps(t, now).toFixed(1)} MB/s`,
    // Not `eta`, `value` or `total`: cli-progress fills those tokens itself and they would win.
    left: eta === undefined ? 'ETA -' : `ETA ${formatDuration(eta)}`,
    text: '',
  };
}

const BAR_FORMAT = '{name} {bar} {percentage}% | {msgs} | {mb} | {rate} | {left}';

export class BarDisplay {
  private readonly multibar: MultiBar;
  private readonly bars = new Map<number, { bar: SingleBar; name: string; tally: Tally }>();
  private total: SingleBar | undefined;
  private finishedLine: SingleBar | undefined;
  private readonly finished = { ok: 0, failed: 0 };
  private stopped = false;

  constructor(
    stream: NodeJS.WritableStream,
    private readonly withTotal: boolean,
    private readonly totalTally: () => Tally,
    private readonly now: () => number = Date.now,
  ) {
    this.multibar = new MultiBar({
      stream: stream as NodeJS.WriteStream,
      format: BAR_FORMAT,
      barCompleteChar: '█',
      barIncompleteChar: '░',
      barsize: 24,
      hideCursor: true,
      clearOnComplete: true,
      autopadding: true,
      gracefulExit: false,
      fps: 5,
    });
  }

  /** A line above the bars (a warning, an error); never lost, never torn by a redraw. */
  log(line: string): void {
    if (this.stopped) return;
    this.multibar.log(line.endsWith('\n') ? line : `${line}\n`);
  }

  start(id: number, name: string): void {
    if (this.stopped) return;
    const now = this.now();
    const tally = emptyTally(now);
    if (this.withTotal && !this.total) {
      this.total = this.multibar.create(1, 0, payload('total', this.totalTally(), now, true));
    }
    const bar = this.multibar.create(1, 0, payload(name, tally, now, false));
    this.bars.set(id, { bar, name, tally });
  }

  update(id: number, e: ProgressEvent): void {
    const entry = this.bars.get(id);
    if (!entry || this.stopped) return;
    applyEvent(entry.tally, e);
    const now = this.now();
    entry.bar.setTotal(Math.max(1, e.totalBytes));
    entry.bar.update(e.totalBytes === 0 ? 1 : e.doneBytes, payload(entry.name, entry.tally, now, true));
    this.updateTotal(now);
  }

  /** The mailbox's bar goes; its result joins the one line of finished mailboxes. */
  end(id: number, resultLine: string, ok: boolean): void {
    if (this.stopped) return;
    const entry = this.bars.get(id);
    if (entry) {
      this.multibar.remove(entry.bar);
      this.bars.delete(id);
    }
    if (ok) this.finished.ok++;
    else this.finished.failed++;
    const text = `finished ${this.finished.ok + this.finished.failed}: ${this.finished.ok} ok, ${this.finished.failed} failed; last: ${resultLine}`;
    const p = { ...payload('', emptyTally(0), 0, true), text };
    if (!this.finishedLine) this.finishedLine = this.multibar.create(1, 1, p, { format: '{text}' });
    else this.finishedLine.update(1, p);
    this.updateTotal(this.now());
  }

  private updateTotal(now: number): void {
    if (!this.total) return;
    const t = this.totalTally();
    this.total.setTotal(Math.max(1, t.totalBytes));
    this.total.update(t.totalBytes === 0 ? 0 : t.doneBytes, payload('total', t, now, true));
  }

  /** Flushes lines logged since the last redraw, then clears the bars. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    // A log() not yet drawn would be lost by stop(): draw once more first.
    this.multibar.update();
    this.multibar.stop();
  }
}
