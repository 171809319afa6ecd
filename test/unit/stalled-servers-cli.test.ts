/**
 * A run against a server that trickles bytes and never finishes an
 * exchange: before, the idle timeout never fired, the run printed nothing
 * and held the mailbox's lock for ever. Now it ends at the exchange's
 * deadline with the connect exit code, naming the side, the server and the step.
 */
import { mkdtempSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { startScriptedPop3, type ScriptedPop3 } from '../helpers/scripted-pop3.js';

const servers: Server[] = [];
const sockets: Socket[] = [];
const pop3Servers: ScriptedPop3[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  for (const s of pop3Servers.splice(0)) await s.close();
});

/** Writes `text` one byte every `everyMs` until the socket closes. */
async function trickle(socket: { write(data: string): unknown; destroyed: boolean }, text: string, everyMs: number): Promise<void> {
  for (let i = 0; !socket.destroyed; i = (i + 1) % text.length) {
    socket.write(text[i]!);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** An IMAP server that answers everything OK, except LOGIN when `stallLogin`: that gets a line trickled for ever. */
async function imapServer(stallLogin: boolean): Promise<number> {
  const server = createServer((socket) => {
    sockets.push(socket);
    socket.on('error', () => undefined);
    socket.write('* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN UIDPLUS] ready\r\n');
    let buffered = '';
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (let eol = buffered.indexOf('\r\n'); eol >= 0; eol = buffered.indexOf('\r\n')) {
        const line = buffered.slice(0, eol);
        buffered = buffered.slice(eol + 2);
        const [tag = '', command = ''] = line.split(' ');
        if (command.toUpperCase() === 'LOGIN' && stallLogin) void trickle(socket, '* OK still here\r\n', 200);
        else socket.write(`${tag} OK done\r\n`);
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as { port: number }).port;
}

async function migrate(pop3Port: number, imapPort: number) {
  const started = performance.now();
  const r = await runCli(
    [
      'migrate',
      `pop3://alice@127.0.0.1:${pop3Port}`,
      `imap://bob@127.0.0.1:${imapPort}`,
      '--folder',
      'Stalled',
      '--allow-plaintext',
      '--state-dir',
      mkdtempSync(join(tmpdir(), 'poplift-stalled-')),
      '--timeout',
      '1',
    ],
    { POPLIFT_POP3_PASSWORD: 'secret', POPLIFT_IMAP_PASSWORD: 'secret' },
  );
  return { ...r, seconds: (performance.now() - started) / 1000 };
}

describe('a run against a server that trickles and never finishes an exchange', () => {
  it('a POP3 greeting trickled one byte every 200 ms: exit 4 within seconds, naming the server and the greeting', async () => {
    const pop3 = await startScriptedPop3({ sendGreeting: (ctx) => trickle(ctx.socket, '+OK slooooow', 200) });
    pop3Servers.push(pop3);
    const r = await migrate(pop3.port, await imapServer(false));
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`POP3 server 127\\.0\\.0\\.1:${pop3.port} did not finish its greeting within 2s`));
    expect(r.seconds).toBeLessThan(8);
  }, 10_000);

  it('an IMAP LOGIN answered by "* OK still here" for ever: exit 4 within seconds, naming the server and the step', async () => {
    const pop3 = await startScriptedPop3({ capa: ['USER', 'UIDL'] });
    pop3Servers.push(pop3);
    const imapPort = await imapServer(true);
    const r = await migrate(pop3.port, imapPort);
    expect(r.code, r.stderr).toBe(4);
    expect(r.stderr).toMatch(new RegExp(`IMAP server 127\\.0\\.0\\.1:${imapPort} did not finish its greeting and login within 2 s`));
    expect(r.seconds).toBeLessThan(8);
  }, 10_000);
});
