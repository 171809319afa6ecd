/**
 * Issue 20 item 9: a password with 8-bit characters, quotes and a backslash
 * into a real server that offers no AUTH=PLAIN (Courier-IMAP over plain
 * loopback, as Debian configures it), so that every connection, the upload
 * connections included, logs in with the LOGIN command.
 */
import { connect } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { startCourier } from '../helpers/courier.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import type { MailServer, MailUser } from '../helpers/mail-server.js';
import { readFolderOf } from '../helpers/server-changes.js';
import { describeIntegration } from '../helpers/suite.js';

const PASSWORD = 'p%41%"q" \\ é€-ß';
const COUNT = 12;

function message(i: number): Buffer {
  return Buffer.from(`From: a@example.org\r\nSubject: l${i}\r\nMessage-ID: <l${i}@example.org>\r\n\r\nbody ${i}\r\n`);
}

/** What the IMAP port announces in its greeting, or to CAPABILITY when the greeting has none. */
function capabilities(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1');
    let text = '';
    s.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (/^\* OK/m.test(text) && !text.includes('C1 ')) s.write('C1 CAPABILITY\r\n');
      if (/^C1 /m.test(text)) {
        resolve(text);
        s.destroy();
      }
    });
    s.once('error', reject);
  });
}

describeIntegration('an IMAP server with only LOGIN, and a password with 8-bit characters, quotes and a backslash', () => {
  let courier: MailServer;
  let alice: MailUser;
  let bob: MailUser;
  let proxy: FaultProxy;
  beforeAll(async () => {
    courier = await startCourier({ authPlain: false });
    alice = await courier.addUser('alice');
    bob = await courier.addUser('bob', PASSWORD);
    await courier.deliver(
      alice,
      Array.from({ length: COUNT }, (_, i) => message(i)),
    );
    proxy = await FaultProxy.start({ targetPort: courier.imap!.port });
  }, 60_000);
  afterAll(async () => {
    await proxy?.stop();
    await courier?.stop();
  });

  it('migrates over 3 upload connections, each logged in with LOGIN (exit 0)', async () => {
    const caps = await capabilities(courier.imap!.port);
    expect(caps).not.toMatch(/AUTH=PLAIN/i);
    expect(caps).not.toMatch(/LOGINDISABLED|MULTIAPPEND/i);
    const r = await runCli(
      [
        'migrate',
        `pop3://alice@127.0.0.1:${courier.pop3!.port}`,
        `imap://bob@127.0.0.1:${proxy.port}`,
        '--folder',
        'Moved',
        '--connections',
        '3',
        '--allow-plaintext',
        '--timeout',
        '30',
        '--json',
      ],
      { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: PASSWORD },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout) as MigrationSummary).toMatchObject({ found: COUNT, appended: COUNT, failed: 0 });
    // The control connection and at least two upload connections logged in.
    expect(proxy.connections).toBeGreaterThanOrEqual(3);
    expect(await readFolderOf(courier, bob, 'Moved')).toHaveLength(COUNT);
  }, 60_000);
});
