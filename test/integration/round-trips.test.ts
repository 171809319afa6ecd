/**
 * How many times poplift makes the IMAP and POP3 servers wait for it: a proxy counts
 * client-to-server bursts (bytes sent after the server last spoke) on each
 * connection. Every burst after the first is a round trip over a real link.
 * The figures are in README ("Round trips").
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { runCli } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { describeIntegration } from '../helpers/suite.js';

interface Counted {
  /** 'upload' for poplift's own upload connections (tags U1, U2, ...), 'control' for imapflow's. */
  kind: 'control' | 'upload' | 'unknown';
  bursts: number;
}

async function burstCounter(targetPort: number): Promise<{ port: number; server: Server; connections: Counted[] }> {
  const connections: Counted[] = [];
  const server = createServer((client: Socket) => {
    const counted: Counted = { kind: 'unknown', bursts: 0 };
    connections.push(counted);
    let serverSpoke = true;
    const upstream = netConnect(targetPort, '127.0.0.1');
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    client.on('data', (d: Buffer) => {
      if (counted.kind === 'unknown') counted.kind = /^U\d+ /.test(d.toString('latin1')) ? 'upload' : 'control';
      if (serverSpoke) counted.bursts++;
      serverSpoke = false;
      upstream.write(d);
    });
    upstream.on('data', (d: Buffer) => {
      serverSpoke = true;
      client.write(d);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server, connections };
}

function message(i: number): Buffer {
  return Buffer.from(
    `From: a@example.org\r\nSubject: r${i}\r\nMessage-ID: <r${i}@example.org>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\nbody ${i}\r\n`,
  );
}

describeIntegration('round trips to the IMAP server (STARTTLS, MULTIAPPEND)', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let counter: Awaited<ReturnType<typeof burstCounter>>;
  let pop3Counter: Awaited<ReturnType<typeof burstCounter>>;
  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    for (let i = 0; i < 20; i++) dovecot.deliver(alice, message(i));
    counter = await burstCounter(dovecot.ports.imap);
    pop3Counter = await burstCounter(dovecot.ports.pop3);
    await new Promise((r) => setTimeout(r, 1100));
  });
  afterAll(async () => {
    await new Promise((r) => counter?.server.close(r));
    await new Promise((r) => pop3Counter?.server.close(r));
    await dovecot?.stop();
  });

  const run = async () => {
    counter.connections.length = 0;
    pop3Counter.connections.length = 0;
    const r = await runCli(
      [
        'migrate',
        `pop3://alice@127.0.0.1:${pop3Counter.port}`,
        `imap://bob@127.0.0.1:${counter.port}`,
        '--folder',
        'Archive/Old ISP',
        '--json',
        '--ca-file',
        dovecot.certPath,
        '--require-tls',
        ...(process.env.RT_DEBUG ? ['--debug'] : []),
      ],
      { POPLIFT_POP3_PASSWORD: alice.password, POPLIFT_IMAP_PASSWORD: bob.password },
    );
    expect(r.code, r.stderr).toBe(0);
    if (process.env.RT_DEBUG)
      process.stdout.write(
        r.stderr
          .split('\n')
          .filter((l) => / C: /.test(l))
          .join('\n') + '\n',
      );
    const control = counter.connections.filter((c) => c.kind === 'control').map((c) => c.bursts);
    const upload = counter.connections.filter((c) => c.kind === 'upload').map((c) => c.bursts);
    const pop3 = pop3Counter.connections.map((c) => c.bursts);
    return { summary: JSON.parse(r.stdout) as MigrationSummary, control, upload, pop3 };
  };

  it('first run into a new folder, then a re-run with nothing new', async () => {
    const first = await run();
    expect(first.summary).toMatchObject({ found: 20, appended: 20 });
    const again = await run();
    expect(again.summary).toMatchObject({ found: 20, appended: 0 });
    process.stdout.write(
      `round trips: first run control ${first.control.join(',')} upload ${first.upload.join(',')} pop3 ${first.pop3.join(',')}; re-run control ${again.control.join(',')} upload ${again.upload.join(',')} pop3 ${again.pop3.join(',')}\n`,
    );
    // A server that lists the whole mailbox in one session (Dovecot) gets one POP3 session per run:
    // nothing shows it serves windows, so no second login and listing to look for more.
    expect(first.summary.sessions).toBe(1);
    expect(first.pop3).toHaveLength(1);
    expect(again.summary.sessions).toBe(1);
    expect(again.pop3).toHaveLength(1);
    // Control connection, first run (12): STARTTLS, the TLS handshake, CAPABILITY, LOGIN, NAMESPACE,
    // STATUS, CREATE, SELECT (the index is read there), SUBSCRIBE, EXAMINE + UNSELECT (the read-write
    // selection left without expunging, before anything is appended), STATUS, LOGOUT.
    // Before (20): also ID, a LIST after the STATUS of the missing folder, a LIST after SUBSCRIBE,
    // a second STATUS, EXAMINE and CLOSE.
    expect(first.control).toHaveLength(1);
    expect(first.control[0]).toBeLessThanOrEqual(12);
    // Upload connection: STARTTLS, 2 for TLS, CAPABILITY, AUTHENTICATE + ID, the MULTIAPPEND, LOGOUT.
    expect(first.upload).toHaveLength(1);
    expect(first.upload[0]).toBeLessThanOrEqual(7);
    // Re-run (6): STARTTLS, the TLS handshake, CAPABILITY, LOGIN, NAMESPACE, STATUS; its LOGOUT is not
    // waited for (before: 10, with ID and the SELECT/CLOSE of the index). Nothing new: no upload connection.
    expect(again.control).toHaveLength(1);
    expect(again.control[0]).toBeLessThanOrEqual(6);
    expect(again.upload).toHaveLength(0);
  });
});
