/**
 * Floor (b) for a destination without MULTIAPPEND: the fastest a client can
 * upload the same bytes with single APPENDs over up to `connections`
 * connections (providers allow about that many). Every connection logs in at
 * once; each takes the next message as soon as it may write: right away with
 * a non-synchronizing literal (LITERAL+, or LITERAL- up to 4096 octets),
 * after the server's '+' otherwise; each message goes out with its command
 * line and CRLF in one write, and tagged replies are only counted.
 */
import { LineReader, elapsedSince, openTls, writeAll, type Endpoint } from './wire.js';

export interface ImapParallelFloorResult {
  seconds: number;
  messages: number;
  connections: number;
  /** How literals were sent: 'LITERAL+', 'LITERAL-' or 'synchronizing'. */
  literals: string;
}

function quoted(s: string): string {
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

export async function imapParallelFloor(
  e: Endpoint & { user: string; password: string; mailbox: string; messages: readonly Buffer[]; connections: number },
): Promise<ImapParallelFloorResult> {
  const started = performance.now();
  const sockets = await Promise.all(Array.from({ length: e.connections }, () => openTls(e)));
  try {
    let capabilities = '';
    const sessions = await Promise.all(
      sockets.map(async (socket, index) => {
        const lines = new LineReader(socket);
        const greeting = await lines.next();
        if (!greeting.startsWith('* OK')) throw new Error(`IMAP greeting: ${greeting}`);
        await writeAll(socket, `L LOGIN ${quoted(e.user)} ${quoted(e.password)}\r\n`);
        for (;;) {
          const line = await lines.next();
          if (line.startsWith('* CAPABILITY ') && index === 0) capabilities = line;
          if (!line.startsWith('L ')) continue;
          if (!line.startsWith('L OK')) throw new Error(`IMAP LOGIN: ${line}`);
          if (index === 0 && /\[CAPABILITY /i.test(line)) capabilities = line;
          break;
        }
        return { socket, lines };
      }),
    );
    const caps = capabilities.toUpperCase();
    const plus = / LITERAL\+/.test(caps);
    const minus = / LITERAL-/.test(caps);
    const nonSync = (size: number) => plus || (minus && size <= 4096);
    {
      const { socket, lines } = sessions[0]!;
      await writeAll(socket, `C CREATE ${quoted(e.mailbox)}\r\n`);
      for (;;) {
        const line = await lines.next();
        if (line.startsWith('C ')) break;
      }
    }
    const mailbox = quoted(e.mailbox);
    let next = 0;
    let failure: Error | undefined;
    await Promise.all(
      sessions.map(async ({ socket, lines }) => {
        let sent = 0;
        let answered = 0;
        let continuation: (() => void) | undefined;
        let allAnswered: (() => void) | undefined;
        let writing = true;
        const pump = (async () => {
          for (;;) {
            // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- set false by the writer below, while this loop awaits
            if (!writing && answered === sent) return;
            const line = await lines.next();
            if (line.startsWith('+')) {
              const go = continuation;
              continuation = undefined;
              go?.();
            } else if (/^A\d+ /.test(line)) {
              if (!/^A\d+ OK/.test(line)) failure ??= new Error(`IMAP APPEND: ${line}`);
              answered++;
              // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition -- as above
              if (!writing && answered === sent) {
                allAnswered?.();
                return;
              }
            }
          }
        })();
        pump.catch(() => undefined);
        while (next < e.messages.length && failure === undefined) {
          const i = next++;
          const m = e.messages[i]!;
          const tag = `A${i}`;
          sent++;
          if (nonSync(m.length)) {
            await writeAll(
              socket,
              Buffer.concat([Buffer.from(`${tag} APPEND ${mailbox} (\\Seen) {${m.length}+}\r\n`), m, Buffer.from('\r\n')]),
            );
          } else {
            const go = new Promise<void>((resolve) => (continuation = resolve));
            await writeAll(socket, `${tag} APPEND ${mailbox} (\\Seen) {${m.length}}\r\n`);
            await go;
            await writeAll(socket, Buffer.concat([m, Buffer.from('\r\n')]));
          }
        }
        writing = false;
        if (answered < sent) await Promise.race([new Promise<void>((resolve) => (allAnswered = resolve)), pump]);
      }),
    );
    if (failure) throw failure;
    const seconds = elapsedSince(started);
    return {
      seconds,
      messages: e.messages.length,
      connections: sessions.length,
      literals: plus ? 'LITERAL+' : minus ? 'LITERAL-' : 'synchronizing',
    };
  } finally {
    for (const socket of sockets) {
      socket.end();
      setTimeout(() => socket.destroy(), 1000).unref();
    }
  }
}
