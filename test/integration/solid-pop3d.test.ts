/**
 * solid-pop3d (Maildir) answers PASS with "-ERR message is damaged" when one
 * message file lacks its final line end: the password was right, the server
 * cannot open the maildrop. poplift must quote the server and not send the
 * user off to check a password that is fine.
 */
import { chownSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { systemIds, type MailUser } from '../helpers/mail-server.js';
import { solidPop3dMissing, startSolidPop3d, type SolidPop3d } from '../helpers/solid-pop3d.js';
import { describeIntegration } from '../helpers/suite.js';

function message(i: number): Buffer {
  return Buffer.from(`From: a@example.org\r\nSubject: solid ${i}\r\nMessage-ID: <solid${i}@example.org>\r\n\r\nbody ${i}\r\n`);
}

const missing = solidPop3dMissing();
const suite = missing ? describe.skip : describeIntegration;

suite(`solid-pop3d as the POP3 source${missing ? ` (skipped: ${missing})` : ''}`, () => {
  let solid: SolidPop3d;
  let dovecot: Dovecot;
  let dest: DovecotUser;

  beforeAll(async () => {
    [solid, dovecot] = await Promise.all([startSolidPop3d(), startDovecot()]);
    dest = dovecot.addUser('dest');
  });
  afterAll(async () => {
    await Promise.all([solid?.stop(), dovecot?.stop()]);
  });

  const migrate = (user: MailUser, password: string, folder: string) =>
    runCli(
      [
        'migrate',
        `pop3://${user.login}@127.0.0.1:${solid.pop3!.port}`,
        `imaps://dest@127.0.0.1:${dovecot.ports.imaps}`,
        '--ca-file',
        dovecot.certPath,
        '--folder',
        folder,
        '--timeout',
        '30',
      ],
      { POPLIFT_POP3_PASSWORD: password, POPLIFT_IMAP_PASSWORD: dest.password },
    );

  it('moves a sound Maildir, and a wrong password is still exit 3', async () => {
    const user = solid.addUser('sound');
    solid.deliver(user, [message(1), message(2)]);
    const ok = await migrate(user, user.password, 'Sound');
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toMatch(/found 2, appended 2, duplicates skipped 0, failed 0/);
    const wrong = await migrate(user, 'not-the-password', 'Sound');
    expect(wrong.code).toBe(3);
    expect(wrong.stderr).toMatch(/refused the login[^\n]*authentication failed[^\n]*check the POP3 user name and password/);
  });

  it('"-ERR message is damaged" to PASS is quoted, is not called a password problem, and is not exit 3', async () => {
    const user = solid.addUser('damaged');
    solid.deliver(user, [message(1)]);
    // A message file whose last line has no line end, as an interrupted delivery leaves it.
    const ids = systemIds('mail');
    const path = join(solid.maildirOf(user), 'new', 'truncated.poplift');
    writeFileSync(path, 'From: a@example.org\nSubject: cut short\n\nno final line end', { mode: 0o600 });
    chownSync(path, ids.uid, ids.gid);

    const r = await migrate(user, user.password, 'Damaged');
    expect(r.code).toBe(1);
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^poplift: POP3 server 127\.0\.0\.1:\d+ /);
    expect(lines[0]).toContain('"message is damaged"');
    expect(lines[0]).not.toMatch(/password|user name/i);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });
});
