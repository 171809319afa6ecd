/**
 * Floor (a): the fastest a client can read a POP3 mailbox. One connection,
 * USER/PASS, then every RETR written at once (RFC 2449 PIPELINING) and the
 * replies only counted: a reply ends at CRLF.CRLF, which dot-stuffing keeps
 * out of message content.
 */
import { LineReader, elapsedSince, openTls, writeAll, type Endpoint } from './wire.js';

export interface Pop3FloorResult {
  seconds: number;
  messages: number;
  /** Octets on the wire after the RETRs, status lines and dot-stuffing included. */
  wireBytes: number;
}

const TERMINATOR = Buffer.from('\r\n.\r\n');

export async function pop3Floor(e: Endpoint & { user: string; password: string }): Promise<Pop3FloorResult> {
  const started = performance.now();
  const socket = await openTls(e);
  try {
    const lines = new LineReader(socket);
    const expectOk = async (what: string) => {
      const line = await lines.next();
      if (!line.startsWith('+OK')) throw new Error(`POP3 ${what}: ${line}`);
      return line;
    };
    await expectOk('greeting');
    await writeAll(socket, `USER ${e.user}\r\n`);
    await expectOk('USER');
    await writeAll(socket, `PASS ${e.password}\r\n`);
    await expectOk('PASS');
    await writeAll(socket, 'STAT\r\n');
    const count = Number(/^\+OK (\d+)/.exec(await expectOk('STAT'))?.[1]);
    if (!(count > 0)) throw new Error('POP3 STAT: the mailbox is empty');

    let seen = 0;
    let wireBytes = 0;
    // The last 4 bytes of the previous chunk, so a terminator split across chunks is found.
    let carry = Buffer.alloc(0);
    // True while the next byte read is the first of a status line.
    let atStatus = true;
    const done = new Promise<void>((resolve, reject) => {
      const onChunk = (chunk: Buffer) => {
        wireBytes += chunk.length;
        if (atStatus && chunk.length > 0) {
          if (chunk[0] !== 0x2b) {
            reject(new Error(`POP3 RETR ${seen + 1} refused: ${chunk.subarray(0, 80).toString('latin1')}`));
            return;
          }
          atStatus = false;
        }
        const hay = carry.length > 0 ? Buffer.concat([carry, chunk]) : chunk;
        let from = 0;
        for (;;) {
          const at = hay.indexOf(TERMINATOR, from);
          if (at < 0) break;
          seen++;
          from = at + TERMINATOR.length;
          if (from < hay.length) {
            if (hay[from] !== 0x2b) {
              reject(new Error(`POP3 RETR ${seen + 1} refused: ${hay.subarray(from, from + 80).toString('latin1')}`));
              return;
            }
          } else {
            atStatus = true;
          }
        }
        if (seen === count) {
          socket.off('data', onChunk);
          resolve();
          return;
        }
        // Never keep bytes of a terminator already counted: "\r\n.\r\n" could otherwise match twice.
        carry = Buffer.from(hay.subarray(Math.max(from, hay.length - (TERMINATOR.length - 1))));
      };
      const rest = lines.detach();
      socket.on('data', onChunk);
      socket.once('close', () => reject(new Error(`POP3 connection closed after ${seen} of ${count} messages`)));
      if (rest.length > 0) onChunk(rest);
    });
    const commands = Array.from({ length: count }, (_, i) => `RETR ${i + 1}\r\n`).join('');
    await writeAll(socket, commands);
    await done;
    const seconds = elapsedSince(started);
    // Dovecot commits the session (moves the messages to cur/) at QUIT: wait for it so that work does not overlap the next measurement.
    const bye = new LineReader(socket);
    await writeAll(socket, 'QUIT\r\n');
    await bye.next();
    return { seconds, messages: count, wireBytes };
  } finally {
    socket.end();
    setTimeout(() => socket.destroy(), 1000).unref();
  }
}
