/**
 * Floor for a destination without LITERAL+ or MULTIAPPEND (Courier-IMAP):
 * the fastest a client can upload when every APPEND must wait for the
 * server's `+` before its literal. One plain loopback connection with
 * TCP_NODELAY, LOGIN, CREATE, then per message: the command line, wait for
 * `+`, the literal and its closing CRLF in one write, wait for the tagged
 * reply.
 */
import { connect, type Socket } from 'node:net';
import { LineReader, elapsedSince, writeAll } from './wire.js';

export interface SyncAppendFloorResult {
  seconds: number;
  messages: number;
}

function quoted(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

function openPlain(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, host);
    socket.setNoDelay(true);
    socket.once('connect', () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

export async function syncAppendFloor(e: {
  host: string;
  port: number;
  user: string;
  password: string;
  /** Full path of the folder, in the server's own naming (e.g. INBOX.FloorCourier). */
  mailbox: string;
  messages: readonly Buffer[];
}): Promise<SyncAppendFloorResult> {
  const started = performance.now();
  const socket = await openPlain(e.host, e.port);
  try {
    const lines = new LineReader(socket);
    let tagSeq = 0;
    const tagged = async (tag: string, what: string): Promise<void> => {
      for (;;) {
        const line = await lines.next();
        if (!line.startsWith(`${tag} `)) continue;
        if (!line.startsWith(`${tag} OK`)) throw new Error(`IMAP ${what}: ${line}`);
        return;
      }
    };
    const simple = async (command: string) => {
      const tag = `S${++tagSeq}`;
      await writeAll(socket, `${tag} ${command}\r\n`);
      await tagged(tag, command.split(' ')[0]!);
    };
    const greeting = await lines.next();
    if (!greeting.startsWith('* OK')) throw new Error(`IMAP greeting: ${greeting}`);
    await simple(`LOGIN ${quoted(e.user)} ${quoted(e.password)}`);
    await simple(`CREATE ${quoted(e.mailbox)}`);
    const mailbox = quoted(e.mailbox);
    for (const m of e.messages) {
      const tag = `S${++tagSeq}`;
      await writeAll(socket, `${tag} APPEND ${mailbox} (\\Seen) {${m.length}}\r\n`);
      for (;;) {
        const line = await lines.next();
        if (line.startsWith('+')) break;
        if (line.startsWith(`${tag} `)) throw new Error(`IMAP APPEND: ${line}`);
      }
      await writeAll(socket, Buffer.concat([m, Buffer.from('\r\n')]));
      await tagged(tag, 'APPEND');
    }
    const seconds = elapsedSince(started);
    await simple('LOGOUT').catch(() => undefined);
    return { seconds, messages: e.messages.length };
  } finally {
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
