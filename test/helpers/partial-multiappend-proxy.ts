/**
 * A plain-TCP proxy in front of a real IMAP server that makes MULTIAPPEND
 * non-atomic, as some servers are despite RFC 3502: of a client's APPEND
 * carrying several messages it stores the first `keep` on the server (each as
 * an APPEND of its own, sent under the proxy's tags) and then answers the
 * client's command NO. Dovecot's MULTIAPPEND is atomic, so this cannot be had
 * from it. Everything else goes through unchanged.
 *
 * It follows the server's replies line by line to take out the answers to
 * its own APPENDs.
 */
import type { Socket } from 'node:net';
import { readCommands, TcpProxy } from './imap-proxy.js';

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

  private proxy!: TcpProxy;

  private constructor(private readonly options: PartialMultiAppendOptions) {}

  get port(): number {
    return this.proxy.port;
  }

  static async start(options: PartialMultiAppendOptions): Promise<PartialMultiAppendProxy> {
    const partial = new PartialMultiAppendProxy(options);
    partial.proxy = await TcpProxy.start(options.targetPort, (client, upstream) => partial.follow(client, upstream));
    return partial;
  }

  private follow(client: Socket, upstream: Socket): void {
    const { options } = this;
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

    /** The current command, held back while it may be a MULTIAPPEND to rewrite. */
    let held: { tag: string; mailbox: string; prefix: string; lines: Buffer[]; literals: Buffer[]; current: Buffer[] } | undefined;
    readCommands(client, {
      start: (text) => {
        const m = /^(\S+) APPEND ("(?:[^"\\]|\\.)*"|\S+) /i.exec(text);
        held =
          m && this.refused < options.batches
            ? { tag: m[1]!, mailbox: m[2]!, prefix: text, lines: [], literals: [], current: [] }
            : undefined;
      },
      line: (line, text, literal) => {
        if (!held) {
          upstream.write(line);
          return;
        }
        // The proxy answers a held command's synchronizing literal itself, so the server gets it as {n+}.
        held.lines.push(literal?.sync ? Buffer.from(`${text.slice(0, -1)}+}\r\n`, 'latin1') : line);
        if (literal?.sync) client.write('+ go ahead\r\n');
      },
      literal: (bytes, done) => {
        if (!held) {
          upstream.write(bytes);
          return;
        }
        held.lines.push(bytes);
        held.current.push(bytes);
        if (done) {
          held.literals.push(Buffer.concat(held.current));
          held.current = [];
        }
      },
      end: () => {
        if (!held) return;
        const command = held;
        held = undefined;
        if (command.literals.length < 2) {
          upstream.write(Buffer.concat(command.lines));
          return;
        }
        this.refused++;
        const keep = command.literals.slice(0, options.keep);
        if (keep.length === 0) {
          client.write(`${command.tag} NO [SERVERBUG] Internal error storing the messages.\r\n`);
          return;
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
      },
    });
  }

  stop(): Promise<void> {
    return this.proxy.stop();
  }
}
