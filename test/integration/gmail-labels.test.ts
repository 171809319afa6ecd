/**
 * --label into Gmail: after each APPEND, `UID STORE <uid> +X-GM-LABELS
 * (<labels>)` with the UID APPENDUID named, labels sent as Gmail's IMAP
 * extensions document wants them (astrings: quoted with a space, modified
 * UTF-7 beyond ASCII). The destination is hoodiecrow-imap with its
 * X-GM-EXT-1 plugin and Gmail's folders (test/helpers/hoodiecrow.ts), the
 * source the real Dovecot's POP3. A server without X-GM-EXT-1 is refused
 * before anything moves (exit 2).
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { startHoodiecrow, type Hoodiecrow } from '../helpers/hoodiecrow.js';
import { describeIntegration } from '../helpers/suite.js';

function message(i: number, spam = false): Buffer {
  return Buffer.from(
    `${spam ? 'X-Spam-Flag: YES\r\n' : ''}From: a@example.org\r\nSubject: gm ${i}\r\nMessage-ID: <gm${i}@example.org>\r\n\r\nbody ${i}\r\n`,
  );
}

describeIntegration('--label into Gmail (X-GM-LABELS)', () => {
  let gmail: Hoodiecrow;
  let plain: Hoodiecrow;
  let dovecot: Dovecot;

  beforeAll(async () => {
    [gmail, plain, dovecot] = await Promise.all([startHoodiecrow({ gmail: true }), startHoodiecrow(), startDovecot({ tls: false })]);
  });
  afterAll(async () => {
    await Promise.all([gmail?.stop(), plain?.stop(), dovecot?.stop()]);
  });

  const run = (source: DovecotUser, crow: Hoodiecrow, ...extra: string[]) => {
    const dest = crow.addUser('dest', 'pw-dest');
    return runCli(
      [
        'migrate',
        `pop3://${source.name}@127.0.0.1:${dovecot.ports.pop3}`,
        `imap://dest@127.0.0.1:${crow.imap!.port}`,
        '--timeout',
        '30',
        '--state-dir',
        `${source.home}/state`,
        ...extra,
      ],
      { POPLIFT_POP3_PASSWORD: source.password, POPLIFT_IMAP_PASSWORD: dest.password },
    );
  };

  it('labels every uploaded message, into the inbox and into Spam by --junk auto; a second run labels nothing twice', async () => {
    const source = dovecot.addUser('gmsrc', 'pw-src');
    dovecot.deliver(source, message(1));
    dovecot.deliver(source, message(2, true));
    dovecot.deliver(source, message(3));
    const args = ['--folder', 'INBOX', '--label', 'Old ISP', '--label', 'Étiquette', '--junk', 'auto', '--json'];
    const first = await run(source, gmail, ...args);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ appended: 3, junk: 1, junkFolder: '[Gmail]/Spam' });
    // A label with a space goes quoted and comes back whole; É goes as Gmail wants non-ASCII labels, modified UTF-7.
    expect(gmail.labels('INBOX')).toEqual([
      ['\\Inbox', 'Old ISP', '&AMk-tiquette'],
      ['\\Inbox', 'Old ISP', '&AMk-tiquette'],
    ]);
    expect(gmail.labels('[Gmail]/Spam')).toEqual([['\\Junk', 'Old ISP', '&AMk-tiquette']]);
    expect(gmail.folder('INBOX')!.map((raw) => /Subject: (gm \d)/.exec(raw)?.[1])).toEqual(['gm 1', 'gm 3']);

    dovecot.deliver(source, message(4));
    const second = await run(source, gmail, ...args);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ appended: 1, knownFromJournal: 3 });
    expect(gmail.labels('INBOX')).toHaveLength(3);
    expect(gmail.labels('INBOX')!.every((l) => l.join(' ') === '\\Inbox Old ISP &AMk-tiquette')).toBe(true);
  });

  it('a server without X-GM-EXT-1: exit 2 with one line of advice, and nothing moved', async () => {
    const source = dovecot.addUser('plainsrc', 'pw-src');
    dovecot.deliver(source, message(5));
    const r = await run(source, plain, '--folder', 'Moved', '--label', 'Old ISP');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/does not offer Gmail's labels \(no X-GM-EXT-1 capability\): --label works only into Gmail/);
    expect(
      r.stderr
        .trim()
        .split('\n')
        .filter((l) => l.includes('X-GM-EXT-1')),
    ).toHaveLength(1);
    expect(r.stderr).not.toMatch(/\n\s+at /);
    expect(plain.folder('Moved')).toBeUndefined();
    expect(dovecot.countInbox(source)).toBe(1);
  });

  it('a label Gmail would refuse is a usage error before anything connects', async () => {
    const source = dovecot.addUser('badlabel', 'pw-src');
    for (const bad of [' lead', 'two  spaces', 'caret^', '']) {
      const r = await run(source, gmail, '--label', bad);
      expect(r.code, bad).toBe(2);
      expect(r.stderr).toMatch(/--label .* Gmail refuses in a label name/);
    }
  });
});
