/**
 * What the IMAP test proxies share: a plain-TCP listener on loopback that
 * joins each client to the real server and tears both ends down together,
 * and a reader that follows a client's commands just far enough to find
 * their ends (lines, and literals announced as {n} or {n+}: RFC 9051,
 * RFC 7888), so a proxy can pass a command on, hold it, or answer it.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

/** Called for each client, with its connection to the server already opening. */
export type Attach = (client: Socket, upstream: Socket) => void;

export class TcpProxy {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(targetPort: number, attach: Attach): Promise<TcpProxy> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: targetPort });
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      attach(client, upstream);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new TcpProxy(server, (server.address() as { port: number }).port, sockets);
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

export interface CommandHandlers {
  /** The first line of a command, without its CRLF. */
  start?(text: string): void;
  /**
   * Each line of a command, CRLF included; `literal` when a literal follows
   * it (`sync`: the client waits for a continuation before sending it).
   */
  line(line: Buffer, text: string, literal: { size: number; sync: boolean } | undefined): void;
  /** Literal bytes as they come; `done` with the last of a literal. */
  literal(bytes: Buffer, done: boolean): void;
  /** The command's last line was read. */
  end?(): void;
}

/** Reads the client's commands and hands their parts to `h`, in order. */
export function readCommands(client: Socket, h: CommandHandlers): void {
  let buffer = Buffer.alloc(0);
  let literalLeft = 0;
  /** At the first line of a command (not after a literal of one). */
  let commandStart = true;
  client.on('data', (chunk: Buffer) => {
    buffer = Buffer.concat([buffer, chunk]);
    for (;;) {
      if (literalLeft > 0) {
        const n = Math.min(literalLeft, buffer.length);
        if (n === 0) return;
        literalLeft -= n;
        h.literal(buffer.subarray(0, n), literalLeft === 0);
        buffer = buffer.subarray(n);
        continue;
      }
      const eol = buffer.indexOf('\r\n');
      if (eol < 0) return;
      const line = buffer.subarray(0, eol + 2);
      buffer = buffer.subarray(eol + 2);
      const text = line.toString('latin1', 0, eol);
      if (commandStart) h.start?.(text);
      const announced = /\{(\d+)(\+?)\}$/.exec(text);
      const literal = announced ? { size: Number(announced[1]), sync: announced[2] === '' } : undefined;
      h.line(line, text, literal);
      if (literal) {
        literalLeft = literal.size;
        commandStart = false;
        continue;
      }
      commandStart = true;
      h.end?.();
      // A proxy may have ended the connection in answer to the command.
      if (client.destroyed || client.writableEnded) return;
    }
  });
}
