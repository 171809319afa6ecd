import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { makeCorpus } from '../helpers/corpus.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder, readPop3, sha256, foldCr, type Pop3Message } from '../helpers/mailboxes.js';
import { PartialMultiAppendProxy } from '../helpers/partial-multiappend-proxy.js';
import { describeIntegration } from '../helpers/suite.js';

/** RFC 3502 makes MULTIAPPEND all or nothing; a server that stores some messages and answers NO must not get them twice. */
describeIntegration('a MULTIAPPEND refused after part of it was stored', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let source: Pop3Message[];

  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (const m of makeCorpus(23, { seed: 35 })) dovecot.deliver(alice, m.raw);
    source = await readPop3(dovecot, alice);
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('the messages stored before the NO are found and not uploaded again; the rest are', async () => {
    const proxy = await PartialMultiAppendProxy.start({ targetPort: dovecot.ports.imap, keep: 2, batches: 3 });
    let result;
    const started = performance.now();
    try {
      result = await runCli(
        [
          'migrate',
          `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`,
          `imap://bob@127.0.0.1:${proxy.port}`,
          '--folder',
          'Partial',
          '--state-dir',
          mkdtempSync(join(tmpdir(), 'poplift-partial-')),
          '--batch-messages',
          '5',
          '--dedupe',
          'none',
          '--json',
          // A run that loses step waits this out and reconnects; the elapsed time below tells.
          '--timeout',
          '30',
        ],
        { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password },
      );
    } finally {
      await proxy.stop();
    }
    const seconds = (performance.now() - started) / 1000;
    expect(proxy.refused).toBe(3);
    expect(proxy.storedBehindNo).toBe(6);
    expect(result.code, result.stderr).toBe(0);
    // Before: the lookup of a refused batch went out inside the next batch's 26.9 MB literal, and
    // the run went on only after the idle timeout (60 s of 63 s) and a new connection.
    expect(result.stderr).not.toMatch(/sent nothing|Reconnecting/);
    expect(seconds).toBeLessThan(20);
    const summary = JSON.parse(result.stdout) as MigrationSummary;
    expect(summary.failed).toBe(0);
    const landed = await readImapFolder(dovecot, bob, 'Partial');
    // Every source message exactly once (with --dedupe none an exact duplicate in the source is its own copy).
    const wanted = new Map<string, number>();
    for (const m of source) wanted.set(sha256(foldCr(m.source)), (wanted.get(sha256(foldCr(m.source))) ?? 0) + 1);
    const copies = new Map<string, number>();
    for (const m of landed) {
      // BODY[] cannot carry NUL, so a message with NUL is compared through BINARY[].
      const sha = [sha256(foldCr(m.source)), sha256(foldCr(m.binary))].find((h) => wanted.has(h)) ?? sha256(m.source);
      copies.set(sha, (copies.get(sha) ?? 0) + 1);
    }
    expect(landed).toHaveLength(source.length);
    expect(copies).toEqual(wanted);
  });
});
