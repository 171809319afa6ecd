/**
 * Where the wall time of one poplift run over a
 * slow link goes. Starts a private Dovecot (optionally announcing a
 * provider's capabilities), puts a FaultProxy with the chosen one-way delay
 * in front of its pop3s and imaps ports, runs poplift once with --debug and
 * prints every protocol line with the milliseconds since the child was
 * started, so sequential waits show as gaps of one round trip or more.
 *
 *   npm run build && npx tsc -p test/bench/tsconfig.json && node .bench/test/bench/timeline.js \
 *     [--messages 500] [--latency-ms 25] [--personality gmail|m365|courier] [--out file] [--poplift-args "..."]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startDovecot } from '../helpers/dovecot.js';
import { FaultProxy } from '../helpers/fault-proxy.js';
import { personality, type Personality } from '../helpers/personalities.js';
import { makeMailbox } from './mailbox.js';

const { values } = parseArgs({
  options: {
    messages: { type: 'string', default: '500' },
    'latency-ms': { type: 'string', default: '25' },
    personality: { type: 'string', default: '' },
    out: { type: 'string', default: '' },
    'poplift-args': { type: 'string', default: '' },
  },
});
const root = join(import.meta.dirname, '..', '..', '..');
const messages = makeMailbox({ messages: Number(values.messages), seed: 1, bigMessageMb: 0 }).messages;
const server = await startDovecot(values.personality ? personality(values.personality as Personality) : undefined);
const stateHome = mkdtempSync(join(tmpdir(), 'poplift-timeline-state-'));
try {
  const src = server.addUser('source');
  const dst = server.addUser('dest');
  for (const m of messages) server.deliver(src, m);
  await new Promise((r) => setTimeout(r, 1100));
  const delayMs = Number(values['latency-ms']);
  const pop = await FaultProxy.start({ targetPort: server.ports.pop3s, delayMs });
  const imap = await FaultProxy.start({ targetPort: server.ports.imaps, delayMs });
  const args = [
    join(root, 'bin', 'poplift.js'),
    'migrate',
    `pop3s://${src.name}@${server.host}:${pop.port}`,
    `imaps://${dst.name}@${server.host}:${imap.port}`,
    '--folder',
    'Migrated',
    '--json',
    '--debug',
    '--ca-file',
    server.certPath,
    ...values['poplift-args'].split(/\s+/).filter((a) => a !== ''),
  ];
  const started = performance.now();
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      PATH: process.env.PATH ?? '',
      XDG_STATE_HOME: stateHome,
      POPLIFT_POP3_PASSWORD: src.password,
      POPLIFT_IMAP_PASSWORD: dst.password,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  let partial = '';
  child.stderr.on('data', (d: Buffer) => {
    const ms = (performance.now() - started).toFixed(0).padStart(6);
    const text = partial + d.toString('utf8');
    const parts = text.split('\n');
    partial = parts.pop()!;
    for (const p of parts) lines.push(`${ms} ${p.length > 160 ? `${p.slice(0, 160)}…` : p}`);
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
  const code = await new Promise<number | null>((r) => child.once('close', r));
  lines.push(`${(performance.now() - started).toFixed(0).padStart(6)} exit ${code}`);
  const summary = stdout.trim().split('\n').pop() ?? '';
  lines.push(summary.slice(0, 400));
  // How the server saw each session end ("Logged out" after QUIT/LOGOUT, "Disconnected" otherwise).
  await new Promise((r) => setTimeout(r, 300));
  for (const line of readFileSync(server.logPath, 'utf8').split('\n'))
    if (/(imap|pop3)\(dest|source\).*(Logged out|Disconnected)/.test(line))
      lines.push(`server: ${line.replace(/^.*?((imap|pop3)\()/, '$1')}`);
  if (values.out) writeFileSync(values.out, `${lines.join('\n')}\n`);
  else process.stdout.write(`${lines.join('\n')}\n`);
  await pop.stop();
  await imap.stop();
} finally {
  await server.stop();
  rmSync(stateHome, { recursive: true, force: true });
}
