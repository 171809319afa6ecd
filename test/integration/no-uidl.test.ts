import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder, sha256 } from '../helpers/mailboxes.js';
import { startScriptedPop3, type ScriptedPop3 } from '../helpers/scripted-pop3.js';
import { describeIntegration } from '../helpers/suite.js';

function message(i: number): Buffer {
  return Buffer.from(
    `From: a@example.org\r\nSubject: no uidl ${i}\r\nMessage-ID: <nouidl.${i}@example.org>\r\nDate: Tue, 2 Jun 2020 10:00:00 +0000\r\n\r\nbody ${i}\r\n`,
  );
}

/** A POP3 server without UIDL (a scripted one: Dovecot always has it) into a real Dovecot. */
describeIntegration('a POP3 server without UIDL', () => {
  let dovecot: Dovecot;
  let bob: DovecotUser;
  let pop3: ScriptedPop3;
  const messages = [1, 2, 3, 4].map(message);
  const stateDir = mkdtempSync(join(tmpdir(), 'poplift-nouidl-'));

  beforeAll(async () => {
    dovecot = await startDovecot();
    bob = dovecot.addUser('bob');
    pop3 = await startScriptedPop3({ uidl: false, messages, capa: ['USER', 'PIPELINING'], user: 'alice', password: 'pop-secret' });
  });
  afterAll(async () => {
    await pop3?.close();
    await dovecot?.stop();
  });

  const run = (...extra: string[]) =>
    runCli(
      [
        'migrate',
        `pop3://alice@127.0.0.1:${pop3.port}`,
        `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`,
        '--ca-file',
        dovecot.certPath,
        '--folder',
        'NoUidl',
        '--state-dir',
        stateDir,
        '--json',
        ...extra,
      ],
      { POPLIFT_POP3_PASSWORD: 'pop-secret', POPLIFT_IMAP_PASSWORD: bob.password },
    );

  it('migrates by message number, warns that later runs rely on Message-IDs, and a second run appends nothing', async () => {
    const first = await run();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stderr).toMatch(/does not support UIDL/);
    expect(JSON.parse(first.stdout)).toMatchObject({ found: 4, appended: 4 });
    const landed = await readImapFolder(dovecot, bob, 'NoUidl');
    expect(landed.map((m) => sha256(m.source)).sort()).toEqual(messages.map(sha256).sort());
    const second = await run();
    expect(second.code).toBe(0);
    // The journal is not trusted without UIDL: the destination's Message-IDs decide.
    expect(JSON.parse(second.stdout) as MigrationSummary).toMatchObject({ appended: 0, duplicates: 4, knownFromJournal: 0 });
  });

  it('--delete deletes nothing and says why: without UIDL a message number proves nothing', async () => {
    const r = await run('--delete');
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ deleted: 0 });
    expect(r.stderr).toMatch(/4 message\(s\) stay on POP3 server .*does not give every message a unique, well-formed UIDL/);
    expect(pop3.committedDeletes).toEqual([]);
  });
});
