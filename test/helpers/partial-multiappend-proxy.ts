/**
 * A plain-TCP proxy in front of a real IMAP server that makes MULTIAPPEND
 * non-atomic, as some servers are despite RFC 3502: of a client's APPEND
 * carrying several messages it stores the first `keep` on the server (each as
 * an APPEND of its own, sent under the proxy's tags) and then answers the
 * client's command NO. Dovecot's MULTIAPPEND is atomic, so this cannot be had
 * from it. Everything else goes through unchanged.
 *
 * It follows the client's commands just far enough to find their ends (lines,
 * and literals announced as {n} or {n+}), and the server's replies line by
 * line to take out the answers to its own APPENDs.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface PartialMultiAppendOptions {
  targetPort: number;
  /** How many messages of a refused MULTIAPPEND are stored before the NO. */
  keep: number;
  /** How many MULTIAPPEND commands are treated so; later ones go through. */
  batches: number;
}

const PROXY_TAG = 'PXY';

export class PartialMultiAppendProxy {
  /** MULTIAPPEND commands answered NO after storing some of their messages. */
  refused = 0;
  /** Messages stored on the server by the proxy for refused commands. */
  storedBehindNo = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(options: PartialMultiAppendOptions): Promise<PartialMultiAppendProxy> {
    const sockets = new Set<Socket>();
    let proxy!: PartialMultiAppendProxy;
    const server = createServer((client) => {
      const upstream = connect({ host: '127.0.0.1', port: options.targetPort });
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      proxy.follow(client, upstream, options);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new PartialMultiAppendProxy(server, (server.address() as { port: number }).port, sockets);
    return proxy;
  }

  private follow(client: Socket, upstream: Socket, options: PartialMultiAppendOptions): void {
    /** The proxy's own APPENDs waiting for their tagged reply: the last one's reply releases the client's NO. */
    const waiting = new Map<string, string | undefined>();
    let seq = 0;
    let upBuffer = Buffer.alloc(0);
    upstream.on('data', (chunk: Buffer) => {
      upBuffer = Buffer.concat([upBuffer, chunk]);
      let out = 0;
      const parts: Buffer[] = [];
      for (;;) {
        const eol = upBuffer.indexOf('\r\n', out);
        if (eol < 0) break;
        const line = upBuffer.subarray(out, eol + 2);
        out = eol + 2;
        const tag = line.toString('latin1', 0, Math.min(line.length, 40)).split(' ')[0]!;
        if (waiting.has(tag)) {
          const release = waiting.get(tag);
          waiting.delete(tag);
          if (release !== undefined) parts.push(Buffer.from(release, 'latin1'));
          continue;
        }
        parts.push(line);
      }
      upBuffer = upBuffer.subarray(out);
      if (parts.length > 0) client.write(Buffer.concat(parts));
    });

    let buffer = Buffer.alloc(0);
    let literalLeft = 0;
    let commandStart = true;
    /** The current command, held back while it may be a MULTIAPPEND to rewrite. */
    let held: { tag: string; mailbox: string; prefix: string; lines: Buffer[]; literals: Buffer[]; current: Buffer[] } | undefined;
    client.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (literalLeft > 0) {
          const n = Math.min(literalLeft, buffer.length);
          if (n === 0) return;
          const piece = buffer.subarray(0, n);
          if (held) {
            held.lines.push(piece);
            held.current.push(piece);
          } else upstream.write(piece);
          buffer = buffer.subarray(n);
          literalLeft -= n;
          if (literalLeft === 0 && held) {
            held.literals.push(Buffer.concat(held.current));
            held.current = [];
          }
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffer.subarray(0, eol + 2);
        buffer = buffer.subarray(eol + 2);
        const text = line.toString('latin1', 0, eol);
        if (commandStart) {
          const m = /^(\S+) APPEND ("(?:[^"\\]|\\.)*"|\S+) /i.exec(text);
          held =
            m && this.refused < options.batches
              ? { tag: m[1]!, mailbox: m[2]!, prefix: text, lines: [], literals: [], current: [] }
              : undefined;
        }
        const literal = /\{(\d+)(\+?)\}$/.exec(text);
        // The proxy answers a held command's synchronizing literal itself, so the server gets it as {n+}.
        if (held) held.lines.push(literal && literal[2] === '' ? Buffer.from(`${text.slice(0, -1)}+}\r\n`, 'latin1') : line);
        else upstream.write(line);
        if (literal) {
          literalLeft = Number(literal[1]);
          commandStart = false;
          if (held && literal[2] === '') client.write('+ go ahead\r\n');
          continue;
        }
        commandStart = true;
        if (held) {
          const command = held;
          held = undefined;
          if (command.literals.length < 2) {
            upstream.write(Buffer.concat(command.lines));
            continue;
          }
          this.refused++;
          const keep = command.literals.slice(0, options.keep);
          if (keep.length === 0) {
            client.write(`${command.tag} NO [SERVERBUG] Internal error storing the messages.\r\n`);
            continue;
          }
          keep.forEach((content, i) => {
            const tag = `${PROXY_TAG}${++seq}`;
            const last = i === keep.length - 1;
            waiting.set(tag, last ? `${command.tag} NO [SERVERBUG] Internal error storing the messages.\r\n` : undefined);
            this.storedBehindNo++;
            upstream.write(
              Buffer.concat([
                Buffer.from(`${tag} APPEND ${command.mailbox} {${content.length}+}\r\n`, 'latin1'),
                content,
                Buffer.from('\r\n'),
              ]),
            );
          });
        }
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
