import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startChild } from '../helpers/child-run.js';
import { runCli } from '../helpers/cli.js';
import { makeCorpus } from '../helpers/corpus.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder, readPop3, sha256, type Pop3Message, foldCr } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

describeIntegration('crash safety: kill -9 at any point, rerun, nothing lost or doubled', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let original: Pop3Message[];
  const stateDir = mkdtempSync(join(tmpdir(), 'poplift-crash-state-'));
  const FOLDER = 'Migrated';

  const args = (...extra: string[]) => [
    'migrate',
    `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`,
    `imap://bob@127.0.0.1:${dovecot.ports.imap}`,
    '--folder',
    FOLDER,
    '--state-dir',
    stateDir,
    '--delete',
    '--delete-every',
    '40',
    '--batch-messages',
    '10',
    '--ca-file',
    dovecot.certPath,
    ...extra,
  ];
  const env = () => ({ POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password });

  /** Every original message is on one side or the other, and the destination holds no message twice. */
  async function checkInvariants(when: string): Promise<{ source: number; destination: number }> {
    const src = await readPop3(dovecot, alice);
    const dst = await readImapFolder(dovecot, bob, FOLDER).catch(() => []);
    // Two messages may share a key (a Message-ID is a claim): no message's bytes are there twice.
    const keys = dst.map((m) => sha256(foldCr(m.binary)));
    expect(new Set(keys).size, `${when}: a message is on the destination twice`).toBe(keys.length);
    const srcShas = new Set(src.map((m) => sha256(m.source)));
    const dstShas = new Set([...dst.map((m) => sha256(foldCr(m.source))), ...dst.map((m) => sha256(m.binary))]);
    for (const m of original) {
      const there = srcShas.has(sha256(m.source)) || dstShas.has(sha256(foldCr(m.source))) || dstShas.has(sha256(m.source));
      expect(there, `${when}: UIDL ${m.uidl} is on neither side`).toBe(true);
    }
    // Deleted from the source means confirmed on the destination.
    for (const m of original) {
      if (srcShas.has(sha256(m.source))) continue;
      expect(dstShas.has(sha256(foldCr(m.source))) || dstShas.has(sha256(m.source)), `${when}: ${m.uidl} deleted but not on IMAP`).toBe(
        true,
      );
    }
    return { source: src.length, destination: dst.length };
  }

  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (const m of makeCorpus(400, { bigAttachmentBytes: 4 * 1024 * 1024, seed: 11 })) dovecot.deliver(alice, m.raw);
    original = await readPop3(dovecot, alice);
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  const killPoints: Array<[string, RegExp]> = [
    ['while listing', /POP3 C: UIDL/],
    ['before the first append', /POP3 C: RETR/],
    ['while the first APPEND is being written', /IMAP C: U\d+ APPEND/],
    ['right after the first append was confirmed', /IMAP S: U\d+ OK \[APPENDUID/],
    ['between uploads', /(IMAP S: U\d+ OK \[APPENDUID[\s\S]*){2}/],
    ['between DELE and QUIT', /POP3 C: DELE/],
    ['after QUIT was sent', /POP3 C: QUIT/],
  ];

  for (const [when, pattern] of killPoints) {
    it(`kill -9 ${when}`, async () => {
      const run = startChild([...args('--debug')], env());
      // Each run picks up where the killed one stopped, so every point is reached in turn.
      await run.waitFor(pattern);
      run.child.kill('SIGKILL');
      expect(await run.done).toBe('SIGKILL');
      await checkInvariants(when);
    });
  }

  it('a final run finishes the job: every message once on IMAP, the source holds only what must stay', async () => {
    const r = await runCli(args(), env());
    expect(r.code, r.stderr).toBe(0);
    const counts = await checkInvariants('after the final run');
    // The corpus has an exact duplicate (deleted, its twin is on IMAP); the message sharing a
    // Message-ID with another is another message, uploaded and deleted once its copy is proven.
    expect(counts.destination).toBe(original.length - 1);
    const left = (await readPop3(dovecot, alice)).map((m) => /^Subject: (.*)$/m.exec(m.source.toString('latin1'))?.[1]);
    expect(counts.source, `left on the source: ${left.join(', ')}\n${r.stderr}`).toBe(0);
    const again = await runCli(args('--json'), env());
    expect(again.code).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ appended: 0, deleted: 0 });
  });
});
