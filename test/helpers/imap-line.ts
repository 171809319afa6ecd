/** A minimal line-oriented client for the few admin and delivery dialogues the harness speaks (IMAP as admin, LMTP). */
import { connect, type Socket } from 'node:net';

export class LineClient {
  private buffer = Buffer.alloc(0);
  private waiters: Array<() => void> = [];
  private closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      for (const w of this.waiters.splice(0)) w();
    });
    const end = () => {
      this.closed = true;
      for (const w of this.waiters.splice(0)) w();
    };
    socket.on('close', end);
    socket.on('error', end);
  }

  static open(target: { port: number } | { path: string }, timeoutMs = 30_000): Promise<LineClient> {
    return new Promise((resolve, reject) => {
      const socket = 'path' in target ? connect(target.path) : connect(target.port, '127.0.0.1');
      socket.setTimeout(timeoutMs, () => socket.destroy(new Error('timed out')));
      socket.once('connect', () => resolve(new LineClient(socket)));
      socket.once('error', reject);
    });
  }

  /** Next line (without its line end). */
  async line(): Promise<string> {
    for (;;) {
      const i = this.buffer.indexOf(0x0a);
      if (i >= 0) {
        const l = this.buffer.subarray(0, i).toString('latin1').replace(/\r$/, '');
        this.buffer = this.buffer.subarray(i + 1);
        return l;
      }
      if (this.closed) throw new Error(`connection closed; last bytes: ${this.buffer.toString('latin1')}`);
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Reads lines until one matches, returning them all. */
  async until(done: (line: string) => boolean): Promise<string[]> {
    const lines: string[] = [];
    for (;;) {
      const l = await this.line();
      lines.push(l);
      if (done(l)) return lines;
    }
  }

  write(data: Buffer | string): void {
    this.socket.write(data);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Runs tagged IMAP commands in order; throws on anything but OK. */
export async function imapAdmin(port: number, login: string, password: string, commands: string[]): Promise<void> {
  const c = await LineClient.open({ port });
  try {
    await c.line();
    let n = 0;
    for (const cmd of [`LOGIN "${login}" "${password}"`, ...commands, 'LOGOUT']) {
      const tag = `h${++n}`;
      c.write(`${tag} ${cmd}\r\n`);
      const lines = await c.until((l) => l.startsWith(`${tag} `));
      const last = lines[lines.length - 1]!;
      if (!last.startsWith(`${tag} OK`)) throw new Error(`IMAP ${cmd.split(' ')[0]} failed: ${last}`);
    }
  } finally {
    c.close();
  }
}
