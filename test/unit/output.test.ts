import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { count, formatSize, localTimestamp, Output, outputSettings, type OutputSettings } from '../../src/cli/output.js';
import { emptySummary, type MigrationSummary } from '../../src/engine/summary.js';
import { migrateJson, stopCode } from '../../src/cli/json-result.js';
import { etaSeconds, fitBarLine, formatDuration, rateMBps } from '../../src/cli/progress.js';

function sink(tty = false): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  if (tty) Object.assign(stream, { isTTY: true, columns: 200 });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

const base: OutputSettings = {
  quiet: false,
  silent: false,
  json: false,
  logFile: undefined,
  progressInterval: 30,
  tty: false,
  total: true,
};

/** Two mailboxes side by side; the clock moves 10 s per progress event. */
function drive(output: Output, clock: { t: number }) {
  output.mailboxStarted(0, 'a@pop -> a@imap "X"');
  output.mailboxStarted(1, 'b@pop -> b@imap "X"');
  output.mailboxListed(0, { found: 10, totalBytes: 10_000_000, done: 0, doneBytes: 0 });
  output.mailboxListed(1, { found: 5, totalBytes: 5_000_000, done: 0, doneBytes: 0 });
  for (let i = 1; i <= 10; i++) {
    clock.t += 10_000;
    output.mailboxProgress(0, { found: 10, totalBytes: 10_000_000, done: i, doneBytes: i * 1_000_000 });
    if (i === 4) output.warn('a@pop -> a@imap "X": something to know');
  }
  output.mailboxEnded(0, 'a: ok', true);
  output.error('b@pop -> b@imap "X": IMAP server refused the login');
  output.mailboxEnded(1, 'b: auth failed', false);
  output.final('TABLE\n', 'ONE LINE', { changed: true, ok: false });
}

describe('output without a terminal', () => {
  it('prints start/end lines, a progress line at most every --progress-interval, no ANSI and no CR', () => {
    const err = sink();
    const clock = { t: 1_000_000 };
    drive(new Output(err.stream, base, () => clock.t), clock);
    const text = err.text();
    expect(text).not.toMatch(/[\x1b\r]/);
    const lines = text.trim().split('\n');
    expect(lines.filter((l) => l.startsWith('poplift: started '))).toHaveLength(2);
    expect(lines.filter((l) => l.startsWith('poplift: finished '))).toHaveLength(2);
    // 100 s of progress with a 30 s interval: at 30, 60 and 90 s.
    const progress = lines.filter((l) => l.startsWith('poplift: progress: '));
    expect(progress).toHaveLength(3);
    expect(progress[0]).toBe(
      'poplift: progress: 3/15 messages, 3.0 MB of 15.0 MB, 0.1 MB/s, ETA 2m00s; running: a@pop -> a@imap "X" 3/10, b@pop -> b@imap "X" 0/5',
    );
    expect(lines).toContain('poplift: warning: a@pop -> a@imap "X": something to know');
    expect(lines.at(-1)).toBe('TABLE');
  });

  it('--quiet: only errors and the one-line summary; --log-file still gets everything', () => {
    const err = sink();
    const clock = { t: 0 };
    const log = join(mkdtempSync(join(tmpdir(), 'poplift-out-')), 'run.log');
    drive(new Output(err.stream, { ...base, quiet: true, logFile: log }, () => clock.t), clock);
    expect(err.text()).toBe('poplift: b@pop -> b@imap "X": IMAP server refused the login\nONE LINE\n');
    const logged = readFileSync(log, 'utf8');
    expect(logged).toContain(`${localTimestamp(new Date(0))} poplift: started a@pop`);
    expect(logged).toMatch(/ poplift: warning: .*something to know$/m);
    expect(logged).toMatch(/ poplift: progress: /m);
    expect(logged).toMatch(/ TABLE$/m);
    expect(logged).not.toMatch(/ONE LINE/);
  });

  it('--json: warnings and errors on stderr, no progress, no table', () => {
    const err = sink();
    const clock = { t: 0 };
    drive(new Output(err.stream, { ...base, json: true }, () => clock.t), clock);
    expect(err.text()).toBe(
      'poplift: warning: a@pop -> a@imap "X": something to know\npoplift: b@pop -> b@imap "X": IMAP server refused the login\n',
    );
  });
});

