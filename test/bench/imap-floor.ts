/**
 * Floor (b): the fastest a client can upload the same bytes over IMAP. One
 * connection, LOGIN, CREATE, then MULTIAPPEND (RFC 3502) commands of 100
 * messages each with non-synchronizing literals (RFC 7888 LITERAL+), all
 * written back to back without waiting, then every tagged reply awaited.
 */
import { LineReader, elapsedSince, openTls, writeAll, type Endpoint } from './wire.js';

export interface ImapFloorResult {
  seconds: number;
  messages: number;
  commands: number;
}

export const FLOOR_BATCH = 100;

function quoted(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export async function imapFloor(
  e: Endpoint & { user: string; password: string; mailbox: string; messages: readonly Buffer[] },
): Promise<ImapFloorResult> {
  const started = performance.now();
  const socket = await openTls(e);
  try {
    const lines = new LineReader(socket);
    let tagSeq = 0;
    const simple = async (command: string): Promise<string> => {
      const tag = `F${++tagSeq}`;
      await writeAll(socket, `${tag} ${command}\r\n`);
      for (;;) {
        const line = await lines.next();
        if (!line.startsWith(`${tag} `)) continue;
        if (!line.startsWith(`${tag} OK`)) throw new Error(`IMAP ${command.split(' ')[0]}: ${line}`);
        return line;
      }
    };
    const greeting = await lines.next();
    if (!greeting.startsWith('* OK')) throw new Error(`IMAP greeting: ${greeting}`);
    const login = await simple(`LOGIN ${quoted(e.user)} ${quoted(e.password)}`);
    for (const cap of ['MULTIAPPEND', 'LITERAL+']) {
      if (!login.toUpperCase().includes(` ${cap}`)) throw new Error(`IMAP server does not announce ${cap} after login: ${login}`);
    }
    await simple(`CREATE ${quoted(e.mailbox)}`);

    const tags: string[] = [];
    const replies = new Map<string, string>();
    let failure: Error | undefined;
    const allDone = new Promise<void>((resolve, reject) => {
      const pump = async () => {
        try {
          while (replies.size < Math.ceil(e.messages.length / FLOOR_BATCH)) {
            const line = await lines.next();
            const m = /^(F\d+) (OK|NO|BAD)/.exec(line);
            if (!m) continue;
            if (m[2] !== 'OK') failure ??= new Error(`IMAP APPEND ${m[1]}: ${line}`);
            replies.set(m[1]!, line);
          }
          resolve();
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      };
      void pump();
    });
    allDone.catch(() => undefined);
    const mailbox = quoted(e.mailbox);
    for (let i = 0; i < e.messages.length; i += FLOOR_BATCH) {
      const tag = `F${++tagSeq}`;
      tags.push(tag);
      let prefix = `${tag} APPEND ${mailbox}`;
      for (const m of e.messages.slice(i, i + FLOOR_BATCH)) {
        await writeAll(socket, `${prefix} (\\Seen) {${m.length}+}\r\n`);
        await writeAll(socket, m);
        prefix = '';
      }
      await writeAll(socket, '\r\n');
    }
    await allDone;
    if (failure) throw failure;
    const seconds = elapsedSince(started);
    await simple('LOGOUT').catch(() => undefined);
    return { seconds, messages: e.messages.length, commands: tags.length };
  } finally {
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
