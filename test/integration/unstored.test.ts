import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { makeCorpus } from '../helpers/corpus.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { imapClient, readImapFolder, readPop3, sha256, foldCr, type Pop3Message } from '../helpers/mailboxes.js';
import { ThrottlingImapProxy } from '../helpers/throttling-imap-proxy.js';
import { describeIntegration } from '../helpers/suite.js';

/** A destination that answers OK to an APPEND and stores nothing: exit 0 must never say the mail is there. */
describeIntegration('a destination that says OK and stores nothing', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let source: Pop3Message[];
  const stateDir = mkdtempSync(join(tmpdir(), 'poplift-unstored-'));

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (const m of makeCorpus(40, { seed: 21 }).filter((m) => !/shared@example.org/.test(m.raw.toString('latin1'))))
      dovecot.deliver(alice, m.raw);
    source = await readPop3(dovecot, alice);
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  const run = (imapPort: number, ...extra: string[]) =>
    runCli(
      [
        'migrate',
        `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`,
        `imap://bob@127.0.0.1:${imapPort}`,
        '--folder',
        'Lies',
        '--state-dir',
        stateDir,
        '--batch-messages',
        '10',
        '--json',
        ...extra,
      ],
      { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password },
    );

  it('reports the messages that are not in the folder, exits 1, and the next run uploads them', async () => {
    const proxy = await ThrottlingImapProxy.start({
      targetPort: dovecot.ports.imap,
      refuse: 5,
      backoffMs: 0,
      reply: (tag) => `${tag} OK Append completed.`,
    });
    let first;
    try {
      first = await run(proxy.port, '--no-multiappend');
    } finally {
      await proxy.stop();
    }
    expect(proxy.refused).toBe(5);
    expect(first.code, first.stderr).toBe(1);
    const summary = JSON.parse(first.stdout) as MigrationSummary;
    expect(summary.failed).toBe(5);
    expect(summary.failures[0]!.reason).toMatch(/not in the folder/);

    const second = await run(dovecot.ports.imap);
    expect(second.code, second.stderr).toBe(0);
    const landed = await readImapFolder(dovecot, bob, 'Lies');
    // Every source message is there once (the corpus's exact duplicate shares its twin's copy).
    expect(landed).toHaveLength(new Set(source.map((m) => sha256(m.source))).size);
    // BODY[] cannot carry NUL, so a message with NUL is compared through BINARY[].
    const shas = new Set(landed.flatMap((m) => [sha256(foldCr(m.source)), sha256(foldCr(m.binary))]));
    for (const m of source) expect(shas.has(sha256(foldCr(m.source))), m.uidl).toBe(true);
    const third = await run(dovecot.ports.imap);
    expect(JSON.parse(third.stdout)).toMatchObject({ appended: 0, knownFromJournal: source.length });
  });

  // An APPENDUID is the server's word: one that names a message the folder held before the run proves nothing.
  it('does not count uploads there when the server names the UIDs of messages already in the folder, exits 1, and the next run uploads them', async () => {
    const folder = 'Named';
    const client = await imapClient(dovecot, bob);
    let validity: bigint;
    try {
      await client.mailboxCreate(folder);
      for (let i = 0; i < 5; i++)
        await client.append(folder, Buffer.from(`Message-ID: <old${i}@example.org>\r\nSubject: old ${i}\r\n\r\nalready here\r\n`));
      const status = await client.status(folder, { uidValidity: true });
      if (!status || status.uidValidity === undefined) throw new Error('no UIDVALIDITY');
      validity = status.uidValidity;
    } finally {
      await client.logout();
    }
    let named = 0;
    const proxy = await ThrottlingImapProxy.start({
      targetPort: dovecot.ports.imap,
      refuse: 5,
      backoffMs: 0,
      reply: (tag) => `${tag} OK [APPENDUID ${validity} ${(named++ % 5) + 1}] Append completed.`,
    });
    const dir = mkdtempSync(join(tmpdir(), 'poplift-named-'));
    const into = (port: number) =>
      runCli(
        [
          'migrate',
          `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`,
          `imap://bob@127.0.0.1:${port}`,
          '--folder',
          folder,
          '--state-dir',
          dir,
          '--no-multiappend',
          '--json',
        ],
        { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password },
      );
    let first;
    try {
      first = await into(proxy.port);
    } finally {
      await proxy.stop();
    }
    expect(proxy.refused).toBe(5);
    expect(first.code, first.stderr).toBe(1);
    const summary = JSON.parse(first.stdout) as MigrationSummary;
    expect(summary.failed).toBe(5);
    expect(summary.failures.every((f) => /not in the folder/.test(f.reason))).toBe(true);

    const second = await into(dovecot.ports.imap);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ appended: 5 });
    const landed = await readImapFolder(dovecot, bob, folder);
    expect(landed).toHaveLength(5 + new Set(source.map((m) => sha256(m.source))).size);
  });

  it('a folder recreated after a run that died before its end is noticed: everything is uploaded again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'poplift-recreated-'));
    const into = (...extra: string[]) =>
      runCli(
        [
          'migrate',
          `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`,
          `imap://bob@127.0.0.1:${dovecot.ports.imap}`,
          '--folder',
          'Again',
          '--state-dir',
          dir,
          '--json',
          ...extra,
        ],
        {
          POPLIFT_POP3_PASSWORD: alice.password,
          POPLIFT_IMAP_PASSWORD: bob.password,
        },
      );
    const first = await into();
    expect(first.code, first.stderr).toBe(0);
    // A run killed after its uploads were confirmed never writes the folder's state at its end.
    const journal = join(
      dir,
      readdirSync(dir).find((f) => f.endsWith('.journal'))!,
    );
    const lines = readFileSync(journal, 'utf8').trimEnd().split('\n');
    expect(JSON.parse(lines.at(-1)!)).toMatchObject({ t: 'folder', uidNext: expect.any(Number) });
    writeFileSync(journal, `${lines.slice(0, -1).join('\n')}\n`);
    const client = await imapClient(dovecot, bob);
    try {
      await client.mailboxDelete('Again');
      await client.mailboxCreate('Again');
    } finally {
      await client.logout();
    }
    const second = await into();
    expect(second.code, second.stderr).toBe(0);
    expect(second.stderr).toMatch(/recreated/);
    expect(JSON.parse(second.stdout)).toMatchObject({
      knownFromJournal: 0,
      appended: first.code === 0 ? (JSON.parse(first.stdout) as MigrationSummary).appended : -1,
    });
  });
});
