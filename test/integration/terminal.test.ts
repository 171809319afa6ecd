import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/child-run.js';
import { makeCorpus } from '../helpers/corpus.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { describeIntegration } from '../helpers/suite.js';
import { runCli } from '../helpers/cli.js';
import { drawnLines, screenOf, startUnderTty } from '../helpers/tty.js';

const HIDE_CURSOR = '\x1b[?25l';
const SHOW_CURSOR = '\x1b[?25h';
const WRAP_OFF = '\x1b[?7l';
const WRAP_ON = '\x1b[?7h';

/** The terminal is left as found: every hide/no-wrap is undone after the last time it was set. */
function expectRestored(output: string): void {
  expect(output).toContain(HIDE_CURSOR);
  expect(output.lastIndexOf(SHOW_CURSOR)).toBeGreaterThan(output.lastIndexOf(HIDE_CURSOR));
  expect(output.lastIndexOf(WRAP_ON)).toBeGreaterThan(output.lastIndexOf(WRAP_OFF));
}

describeIntegration('progress in a real terminal: fits the width, ends at 100 %, gives the terminal back', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let slowPop3: FaultProxy;
  let slowGreeting: FaultProxy;
  const stateDir = mkdtempSync(join(tmpdir(), 'poplift-tty-state-'));

  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (const m of makeCorpus(120, { bigAttachmentBytes: 60_000, seed: 9 })) dovecot.deliver(alice, m.raw);
    // About 3 s for this mailbox: long enough for several redraws.
    slowPop3 = await FaultProxy.start({ targetPort: dovecot.ports.pop3s, delayMs: 10, bandwidthBytesPerSec: 800_000 });
    // Accepts at once, answers the TLS handshake only after 3 s: a server far away or slow to greet.
    slowGreeting = await FaultProxy.start({ targetPort: dovecot.ports.pop3s, firstReplyDelayMs: 3000 });
  });
  afterAll(async () => {
    await slowGreeting?.stop();
    await slowPop3?.stop();
    await dovecot?.stop();
  });

  const env = () => ({ POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password });
  const args = (pop3Port: number, folder: string) => [
    `pop3s://alice@127.0.0.1:${pop3Port}`,
    `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`,
    '--folder',
    `Archive/Old ISP ${folder}`,
    '--ca-file',
    dovecot.certPath,
    '--state-dir',
    join(stateDir, folder),
  ];
  const command = (folder: string, ...extra: string[]) => [
    process.execPath,
    BIN,
    'migrate',
    ...args(slowPop3.port, folder),
    '--batch-messages',
    '10',
    ...extra,
  ];

  for (const cols of [80, 120]) {
    it(`${cols} columns: every bar line fits, with its percentage and ETA; the full URLs once above; 100 % at the end`, async () => {
      const run = startUnderTty(command(`w${cols}`), env(), cols);
      expect(await run.done, run.output()).toBe(0);
      const out = run.output();
      const bars = drawnLines(out).filter((l) => /[█░]/.test(l));
      expect(bars.length).toBeGreaterThan(3);
      for (const line of bars) {
        expect(line.length, line).toBeLessThan(cols);
        expect(line).toMatch(/^alice → Archive\/Old ISP w\d+ [█░]+ +\d+% \|/);
        expect(line).toMatch(/ETA (-|\d+)/);
        if (cols >= 120) expect(line).toMatch(/\d+\/120 msgs \| [\d.]+\/[\d.]+ MB \| [\d.]+ MB\/s \| ETA/);
      }
      expect(bars.some((l) => / 100% \|/.test(l))).toBe(true);
      // The full names, once, above the bar: wrapped to the width when longer, never cut.
      expect(out.match(/poplift: pop3s:\/\/alice@127\.0\.0\.1:\d+ -> imaps:/g)).toHaveLength(1);
      const screen = screenOf(out, cols);
      const header = screen.findIndex((r) => r.startsWith('poplift: pop3s://alice@'));
      expect(header, screen.join('\n')).toBeGreaterThanOrEqual(0);
      const names = [
        screen[header]!,
        ...screen.slice(header + 1).filter((r, i, rest) => rest.slice(0, i + 1).every((x) => /^ {2}\S/.test(x))),
      ];
      expect(names.map((r) => r.trim()).join(' ')).toMatch(
        /^poplift: pop3s:\/\/alice@127\.0\.0\.1:\d+ -> imaps:\/\/bob@127\.0\.0\.1:\d+ folder "Archive\/Old ISP w\d+"$/,
      );
      expectRestored(out);
    });
  }

  it('the bar moves at least every 250 ms while messages arrive', async () => {
    const run = startUnderTty(command('pace'), env(), 100);
    await run.waitFor(/[█░]+ +\d+% \|/);
    const seen: string[] = [];
    const last = () =>
      drawnLines(run.output())
        .filter((l) => /[█░]/.test(l))
        .at(-1) ?? '';
    for (let i = 0; i < 8; i++) {
      await new Promise((r) => setTimeout(r, 250));
      seen.push(last());
    }
    expect(await run.done).toBe(0);
    // Rate and ETA are redrawn even between the engine's events: consecutive samples differ.
    const changes = seen.filter((l, i) => i > 0 && l !== seen[i - 1]).length;
    expect(changes, seen.join('\n')).toBeGreaterThanOrEqual(4);
  });

  describe('while the servers are slow to answer: a "connecting to …" status, gone once the bar or the report shows', () => {
    const STATUS = /connecting to|logged in to/;
    const waitingForPop3 = () => `connecting to pop3s://alice@127.0.0.1:${slowGreeting.port} … (IMAP logged in)`;

    /** The status was drawn while POP3 had not answered, fitted to the width, and no password ever reached the terminal. */
    function expectStatusShown(out: string, cols: number): void {
      const status = drawnLines(out).filter((l) => STATUS.test(l));
      expect(status, out).toContain(waitingForPop3());
      for (const line of status) expect(line.length, line).toBeLessThan(cols);
      expect(out).not.toContain(alice.password);
      expect(out).not.toContain(bob.password);
    }

    it('migrate, 80 columns: the status while waiting, replaced by the bar, nothing of it left on the screen', async () => {
      const run = startUnderTty([process.execPath, BIN, 'migrate', ...args(slowGreeting.port, 'greet')], env(), 80);
      expect(await run.done, run.output()).toBe(0);
      const out = run.output();
      expectStatusShown(out, 80);
      // The screen as the bar is first drawn: the bar, and no status line above or below it.
      const firstBar = out.search(/[█░]/);
      expect(firstBar).toBeGreaterThan(out.indexOf(waitingForPop3()));
      const atBar = screenOf(out.slice(0, out.indexOf('\x1b', firstBar)), 80);
      expect(
        atBar.filter((r) => /[█░]/.test(r)),
        atBar.join('\n'),
      ).toHaveLength(1);
      expect(
        atBar.filter((r) => STATUS.test(r)),
        atBar.join('\n'),
      ).toEqual([]);
      const end = screenOf(out, 80);
      expect(
        end.filter((r) => STATUS.test(r)),
        end.join('\n'),
      ).toEqual([]);
      expect(end.join('\n')).toMatch(/appended \d+/);
      // The full names above the bar are longer than 80 columns: wrapped, not cut at the edge.
      const header = end.findIndex((r) => r.startsWith('poplift: pop3s://alice@'));
      expect(header, end.join('\n')).toBeGreaterThanOrEqual(0);
      expect(`${end[header]!} ${end[header + 1]!.trim()}`).toContain('folder "Archive/Old ISP greet"');
      expectRestored(out);
    });

    it('verify, 80 columns: the status while waiting, erased before the report', async () => {
      // The folder the migrate test above filled, with every message (also the two that share one Message-ID).
      const run = startUnderTty([process.execPath, BIN, 'verify', ...args(slowGreeting.port, 'greet')], env(), 80);
      expect(await run.done, run.output()).toBe(0);
      const out = run.output();
      expectStatusShown(out, 80);
      const end = screenOf(out, 80);
      expect(
        end.filter((r) => STATUS.test(r)),
        end.join('\n'),
      ).toEqual([]);
      expect(end.join('\n')).toMatch(/^verify pop3s:\/\/alice@127\.0\.0\.1:\d+ -> imaps:/m);
      expectRestored(out);
    });

    it('Ctrl-C while connecting: migrate (twice) and verify (once) leave no status behind and give the terminal back', async () => {
      const migrate = startUnderTty([process.execPath, BIN, 'migrate', ...args(slowGreeting.port, 'greet-sig')], env(), 80);
      const pid = await migrate.pid;
      await migrate.waitFor(/connecting to pop3s:/);
      process.kill(pid, 'SIGINT');
      await new Promise((r) => setTimeout(r, 100));
      process.kill(pid, 'SIGINT');
      expect(await migrate.done).toBe(130);
      expect(screenOf(migrate.output(), 80).filter((r) => STATUS.test(r))).toEqual([]);
      expectRestored(migrate.output());

      const verify = startUnderTty([process.execPath, BIN, 'verify', ...args(slowGreeting.port, 'greet')], env(), 80);
      const verifyPid = await verify.pid;
      await verify.waitFor(/connecting to pop3s:/);
      process.kill(verifyPid, 'SIGINT');
      expect(await verify.done).toBe(130);
      expect(screenOf(verify.output(), 80).filter((r) => STATUS.test(r))).toEqual([]);
      expectRestored(verify.output());
    });

    it('with --quiet on a terminal, and when stderr is not a terminal, no status is written', async () => {
      const quiet = startUnderTty(
        [process.execPath, BIN, 'migrate', ...args(slowGreeting.port, 'greet-quiet'), '--quiet', '--max-sessions', '1'],
        env(),
        80,
      );
      expect(await quiet.done, quiet.output()).toBe(0);
      expect(quiet.output()).toMatch(/appended \d+/);
      expect(quiet.output()).not.toMatch(STATUS);
      expect(quiet.output()).not.toContain('\x1b[');

      const piped = await runCli(['migrate', ...args(slowGreeting.port, 'greet-piped'), '--max-sessions', '1'], env());
      expect(piped.code, piped.stderr).toBe(0);
      expect(piped.stderr).toContain('started pop3s://alice@');
      expect(piped.stderr).not.toMatch(STATUS);
      expect(piped.stderr).not.toContain('\x1b[');
    });
  });

  describe('the terminal is given back on every exit path', () => {
    it('two Ctrl-C: the second leaves at once, with the cursor shown and autowrap on', async () => {
      const run = startUnderTty(command('sig'), env(), 100);
      const pid = await run.pid;
      await run.waitFor(/[█░]+ +\d+% \|/);
      process.kill(pid, 'SIGINT');
      await new Promise((r) => setTimeout(r, 50));
      process.kill(pid, 'SIGINT');
      expect(await run.done).toBe(130);
      expectRestored(run.output());
      // The bar is not left without its line end: the last line says what became of the run.
      const rows = screenOf(run.output(), 100).filter((r) => r.trim() !== '');
      const said = rows.findIndex((r) => /^poplift: stopped at once by a second SIGINT; what was recorded/.test(r));
      expect(said, rows.join('\n')).toBeGreaterThanOrEqual(rows.length - 2);
    });

    it('one Ctrl-C: stops cleanly and restores the terminal', async () => {
      const run = startUnderTty(command('sig1'), env(), 100);
      const pid = await run.pid;
      await run.waitFor(/[█░]+ +\d+% \|/);
      process.kill(pid, 'SIGINT');
      expect(await run.done).toBe(130);
      expectRestored(run.output());
    });

    it('an uncaught error while bars are drawn', async () => {
      const progress = fileURLToPath(new URL('../../dist/cli/progress.js', import.meta.url));
      const script = join(mkdtempSync(join(tmpdir(), 'poplift-tty-')), 'crash.mjs');
      writeFileSync(
        script,
        `import { BarDisplay, emptyTally } from ${JSON.stringify(progress)};
const bars = new BarDisplay(process.stderr, false, () => emptyTally(0));
bars.start(0, 'alice → Old ISP');
bars.update(0, { found: 10, totalBytes: 1000, done: 3, doneBytes: 300 });
setTimeout(() => { throw new Error('boom'); }, 500);
`,
      );
      const run = startUnderTty([process.execPath, script], {}, 80);
      expect(await run.done).not.toBe(0);
      expect(run.output()).toContain('boom');
      expectRestored(run.output());
    });
  });
});
