/**
 * Identity keys against GNU Mailutils imap4d (Debian's mailutils-imap4d),
 * which stores APPENDed mail in mbox: copies come back with X-IMAPbase,
 * X-UID and Status headers added and a line end added to an empty body, so
 * their size is never the original's. A run without its journal must still
 * find each copy from its header fields and, for a message without a
 * Message-ID, its body. Skipped where imap4d is not installed.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { headerBlock, parseHeaders } from '../../src/message/headers.js';
import { alternativeKeys, contentKeyOfMessage, indexKey, indexKeyOf, KEY_HEADER_FIELDS } from '../../src/message/identity-key.js';
import { skipIntegration } from '../helpers/dovecot.js';

const IMAP4D = '/usr/sbin/imap4d';
const DOMAIN = 'example.org';
const bin = (s: string): Buffer => Buffer.from(s, 'latin1');

const ORIGINALS: Record<string, Buffer> = {
  'pay 100, no Message-ID': bin(
    'Date: Mon, 2 Mar 2026 08:00:00 +0000\r\nFrom: device@example.com\r\nSubject: payment order\r\nStatus: O\r\n\r\npay 100 EUR\r\n',
  ),
  'pay 900, no Message-ID': bin(
    'Date: Mon, 2 Mar 2026 08:00:00 +0000\r\nFrom: device@example.com\r\nSubject: payment order\r\nStatus: O\r\n\r\npay 900 EUR\r\n',
  ),
  'empty body, no Message-ID': bin('Date: Mon, 2 Mar 2026 08:00:00 +0000\r\nFrom: device@example.com\r\nSubject: heartbeat\r\n\r\n'),
  'From line in the body, no Message-ID': bin('From: a@example.com\r\nSubject: quoted\r\n\r\nFrom here on\r\n>From there\r\n'),
  '8-bit Subject, no Message-ID': bin('From: Ren\u00e9 <r@example.fr>\r\nSubject: \u00a37,000 invoice\r\n\r\npay \u00a37,000\r\n'),
  // imap4d refuses (TRYCREATE) a message without From: it needs a sender for the mbox From_ line.
  '8-bit Message-ID': bin('From: a@example.com\r\nMessage-ID: <r\u00e9sum\u00e9@example.com>\r\nSubject: same\r\n\r\nsame body\r\n'),
};

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function waitForGreeting(port: number, deadline: number): Promise<void> {
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('data', (d: Buffer) => {
        socket.destroy();
        resolve(d.toString('latin1').startsWith('* OK'));
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error('imap4d did not greet within 15 s');
    await new Promise((r) => setTimeout(r, 100));
  }
}

const mailIds = (): { uid: number; gid: number } => {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('mail:'));
  const f = (line ?? '').split(':');
  return { uid: Number(f[2]), gid: Number(f[3]) };
};

describe.skipIf(skipIntegration() || !existsSync(IMAP4D))('identity keys: copies stored by GNU Mailutils imap4d are found again', () => {
  let dir: string;
  let daemon: ChildProcess | undefined;
  let client: ImapFlow;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'poplift-keys-mailutils-'));
    const ids = mailIds();
    const domains = join(dir, 'domains');
    const home = join(dir, 'home', 'keys');
    mkdirSync(domains);
    mkdirSync(home, { recursive: true });
    writeFileSync(join(home, 'INBOX'), '', { mode: 0o600 });
    execFileSync('chown', ['-R', `${ids.uid}:${ids.gid}`, join(dir, 'home')]);
    // imap4d reads the mailbox as the user it logs in.
    chmodSync(dir, 0o755);
    const password = 'pw-keys';
    const hash = execFileSync('openssl', ['passwd', '-1', '-stdin'], { input: password }).toString().trim();
    writeFileSync(join(domains, DOMAIN), `keys:${hash}:${ids.uid}:${ids.gid}::${home}:/bin/false\n`, { mode: 0o644 });
    const port = await freePort();
    const conf = join(dir, 'imap4d.conf');
    writeFileSync(
      conf,
      [
        'logging { syslog no; };',
        'auth { authorization virtdomain; authentication generic; };',
        `virtdomain { passwd-dir "${domains}"; };`,
        `mailbox { mailbox-pattern "${join(dir, 'home')}/\${user}/INBOX"; mailbox-type mbox; };`,
        'mode daemon;',
        'foreground yes;',
        `pidfile ${join(dir, 'imap4d.pid')};`,
        `server 127.0.0.1:${port} { };`,
        '',
      ].join('\n'),
    );
    daemon = spawn(IMAP4D, [`--config-file=${conf}`], { stdio: 'ignore' });
    await waitForGreeting(port, Date.now() + 15_000);
    client = new ImapFlow({
      host: '127.0.0.1',
      port,
      secure: false,
      doSTARTTLS: false,
      auth: { user: `keys@${DOMAIN}`, pass: password },
      logger: false,
      disableAutoIdle: true,
    });
    client.on('error', () => undefined);
    await client.connect();
    for (const content of Object.values(ORIGINALS)) await client.append('INBOX', content);
  }, 60_000);

  afterAll(async () => {
    await client?.logout().catch(() => undefined);
    if (daemon?.pid !== undefined && daemon.exitCode === null) {
      const gone = new Promise((r) => daemon!.once('exit', r));
      daemon.kill('SIGTERM');
      await gone;
    }
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('finds each original exactly once, from header fields and (without a Message-ID) the body', async () => {
    await client.mailboxOpen('INBOX', { readOnly: true });
    const copies: { uid: number; size: number; index: string; key: string; source: Buffer }[] = [];
    for await (const m of client.fetch('1:*', { uid: true, size: true, headers: [...KEY_HEADER_FIELDS], source: true })) {
      copies.push({
        uid: m.uid,
        size: m.size!,
        index: indexKey(parseHeaders(m.headers!)),
        key: contentKeyOfMessage(m.source!),
        source: m.source!,
      });
    }
    expect(copies).toHaveLength(Object.keys(ORIGINALS).length);
    // The server changed every copy: what a size-based key could not survive.
    const originalSizes = new Set(Object.values(ORIGINALS).map((b) => b.length));
    for (const c of copies) expect(originalSizes.has(c.size), c.source.toString('latin1')).toBe(false);
    expect(copies.every((c) => /^X-UID:/im.test(c.source.toString('latin1')))).toBe(true);

    for (const [name, original] of Object.entries(ORIGINALS)) {
      const keys = [contentKeyOfMessage(original), ...alternativeKeys(parseHeaders(headerBlock(original)), original).map((a) => a.key)];
      const found = copies.filter((c) => keys.map(indexKeyOf).includes(c.index) && keys.includes(c.key));
      expect(found, name).toHaveLength(1);
    }
  });
});
