/**
 * Spam routing against the real Dovecot: a mailbox with messages its filter
 * marked and clean ones, a destination whose junk folder has a localised
 * name and the \Junk special-use attribute (RFC 6154). Each message must end
 * exactly once, byte-exact, in the right folder, across a second run,
 * verify and --delete.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder, readPop3, sha256 } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const SECRET = 'pw-Junk-distinctive-47';
const JUNK = 'Indésirables';

const clean = [
  'From: a@example.org\r\nSubject: clean 1\r\nMessage-ID: <clean.1@junk.example>\r\nX-Spam-Flag: NO\r\nX-Spam-Status: No, score=-1.0 required=5.0\r\n\r\nhello 1\r\n',
  'From: a@example.org\r\nSubject: clean 2\r\nMessage-ID: <clean.2@junk.example>\r\n\r\ncaf\xe9 2\r\n',
  // A verdict in a forwarded message's header is not this message's.
  'From: a@example.org\r\nSubject: clean 3\r\nMessage-ID: <clean.3@junk.example>\r\nContent-Type: message/rfc822\r\n\r\nX-Spam-Flag: YES\r\nSubject: old\r\n\r\nold\r\n',
].map((s) => Buffer.from(s, 'latin1'));
const spam = [
  'X-Spam-Flag: YES\r\nFrom: s@example.net\r\nSubject: spam 1\r\nMessage-ID: <spam.1@junk.example>\r\n\r\nbuy 1\r\n',
  // Folded, lower case, after a "no" a sender wrote, with 8-bit bytes in the body.
  'x-spam-flag: no\r\nReceived: from mx by pop\r\nx-spam-status: yes,\r\n\tscore=9.9 required=5.0\r\nFrom: s@example.net\r\nSubject: spam 2\r\nMessage-ID: <spam.2@junk.example>\r\n\r\nach\xfcng 2\r\n',
  'X-Spam: Yes\r\nFrom: s@example.net\r\nSubject: spam 3\r\nMessage-ID: <spam.3@junk.example>\r\n\r\nbuy 3\r\n',
].map((s) => Buffer.from(s, 'latin1'));

describeIntegration('--junk: spam routing into the \\Junk special-use folder (Dovecot)', () => {
  let dovecot: Dovecot;
  beforeAll(async () => {
    dovecot = await startDovecot({
      tls: false,
      extraConfig: `namespace inbox {\n  inbox = yes\n  mailbox "${JUNK}" {\n    special_use = \\Junk\n    auto = create\n  }\n}`,
    });
  });
  afterAll(async () => {
    await dovecot?.stop();
  });
  const pop3 = (u: DovecotUser) => `pop3://${u.name}@127.0.0.1:${dovecot.ports.pop3}`;
  const imap = (u: DovecotUser) => `imap://${u.name}@127.0.0.1:${dovecot.ports.imap}`;
  const env = { POPLIFT_POP3_PASSWORD: SECRET, POPLIFT_IMAP_PASSWORD: SECRET };
  const hashes = async (u: DovecotUser, folder: string) => (await readImapFolder(dovecot, u, folder)).map((m) => sha256(m.source)).sort();
  const expected = (list: Buffer[]) => list.map(sha256).sort();

  it('each message once, byte-exact, in the right folder: two runs, verify, --delete', async () => {
    const src = dovecot.addUser('jsrc', SECRET);
    const dst = dovecot.addUser('jdst', SECRET);
    for (const [i, c] of clean.entries()) {
      dovecot.deliver(src, c);
      if (spam[i]) dovecot.deliver(src, spam[i]);
    }
    const args = [pop3(src), imap(dst), '--folder', 'Archive', '--junk', 'auto', '--json', '--state-dir', `${dst.home}/state`];

    const first = await runCli(['migrate', ...args], env);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ found: 6, appended: 6, junk: 3, junkFolder: JUNK, failed: 0, duplicates: 0 });
    expect(await hashes(dst, 'Archive')).toEqual(expected(clean));
    expect(await hashes(dst, JUNK)).toEqual(expected(spam));

    const second = await runCli(['migrate', ...args], env);
    expect(second.code, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ found: 6, knownFromJournal: 6, appended: 0, junk: 0, duplicates: 0 });

    // Without --junk, verify sees the spam missing from Archive; with it, every message is proven.
    const alone = await runCli(['verify', pop3(src), imap(dst), '--folder', 'Archive', '--json'], env);
    expect(alone.code).toBe(1);
    expect(JSON.parse(alone.stdout)).toMatchObject({ present: 3, missing: 3 });
    const verify = await runCli(['verify', pop3(src), imap(dst), '--folder', 'Archive', '--junk', 'auto', '--json', '--deep'], env);
    expect(verify.code, verify.stdout).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ present: 6, missing: 0, inJunk: 3, junkFolder: JUNK });

    const deleting = await runCli(['migrate', ...args, '--delete'], env);
    expect(deleting.code, deleting.stderr).toBe(0);
    expect(JSON.parse(deleting.stdout)).toMatchObject({ appended: 0, deleted: 6, failed: 0 });
    expect(await readPop3(dovecot, src)).toEqual([]);
    expect(await hashes(dst, 'Archive')).toEqual(expected(clean));
    expect(await hashes(dst, JUNK)).toEqual(expected(spam));
  });

  it('batch: a junk column per row, counted in the end events; batch --verify looks in the junk folder', async () => {
    const src = dovecot.addUser('bjsrc', SECRET);
    const dst = dovecot.addUser('bjdst', SECRET);
    dovecot.deliver(src, spam[2]!);
    dovecot.deliver(src, clean[1]!);
    const dir = mkdtempSync(join(tmpdir(), 'poplift-junk-batch-'));
    const csv = join(dir, 'rows.csv');
    writeFileSync(csv, `pop3_url,imap_url,folder,junk\n${pop3(src)},${imap(dst)},Old,Old/Spam\n`);
    const state = ['--state-dir', join(dir, 'state')];
    const r = await runCli(['batch', csv, '--json', ...state], env);
    expect(r.code, r.stderr).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events.find((e) => e.event === 'end')).toMatchObject({ appended: 2, junk: 1 });
    expect(events.find((e) => e.event === 'summary')).toMatchObject({ appended: 2, junk: 1 });
    expect(await hashes(dst, 'Old')).toEqual(expected([clean[1]!]));
    expect(await hashes(dst, 'Old.Spam')).toEqual(expected([spam[2]!]));
    const verify = await runCli(['batch', csv, '--verify', '--json', ...state], env);
    expect(verify.code, verify.stdout).toBe(0);
  });

  it('watch routes by default; migrate does not, and says where spam went only when asked', async () => {
    const src = dovecot.addUser('wjsrc', SECRET);
    const dst = dovecot.addUser('wjdst', SECRET);
    dovecot.deliver(src, spam[0]!);
    dovecot.deliver(src, clean[0]!);
    const state = ['--state-dir', `${dst.home}/state`];
    const watch = await runCli(['watch', pop3(src), imap(dst), '--folder', 'Bridge', '--once', '--json', ...state], env);
    expect(watch.code, watch.stderr).toBe(0);
    expect(JSON.parse(watch.stdout)).toMatchObject({ appended: 2, junk: 1, junkFolder: JUNK });
    expect(await hashes(dst, 'Bridge')).toEqual(expected([clean[0]!]));
    expect(await hashes(dst, JUNK)).toEqual(expected([spam[0]!]));

    const other = dovecot.addUser('wjdst2', SECRET);
    const migrate = await runCli(['migrate', pop3(src), imap(other), '--folder', 'Bridge', '--json', ...state], env);
    expect(migrate.code, migrate.stderr).toBe(0);
    expect(JSON.parse(migrate.stdout)).toMatchObject({ appended: 2, junk: 0, junkFolder: null });
    expect(await hashes(other, 'Bridge')).toEqual(expected([spam[0]!, clean[0]!]));
  });
});