describe('--quiet and --silent, for cron (chronic): silent when all is well, loud when not', () => {
  const end = (settings: Partial<OutputSettings>, outcome: { changed: boolean; ok: boolean }, error?: string): string => {
    const err = sink();
    const output = new Output(err.stream, { ...base, total: false, ...settings });
    output.mailboxStarted(0, 'a');
    output.mailboxListed(0, { found: 3, totalBytes: 3000, done: 0, doneBytes: 0 });
    output.warn('a note');
    if (error) output.error(error);
    output.mailboxEnded(0, 'a: result', outcome.ok);
    output.final('FULL SUMMARY\n', 'ONE LINE', outcome);
    return err.text();
  };
  it('--quiet: nothing when nothing moved and nothing failed; the line when mail moved; always failures', () => {
    expect(end({ quiet: true }, { changed: false, ok: true })).toBe('');
    expect(end({ quiet: true }, { changed: true, ok: true })).toBe('ONE LINE\n');
    expect(end({ quiet: true }, { changed: false, ok: false })).toBe('ONE LINE\n');
    expect(end({ quiet: true }, { changed: false, ok: false }, 'IMAP refused')).toBe('poplift: IMAP refused\nONE LINE\n');
  });
  it('--silent: nothing unless something failed', () => {
    expect(end({ quiet: true, silent: true }, { changed: false, ok: true })).toBe('');
    expect(end({ quiet: true, silent: true }, { changed: true, ok: true })).toBe('');
    expect(end({ quiet: true, silent: true }, { changed: true, ok: false })).toBe('ONE LINE\n');
    expect(end({ quiet: true, silent: true }, { changed: false, ok: true }, 'login failed')).toBe('poplift: login failed\n');
  });
  it('outputSettings: --silent implies quiet', () => {
    expect(outputSettings({ silent: true, progressInterval: '30' }, sink().stream)).toMatchObject({ quiet: true, silent: true });
  });
});

