import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot } from '../helpers/dovecot.js';
import { readImapFolder, sha256 } from '../helpers/mailboxes.js';
import { startScriptedPop3 } from '../helpers/scripted-pop3.js';
import { describeIntegration } from '../helpers/suite.js';

/** Distinct messages of distinct sizes, as real mail is. */
function message(name: string, i: number): Buffer {
  return Buffer.from(
    `From: a@example.org\r\nSubject: ${name}\r\nMessage-ID: <${name}@example.org>\r\nDate: Tue, 2 Jun 2020 10:00:00 +0000\r\n\r\n${'x'.repeat(10 * i)}body of ${name}\r\n`,
  );
}

/**
 * Servers whose UIDLs cannot tell messages apart. A cron sequence: run 1
 * copies without --delete; then three old messages expire on the server and
 * three new ones arrive; run 2 with --delete must not delete the new ones
 * on the strength of the old ones' journal entries.
 */
const brokenServers: Array<[string, (n: number, m: Buffer) => string | undefined]> = [
  ['numeric UIDLs that are the message number', (n) => String(n)],
  ['repeated UIDLs', (n) => `u${Math.ceil(n / 2)}`],
  ['UIDLs with a space', (n) => `x U${n} tail`],
  ['UIDLs with 8-bit bytes', (n) => `\u00e9${n}`],
  ['a missing UIDL line', (n) => (n % 2 === 0 ? undefined : `ok-${n}`)],
];

describeIntegration('--delete against POP3 servers with unusable UIDLs', () => {
  let dovecot: Dovecot;
  beforeAll(async () => {
    dovecot = await startDovecot();
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  describe.each(brokenServers)('%s', (name, uidlOf) => {
    it('never deletes a message that is not on the destination', async () => {
      const bob = dovecot.addUser(`bob${brokenServers.findIndex(([n]) => n === name)}`);
      const old = [1, 2, 3, 4, 5].map((i) => message(`old${i}`, i));
      const fresh = [6, 7, 8].map((i) => message(`new${i}`, i));
      const messages = [...old];
      const pop3 = await startScriptedPop3({
        messages,
        uidlOf,
        removeOnQuit: true,
        capa: ['USER', 'UIDL', 'PIPELINING'],
        user: 'alice',
        password: 'pw',
      });
      const stateDir = mkdtempSync(join(tmpdir(), 'poplift-broken-uidl-'));
      const run = (...extra: string[]) =>
        runCli(
          [
            'migrate',
            `pop3://alice@127.0.0.1:${pop3.port}`,
            `imaps://${bob.name}@127.0.0.1:${dovecot.ports.imaps}`,
            '--ca-file',
            dovecot.certPath,
            '--folder',
            'F',
            '--state-dir',
            stateDir,
            ...extra,
          ],
          { POPLIFT_POP3_PASSWORD: 'pw', POPLIFT_IMAP_PASSWORD: bob.password },
        );
      try {
        const first = await run();
        expect(first.code, first.stderr).toBe(0);
        // Three old messages expire, three new ones arrive.
        messages.splice(0, 3, ...fresh);
        const second = await run('--delete');
        const onImap = new Set((await readImapFolder(dovecot, bob, 'F')).map((m) => sha256(m.source)));
        const onPop3 = new Set(messages.map(sha256));
        for (const m of [...old, ...fresh]) {
          const subject = /Subject: (\S+)/.exec(m.toString())![1];
          expect(onImap.has(sha256(m)) || onPop3.has(sha256(m)), `${subject} was lost\n${second.stderr}`).toBe(true);
        }
        for (const m of fresh) expect(onImap.has(sha256(m)), second.stderr).toBe(true);
        expect(second.code, second.stderr).toBe(0);
      } finally {
        await pop3.close();
      }
    });
  });
});
