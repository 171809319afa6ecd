import { existsSync, mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { startChild } from '../helpers/child-run.js';
import { runCli } from '../helpers/cli.js';
import { makeCorpus } from '../helpers/corpus.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { readImapFolder, readPop3 } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

describeIntegration('cron runs: fast when nothing is new, one at a time, clean on signals, dry runs', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let slowPop3: FaultProxy;
  const stateDir = mkdtempSync(join(tmpdir(), 'poplift-cron-state-'));
  const env = () => ({ POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password });
  const args = (folder: string, pop3Port = dovecot.ports.pop3s, ...extra: string[]) => [
    'migrate',
    `pop3s://alice@127.0.0.1:${pop3Port}`,
    `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`,
    '--folder',
    folder,
    '--ca-file',
    dovecot.certPath,
    '--state-dir',
    stateDir,
    ...extra,
  ];

  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (const m of makeCorpus(200, { bigAttachmentBytes: 200_000, seed: 3 })) dovecot.deliver(alice, m.raw);
    // A slow link to the POP3 server (about 5 s for this mailbox), so that a run is still busy when the tests act on it.
    slowPop3 = await FaultProxy.start({ targetPort: dovecot.ports.pop3s, delayMs: 15, bandwidthBytesPerSec: 500_000 });
  });
  afterAll(async () => {
    await slowPop3?.stop();
    await dovecot?.stop();
  });

  it('a dry run changes nothing anywhere and says what it would do', async () => {
    const dryState = mkdtempSync(join(tmpdir(), 'poplift-dry-'));
    const r = await runCli([...args('Dry'), '--state-dir', join(dryState, 'state'), '--dry-run', '--delete', '--json'], env());
    expect(r.code, r.stderr).toBe(0);
    const s = JSON.parse(r.stdout) as MigrationSummary;
    expect(s.dryRun).toBe(true);
    expect(s.appended).toBe(0);
    // A dry run that reads only headers cannot compare bytes: a key seen earlier in the run counts as a duplicate.
    expect(s.wouldAppend).toHaveLength(198);
    // Nothing is on the destination yet, so nothing would be deleted.
    expect(s.wouldDelete).toEqual([]);
    expect(r.stderr).toMatch(/does not exist yet/);
    expect(existsSync(join(dryState, 'state'))).toBe(false);
    await expect(readImapFolder(dovecot, bob, 'Dry')).rejects.toThrow();
    expect(await readPop3(dovecot, alice)).toHaveLength(200);
  });

  it('a re-run with nothing new does no RETR and no index FETCH', async () => {
    const first = await runCli([...args('Cron'), '--json'], env());
    expect(first.code, first.stderr).toBe(0);
    const again = await runCli([...args('Cron'), '--json', '--debug'], env());
    expect(again.code).toBe(0);
    const trace = again.stderr;
    expect(trace).toMatch(/POP3 C: UIDL/);
    expect(trace).not.toMatch(/POP3 C: RETR/);
    expect(trace).not.toMatch(/IMAP C: \S+ (UID )?FETCH/);
    expect(trace).not.toMatch(/IMAP C: \S+ APPEND/);
    expect(JSON.parse(again.stdout)).toMatchObject({ found: 200, knownFromJournal: 200, appended: 0 });
  });

  it('--dry-run --delete lists exactly the messages whose copy is confirmed', async () => {
    const r = await runCli([...args('Cron'), '--dry-run', '--delete', '--json'], env());
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout) as MigrationSummary;
    // Every message: the exact duplicate's copy is its twin's, and the message sharing a Message-ID with
    // another was uploaded as itself.
    expect(s.wouldDelete).toHaveLength(200);
    expect(await readPop3(dovecot, alice)).toHaveLength(200);
  });

  it('a second run while one is busy exits 5 naming the holder; the first finishes', async () => {
    const busy = startChild([...args('Locked', slowPop3.port), '--debug'], env());
    await busy.waitFor(/POP3 C: RETR/);
    const second = await runCli(args('Locked', slowPop3.port), env());
    expect(second.code).toBe(5);
    expect(second.stderr.trim().split('\n')).toHaveLength(1);
    expect(second.stderr).toContain(`PID ${busy.child.pid}`);
    // The same server named another way is the same mailbox: localhost is 127.0.0.1.
    const renamed = await runCli(
      args('Locked', slowPop3.port).map((a) => a.replace(`alice@127.0.0.1:${slowPop3.port}`, `alice@localhost:${slowPop3.port}`)),
      env(),
    );
    expect(renamed.code, renamed.stderr).toBe(5);
    expect(renamed.stderr).toContain(`PID ${busy.child.pid}`);
    expect(await busy.done).toBe(0);
  });

  it('SIGTERM stops cleanly: exit 143, summary printed, lock released, rerun completes', async () => {
    const run = startChild([...args('Signal', slowPop3.port), '--debug', '--batch-messages', '10'], env());
    await run.waitFor(/IMAP S: U\d+ OK \[APPENDUID/);
    run.child.kill('SIGTERM');
    expect(await run.done).toBe(143);
    expect(run.stderr()).toMatch(/stopped early: interrupted/);
    expect(readdirSync(stateDir).filter((f) => f.endsWith('.lock'))).toEqual([]);
    for (const f of readdirSync(stateDir)) expect(statSync(join(stateDir, f)).mode & 0o077).toBe(0);
    const landed = (await readImapFolder(dovecot, bob, 'Signal')).length;
    expect(landed).toBeGreaterThan(0);
    expect(landed).toBeLessThan(199);
    const rest = await runCli([...args('Signal'), '--json'], env());
    expect(rest.code).toBe(0);
    expect((JSON.parse(rest.stdout) as { appended: number }).appended).toBe(199 - landed);
    // Only the exact duplicate is skipped: the message sharing a Message-ID with another lands too.
    expect(await readImapFolder(dovecot, bob, 'Signal')).toHaveLength(199);
  });
});
