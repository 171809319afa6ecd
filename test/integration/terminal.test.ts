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
import { drawnLines, startUnderTty } from '../helpers/tty.js';

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
  const stateDir = mkdtempSync(join(tmpdir(), 'poplift-tty-state-'));

  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (const m of makeCorpus(120, { bigAttachmentBytes: 60_000, seed: 9 })) dovecot.deliver(alice, m.raw);
    // About 3 s for this mailbox: long enough for several redraws.
    slowPop3 = await FaultProxy.start({ targetPort: dovecot.ports.pop3s, delayMs: 10, bandwidthBytesPerSec: 800_000 });
  });
  afterAll(async () => {
    await slowPop3?.stop();
    await dovecot?.stop();
  });

  const env = () => ({ POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password });
  const command = (folder: string, ...extra: string[]) => [
    process.execPath,
    BIN,
    'migrate',
    `pop3s://alice@127.0.0.1:${slowPop3.port}`,
    `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`,
    '--folder',
    `Archive/Old ISP ${folder}`,
    '--ca-file',
    dovecot.certPath,
    '--state-dir',
    join(stateDir, folder),
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
      // The full names, once, above the bar.
      expect(
        out.match(/poplift: pop3s:\/\/alice@127\.0\.0\.1:\d+ -> imaps:\/\/bob@127\.0\.0\.1:\d+ folder "Archive\/Old ISP w\d+"/g),
      ).toHaveLength(1);
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
