/**
 * The floor of a cron re-run with nothing new, run as a process of its own
 * as poplift is: log in to both servers at once and list (POP3 LIST and
 * UIDL; IMAP STATUS of the folder), then QUIT and LOGOUT. Everything a
 * run that finds nothing new cannot do without. Reads its settings from
 * NOOP_FLOOR (JSON: host, pop3Port, imapPort, caFile, pop3User,
 * pop3Password, imapUser, imapPassword, folder); prints the seconds its own
 * work took.
 */
import { readFileSync } from 'node:fs';
import { LineReader, elapsedSince, openTls, writeAll } from './wire.js';

interface Settings {
  host: string;
  pop3Port: number;
  imapPort: number;
  caFile: string;
  pop3User: string;
  pop3Password: string;
  imapUser: string;
  imapPassword: string;
  folder: string;
}

const s = JSON.parse(process.env.NOOP_FLOOR ?? '{}') as Settings;
const ca = readFileSync(s.caFile);
const quoted = (t: string) => `"${t.replace(/[\\"]/g, (c) => `\\${c}`)}"`;

async function pop3(): Promise<void> {
  const socket = await openTls({ host: s.host, port: s.pop3Port, ca });
  const lines = new LineReader(socket);
  const ok = async (what: string) => {
    const line = await lines.next();
    if (!line.startsWith('+OK')) throw new Error(`POP3 ${what}: ${line}`);
  };
  const multi = async (what: string) => {
    await ok(what);
    while ((await lines.next()) !== '.');
  };
  await ok('greeting');
  await writeAll(socket, `USER ${s.pop3User}\r\nPASS ${s.pop3Password}\r\n`);
  await ok('USER');
  await ok('PASS');
  await writeAll(socket, 'LIST\r\nUIDL\r\nQUIT\r\n');
  await multi('LIST');
  await multi('UIDL');
  socket.end();
}

async function imap(): Promise<void> {
  const socket = await openTls({ host: s.host, port: s.imapPort, ca });
  const lines = new LineReader(socket);
  const tagged = async (tag: string) => {
    for (;;) {
      const line = await lines.next();
      if (line.startsWith(`${tag} `)) {
        if (!line.startsWith(`${tag} OK`)) throw new Error(`IMAP ${tag}: ${line}`);
        return;
      }
    }
  };
  if (!(await lines.next()).startsWith('* OK')) throw new Error('IMAP greeting');
  await writeAll(socket, `A LOGIN ${quoted(s.imapUser)} ${quoted(s.imapPassword)}\r\n`);
  await tagged('A');
  await writeAll(socket, `B STATUS ${quoted(s.folder)} (MESSAGES UIDNEXT UIDVALIDITY)\r\nC LOGOUT\r\n`);
  await tagged('B');
  socket.end();
}

const started = performance.now();
await Promise.all([pop3(), imap()]);
process.stdout.write(`${elapsedSince(started)}\n`);
process.exit(0);
