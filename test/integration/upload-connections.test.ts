/**
 * Destinations without MULTIAPPEND (Dovecot announcing Gmail's and Microsoft
 * 365's capabilities): several upload connections, and servers that refuse
 * one connection too many.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { personality, type Personality } from '../helpers/personalities.js';
import { describeIntegration } from '../helpers/suite.js';

/** Sizes on both sides of LITERAL-'s 4096 octets. */
function message(i: number): Buffer {
  const body = [300, 3000, 4200, 9000, 60_000][i % 5]!;
  return Buffer.concat([
    Buffer.from(`From: a@example.org\r\nSubject: p${i}\r\nMessage-ID: <p${i}@example.org>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\n`),
    Buffer.alloc(body, String.fromCharCode(97 + (i % 26))),
    Buffer.from('\r\n'),
  ]);
}

const COUNT = 40;

/**
 * In front of the IMAP port: lets `allowed` connections through at a time;
 * any more get a greeting and then Gmail's refusal to every command.
 */
async function capProxy(
  targetPort: number,
  allowed: number,
  refusal: 'alert' | 'bye',
): Promise<{ port: number; server: Server; refused: () => number }> {
  let open = 0;
  let refused = 0;
  const server = createServer((client: Socket) => {
    client.on('error', () => undefined);
    if (open >= allowed) {
      refused++;
      if (refusal === 'bye') {
        client.end('* BYE Too many connections from your address\r\n');
        return;
      }
      client.write('* OK Gimap ready for requests\r\n');
      client.on('data', (d: Buffer) => {
        for (const line of d.toString('latin1').split('\r\n')) {
          const tag = line.split(' ')[0];
          if (tag) client.write(`${tag} NO [ALERT] Too many simultaneous connections. (Failure)\r\n`);
        }
      });
      return;
    }
    open++;
    const upstream = netConnect(targetPort, '127.0.0.1');
    upstream.on('error', () => client.destroy());
    let closed = false;
    const done = () => {
      if (!closed) open--;
      closed = true;
      client.destroy();
      upstream.destroy();
    };
    client.on('close', done);
    upstream.on('close', done);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server, refused: () => refused };
}

for (const who of ['gmail', 'm365'] as const satisfies readonly Personality[]) {
  describeIntegration(`a ${who}-like destination (no MULTIAPPEND)`, () => {
    let dovecot: Dovecot;
    let alice: DovecotUser;
    const users: DovecotUser[] = [];
    let proxy: FaultProxy;
    beforeAll(async () => {
      // Dovecot's own per-user limit stands in for a provider's: the 5th connection is refused (BYE at login).
      dovecot = await startDovecot({ tls: false, ...personality(who, 'protocol imap {\n  mail_max_userip_connections = 4\n}') });
      alice = dovecot.addUser('alice');
      for (let u = 0; u < 5; u++) users.push(dovecot.addUser(`bob${u}`));
      for (let i = 0; i < COUNT; i++) dovecot.deliver(alice, message(i));
      proxy = await FaultProxy.start({ targetPort: dovecot.ports.imap });
      await new Promise((r) => setTimeout(r, 1100));
    });
    afterAll(async () => {
      await proxy?.stop();
      await dovecot?.stop();
    });

    const migrate = (user: DovecotUser, port: number, ...extra: string[]) =>
      runCli(
        [
          'migrate',
          `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`,
          `imap://${user.name}@127.0.0.1:${port}`,
          '--folder',
          'Moved',
          '--json',
          ...extra,
        ],
        {
          POPLIFT_POP3_PASSWORD: alice.password,
          POPLIFT_IMAP_PASSWORD: user.password,
        },
      );

    const landed = async (user: DovecotUser) => {
      const got = await readImapFolder(dovecot, user, 'Moved');
      const want = new Set(Array.from({ length: COUNT }, (_, i) => message(i).toString('latin1')));
      expect(got).toHaveLength(COUNT);
      for (const m of got) expect(want.has(m.source.toString('latin1'))).toBe(true);
    };

    it('uploads over several connections, up to --connections', async () => {
      const before = proxy.connections;
      const r = await migrate(users[0]!, proxy.port, '--connections', '3');
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout) as MigrationSummary).toMatchObject({ found: COUNT, appended: COUNT, failed: 0, reconnects: 0 });
      // The control connection and three upload connections.
      expect(proxy.connections - before).toBe(4);
      await landed(users[0]!);
    });

    it('asks for 8 by default and goes on with fewer when the server refuses more (Dovecot per-user limit)', async () => {
      const before = proxy.connections;
      const r = await migrate(users[1]!, proxy.port);
      expect(r.code, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout) as MigrationSummary).toMatchObject({ found: COUNT, appended: COUNT, failed: 0, reconnects: 0 });
      expect(proxy.connections - before).toBe(9);
      await landed(users[1]!);
      // A re-run finds everything there.
      const again = await migrate(users[1]!, proxy.port);
      expect(again.code, again.stderr).toBe(0);
      expect(JSON.parse(again.stdout) as MigrationSummary).toMatchObject({ appended: 0, failed: 0 });
    });

    for (const [refusal, what, user] of [
      ['alert', 'answers NO [ALERT] Too many simultaneous connections', 2],
      ['bye', 'says BYE at the greeting', 3],
    ] as const) {
      it(`goes on with fewer when the server ${what}`, async () => {
        const cap = await capProxy(dovecot.ports.imap, 3, refusal);
        try {
          const r = await migrate(users[user]!, cap.port);
          expect(r.code, r.stderr).toBe(0);
          expect(JSON.parse(r.stdout) as MigrationSummary).toMatchObject({ found: COUNT, appended: COUNT, failed: 0, reconnects: 0 });
          expect(cap.refused()).toBeGreaterThan(0);
          await landed(users[user]!);
        } finally {
          await new Promise((r) => cap.server.close(r));
        }
      });
    }
  });
}

describeIntegration('a destination with MULTIAPPEND', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let proxy: FaultProxy;
  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (let i = 0; i < COUNT; i++) dovecot.deliver(alice, message(i));
    proxy = await FaultProxy.start({ targetPort: dovecot.ports.imap });
    await new Promise((r) => setTimeout(r, 1100));
  });
  afterAll(async () => {
    await proxy?.stop();
    await dovecot?.stop();
  });

  it('uses one upload connection', async () => {
    const r = await runCli(
      ['migrate', `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`, `imap://bob@127.0.0.1:${proxy.port}`, '--folder', 'Moved', '--json'],
      {
        POPLIFT_POP3_PASSWORD: alice.password,
        POPLIFT_IMAP_PASSWORD: bob.password,
      },
    );
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout) as MigrationSummary).toMatchObject({ found: COUNT, appended: COUNT });
    expect(proxy.connections).toBe(2);
  });
});
