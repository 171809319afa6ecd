import { afterAll, beforeAll, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';
import { runUnderTty } from '../helpers/tty.js';

describeIntegration('passwords asked on the terminal', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;

  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice', 'Typed-Pop3-Secret');
    bob = dovecot.addUser('bob', 'Typed-Imap-Secret');
    dovecot.deliver(alice, Buffer.from('Subject: asked\r\nMessage-ID: <asked@example.org>\r\n\r\nbody\r\n'));
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  it('asks for each missing password with echo off, then migrates', async () => {
    const r = await runUnderTty(
      [
        'migrate',
        `pop3s://alice@127.0.0.1:${dovecot.ports.pop3s}`,
        `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`,
        '--ca-file',
        dovecot.certPath,
        '--state-dir',
        mkdtempSync(join(tmpdir(), 'poplift-prompt-')),
      ],
      {},
      [
        [/POP3 password for alice@127\.0\.0\.1: $/, alice.password],
        [/IMAP password for bob@127\.0\.0\.1: $/, bob.password],
      ],
    );
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/POP3 password for alice@127\.0\.0\.1: /);
    expect(r.output).toMatch(/IMAP password for bob@127\.0\.0\.1: /);
    // Echo is off: what was typed never reaches the terminal.
    expect(r.output).not.toContain(alice.password);
    expect(r.output).not.toContain(bob.password);
    expect(await readImapFolder(dovecot, bob, 'INBOX')).toHaveLength(1);
  });
});
