import { existsSync, mkdtempSync, readdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { journalName, legacyJournalName } from '../../src/state/state-dir.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const PASSWORD = 'two-isps';

function message(server: string, i: number): Buffer {
  return Buffer.from(
    [
      `From: alice@${server}.example`,
      'To: alice@new.example',
      `Subject: ${server} ${i}`,
      'Date: Mon, 02 Feb 2026 10:00:00 +0000',
      `Message-ID: <${server}-${i}@old.example>`,
      '',
      `Message ${i} from ${server}.`,
      '',
    ].join('\r\n'),
  );
}

describeIntegration('state keys: two POP3 servers on one host, different ports', () => {
  let one: Dovecot;
  let two: Dovecot;
  let bob: DovecotUser;
  const stateDir = mkdtempSync(join(tmpdir(), 'poplift-keys-state-'));
  const env = { POPLIFT_POP3_PASSWORD: PASSWORD, POPLIFT_IMAP_PASSWORD: PASSWORD };
  const args = (pop3: Dovecot, folder: string) => [
    'migrate',
    `pop3://alice@127.0.0.1:${pop3.ports.pop3}`,
    `imap://bob@127.0.0.1:${one.ports.imap}`,
    '--folder',
    folder,
    '--state-dir',
    stateDir,
    '--json',
  ];
  const journals = () => readdirSync(stateDir).filter((f) => f.endsWith('.journal'));

  beforeAll(async () => {
    one = await startDovecot({ tls: false });
    two = await startDovecot({ tls: false });
    bob = one.addUser('bob', PASSWORD);
    const a1 = one.addUser('alice', PASSWORD);
    const a2 = two.addUser('alice', PASSWORD);
    for (let i = 1; i <= 4; i++) one.deliver(a1, message('one', i));
    for (let i = 1; i <= 6; i++) two.deliver(a2, message('two', i));
  }, 60_000);
  afterAll(async () => {
    await one?.stop();
    await two?.stop();
  });

  it("keeps one journal per server: neither run reads the other one's", async () => {
    const first = await runCli(args(one, 'Two ISPs'), env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ found: 4, appended: 4, knownFromJournal: 0 });
    const second = await runCli(args(two, 'Two ISPs'), env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ found: 6, appended: 6, knownFromJournal: 0 });
    expect(second.stderr).not.toMatch(/warning/);
    expect(journals()).toHaveLength(2);
    const again = await Promise.all([runCli(args(one, 'Two ISPs'), env), runCli(args(two, 'Two ISPs'), env)]);
    expect(again.map((r) => r.code)).toEqual([0, 0]);
    expect(again.map((r) => (JSON.parse(r.stdout) as { knownFromJournal: number }).knownFromJournal)).toEqual([4, 6]);
    expect(await readImapFolder(one, bob, 'Two ISPs')).toHaveLength(10);
  });

  it('adopts a journal under the old name (user and host only) when its first line names this server', async () => {
    const first = await runCli(args(one, 'Legacy'), env);
    expect(first.code, first.stderr).toBe(0);
    const pop3 = { scheme: 'pop3', host: '127.0.0.1', port: one.ports.pop3, user: 'alice' };
    const imap = { scheme: 'imap', host: '127.0.0.1', port: one.ports.imap, user: 'bob' };
    const current = join(stateDir, journalName(pop3, imap, 'Legacy'));
    const legacy = join(stateDir, legacyJournalName(pop3, imap, 'Legacy'));
    renameSync(current, legacy);
    // Server two's run must not take server one's old journal.
    const other = await runCli(args(two, 'Legacy'), env);
    expect(other.code, other.stderr).toBe(0);
    expect(JSON.parse(other.stdout)).toMatchObject({ knownFromJournal: 0 });
    expect(existsSync(legacy)).toBe(true);
    // A dry run reads it where it is and renames nothing.
    const dry = await runCli([...args(one, 'Legacy'), '--dry-run'], env);
    expect(dry.code, dry.stderr).toBe(0);
    expect(JSON.parse(dry.stdout)).toMatchObject({ knownFromJournal: 4 });
    expect(existsSync(legacy)).toBe(true);
    const again = await runCli(args(one, 'Legacy'), env);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ found: 4, knownFromJournal: 4, appended: 0 });
    expect(existsSync(legacy)).toBe(false);
    expect(existsSync(current)).toBe(true);
  });
});
