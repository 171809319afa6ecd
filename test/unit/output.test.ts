import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Output, type OutputSettings } from '../../src/cli/output.js';
import { etaSeconds, formatDuration, rateMBps } from '../../src/cli/progress.js';

function sink(tty = false): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  if (tty) Object.assign(stream, { isTTY: true, columns: 200 });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

const base: OutputSettings = { quiet: false, json: false, logFile: undefined, progressInterval: 30, tty: false, total: true };

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
  output.final('TABLE\n', 'ONE LINE');
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
    expect(progress[0]).toBe('poplift: progress: 3/15 messages, 3.0/15.0 MB, 0.1 MB/s, ETA 2m00s; running: a@pop -> a@imap "X" 3/10, b@pop -> b@imap "X" 0/5');
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
    expect(logged).toMatch(/^1970-01-01T00:00:00\.000Z poplift: started a@pop/m);
    expect(logged).toMatch(/ poplift: warning: .*something to know$/m);
    expect(logged).toMatch(/ poplift: progress: /m);
    expect(logged).toMatch(/ TABLE$/m);
    expect(logged).not.toMatch(/ONE LINE/);
  });

  it('--json: warnings and errors on stderr, no progress, no table', () => {
    const err = sink();
    const clock = { t: 0 };
    drive(new Output(err.stream, { ...base, json: true }, () => clock.t), clock);
    expect(err.text()).toBe('poplift: warning: a@pop -> a@imap "X": something to know\npoplift: b@pop -> b@imap "X": IMAP server refused the login\n');
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
    expect([formatDuration(59.4), formatDuration(61), formatDuration(3725), formatDuration(Infinity)]).toEqual(['59s', '1m01s', '1h02m', '-']);
  });
});
