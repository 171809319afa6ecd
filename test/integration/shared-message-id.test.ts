/**
 * 200 readings of a sensor, all under one Message-ID and of one size: a
 * Message-ID is a claim, so each reading is uploaded, plain verify judges
 * them by their bytes, and --delete removes each once its own copy is
 * proven.
 */
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import type { VerifyReport } from '../../src/engine/verify.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder, readPop3, sha256 } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const READINGS = 200;

function reading(i: number): Buffer {
  return Buffer.from(
    `Message-ID: <reading@sensor>\r\nFrom: sensor@example.org\r\nTo: ops@example.org\r\nSubject: reading\r\nDate: Mon, 2 Mar 2026 10:00:00 +0000\r\n\r\ntemperature ${String(i).padStart(3, '0')}\r\n`,
    'latin1',
  );
}

describeIntegration('distinct messages sharing one Message-ID', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  const env = () => ({ POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password });
  const urls = () => [`pop3://alice@127.0.0.1:${dovecot.ports.pop3}`, `imap://bob@127.0.0.1:${dovecot.ports.imap}`];
  const stateDir = () => mkdtempSync(join(tmpdir(), 'poplift-sensor-'));

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (let i = 0; i < READINGS; i++) dovecot.deliver(alice, reading(i));
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('plain verify does not call readings there that only share the Message-ID and size of the one copy', async () => {
    // bob's INBOX holds the first reading only.
    dovecot.deliver(bob, reading(0));
    const r = await runCli(['verify', ...urls(), '--folder', 'INBOX', '--json'], env());
    const report = JSON.parse(r.stdout) as VerifyReport;
    expect(r.code).toBe(1);
    expect(report.present).toBe(1);
    expect(report.problems).toHaveLength(READINGS - 1);
  });

  it('uploads every reading, exits 0, and --delete removes each once its own copy is proven', async () => {
    const dir = stateDir();
    const started = performance.now();
    const r = await runCli(['migrate', ...urls(), '--folder', 'Sensor', '--state-dir', dir, '--json'], env());
    const seconds = (performance.now() - started) / 1000;
    expect(r.code, r.stderr).toBe(0);
    const summary = JSON.parse(r.stdout) as MigrationSummary;
    expect(summary).toMatchObject({ found: READINGS, appended: READINGS, duplicates: 0, failed: 0 });
    const folder = await readImapFolder(dovecot, bob, 'Sensor');
    expect(new Set(folder.map((m) => sha256(m.source))).size).toBe(READINGS);
    expect(seconds).toBeGreaterThan(0);

    const verify = await runCli(['verify', ...urls(), '--folder', 'Sensor', '--json'], env());
    expect(verify.code, verify.stderr).toBe(0);
    expect((JSON.parse(verify.stdout) as VerifyReport).present).toBe(READINGS);

    // A run without the journal finds every reading's own copy by its bytes, uploads nothing, and deletes all.
    const again = await runCli(['migrate', ...urls(), '--folder', 'Sensor', '--state-dir', stateDir(), '--delete', '--json'], env());
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ appended: 0, duplicates: READINGS, deleted: READINGS });
    expect(await readPop3(dovecot, alice)).toHaveLength(0);
    expect(await readImapFolder(dovecot, bob, 'Sensor')).toHaveLength(READINGS);
  });
});