describe('output on a terminal', () => {
  it('draws bars with every payload filled, keeps warnings logged just before the end, then prints the table', () => {
    const err = sink(true);
    const clock = { t: 0 };
    drive(new Output(err.stream, { ...base, tty: true }, () => clock.t), clock);
    const text = err.text();
    expect(text).toMatch(/\x1b\[/);
    // Bars redraw on a timer; here everything happens at once, so the draws are those forced by a finished mailbox.
    expect(text).toMatch(/total \S+ +66% \| 10\/15 msgs \| 10\.0\/15\.0 MB \| 0\.1 MB\/s \| ETA 50s/);
    expect(text).toMatch(/b@pop -> b@imap "X" \S+ +0% \| 0\/5 msgs \| 0\.0\/5\.0 MB \| 0\.0 MB\/s \| ETA -/);
    expect(text).not.toMatch(/\{[a-z]+\}/);
    // Logged right before stop(): still printed.
    expect(text).toContain('poplift: b@pop -> b@imap "X": IMAP server refused the login');
    expect(text).toContain('poplift: warning: a@pop -> a@imap "X": something to know');
    expect(text).toMatch(/finished 2: 1 ok, 1 failed; last: b: auth failed/);
    expect(text.endsWith('TABLE\n')).toBe(true);
  });
});

describe('rates', () => {
  it('computes MB/s and ETA from the bytes done since the start', () => {
    const t = { found: 10, done: 5, totalBytes: 20_000_000, doneBytes: 5_000_000, startedAt: 0 };
    expect(rateMBps(t, 10_000)).toBe(0.5);
    expect(etaSeconds(t, 10_000)).toBe(30);
    expect(rateMBps(t, 100)).toBe(0);
    expect(etaSeconds(t, 100)).toBeUndefined();
    expect([formatDuration(59.4), formatDuration(61), formatDuration(3725), formatDuration(Infinity)]).toEqual([
      '59s',
      '1m01s',
      '1h02m',
      '-',
    ]);
  });
});

describe('figures in words', () => {
  it('sizes under 0.1 MB in KB, so a small mailbox does not read "0.0 MB"', () => {
    expect([formatSize(0), formatSize(39_000), formatSize(99_499), formatSize(100_000), formatSize(2_345_678)]).toEqual([
      '0 KB',
      '39 KB',
      '99 KB',
      '0.1 MB',
      '2.3 MB',
    ]);
  });
  it('counts with the word in the right number, never "message(s)"', () => {
    expect([
      count(0, 'message'),
      count(1, 'message'),
      count(2, 'message'),
      count(1, 'mailbox', 'mailboxes'),
      count(3, 'mailbox', 'mailboxes'),
    ]).toEqual(['0 messages', '1 message', '2 messages', '1 mailbox', '3 mailboxes']);
  });
});

describe('a bar line fits the terminal', () => {
  const parts = {
    label: 'alice → Archive/Old ISP',
    ratio: 0.5,
    msgs: '500/1000 msgs',
    mb: '12.3/24.6 MB',
    rate: '3.2 MB/s',
    left: 'ETA 4m10s',
  };
  it('keeps the label, the percentage and the ETA down to 60 columns, dropping MB figures and counts first', () => {
    expect(fitBarLine(120, parts)).toBe(
      `alice → Archive/Old ISP ${'█'.repeat(15)}${'░'.repeat(15)}  50% | 500/1000 msgs | 12.3/24.6 MB | 3.2 MB/s | ETA 4m10s`,
    );
    for (const cols of [200, 120, 100, 80, 72, 60, 40, 20]) {
      const line = fitBarLine(cols, parts);
      expect(line.length, line).toBeLessThan(cols);
      expect(line).toContain('50%');
      if (cols >= 60) expect(line).toMatch(/^alice → Archive\/Old ISP █+░+ {2}50% \|.* ETA 4m10s$/);
    }
    expect(fitBarLine(80, parts)).toMatch(/ 50% \| 500\/1000 msgs \| 3\.2 MB\/s \| ETA 4m10s$/);
  });
  it('shortens only a long label, and shows 100 % when done', () => {
    const long = fitBarLine(80, { ...parts, label: 'a-very-long-user-name@example.org → Archive/Some/Deep/Folder', ratio: 1 });
    expect(long.length).toBeLessThan(80);
    expect(long).toMatch(/…/);
    expect(long).toMatch(/ 100% \|/);
    expect(fitBarLine(80, { ...parts, ratio: undefined })).toBe('alice → Archive/Old ISP listing…');
  });
});

describe('--json stop codes', () => {
  const summary = (over: Partial<MigrationSummary> & { stopReason?: string }) => ({ ...emptySummary('p', 'i', 'F', false), ...over });
  it("from the engine's stop reason, else from the signal", () => {
    expect(stopCode(summary({ stopped: 'x', stopReason: 'max-errors' }), undefined)).toBe('MAX_ERRORS');
    expect(stopCode(summary({ stopped: 'x', stopReason: 'over-quota' }), undefined)).toBe('OVER_QUOTA');
    expect(stopCode(summary({ stopped: 'interrupted; run poplift again to continue.' }), 'SIGTERM')).toBe('INTERRUPTED');
    expect(stopCode(summary({}), undefined)).toBeUndefined();
    const json = migrateJson(summary({ stopped: 'full', stopReason: 'over-quota', seconds: 1.23456 }), 1, undefined);
    expect(json).toMatchObject({
      schema: 2,
      status: 'stopped',
      exitCode: 1,
      seconds: 1.235,
      stopped: { code: 'OVER_QUOTA', message: 'full' },
    });
    expect(json).not.toHaveProperty('stopReason');
  });
});

describe('--log-file timestamps', () => {
  it('are ISO 8601 in the local time zone, with its offset', () => {
    const stamp = localTimestamp(new Date(Date.UTC(2026, 11, 7, 23, 50, 1, 123)));
    expect(stamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$/);
    // The same instant, whatever the zone: the offset undoes the shift.
    expect(Date.parse(stamp)).toBe(Date.UTC(2026, 11, 7, 23, 50, 1, 123));
  });
});
