/**
 * A plain-TCP proxy in front of a real IMAP server that answers the first
 * APPEND commands itself with a throttling refusal, the way Microsoft 365
 * does ("Request is throttled. Suggested Backoff Time: N milliseconds"),
 * without passing them on: Dovecot never throttles, and a refusal the server
 * had not given must not leave a message stored behind it. Everything else
 * goes through unchanged.
 *
 * It follows the client's commands just far enough to find their ends:
 * lines, and literals announced as {n} or {n+} (RFC 9051, RFC 7888); for a
 * synchronizing literal of a command it keeps, it sends the "+" itself.
 */
import { createHash, type Hash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface ThrottlingProxyOptions {
  targetPort: number;
  /** How many APPEND commands to refuse before letting them through. */
  refuse: number;
  /** The backoff the refusal asks for. */
  backoffMs: number;
  /**
   * The tagged reply given instead of the throttling refusal, e.g. an OK for
   * a message the server then does not store.
   */
  reply?: (tag: string) => string;
}

export class ThrottlingImapProxy {
  /** APPEND commands refused so far. */
  refused = 0;
  /** APPEND commands passed on to the server. */
  passed = 0;
  /**
   * Every APPEND command in order: when it arrived (performance.now()), whether
   * it was refused, and a hash of its first message, which tells a batch sent
   * again from another batch.
   */
  readonly appends: Array<{ at: number; refused: boolean; first: string }> = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(options: ThrottlingProxyOptions): Promise<ThrottlingImapProxy> {
    const sockets = new Set<Socket>();
    let proxy!: ThrottlingImapProxy;
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
      upstream.on('data', (d: Buffer) => client.write(d));
      proxy.follow(client, upstream, options);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new ThrottlingImapProxy(server, (server.address() as { port: number }).port, sockets);
    return proxy;
  }

  private follow(client: Socket, upstream: Socket, options: ThrottlingProxyOptions): void {
    let buffer = Buffer.alloc(0);
    let literalLeft = 0;
    /** At the first line of a command (not after a literal of one). */
    let commandStart = true;
    let swallow = false;
    let tag = '';
    /** The first literal of the current APPEND, while it is being read. */
    let firstHash: Hash | undefined;
    let literalIndex = 0;
    let isAppend = false;
    client.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      for (;;) {
        if (literalLeft > 0) {
          const n = Math.min(literalLeft, buffer.length);
          if (n === 0) return;
          if (!swallow) upstream.write(buffer.subarray(0, n));
          firstHash?.update(buffer.subarray(0, n));
          buffer = buffer.subarray(n);
          literalLeft -= n;
          if (literalLeft === 0 && firstHash) {
            this.appends.at(-1)!.first = firstHash.digest('hex');
            firstHash = undefined;
          }
          continue;
        }
        const eol = buffer.indexOf('\r\n');
        if (eol < 0) return;
        const line = buffer.subarray(0, eol + 2);
        buffer = buffer.subarray(eol + 2);
        const text = line.toString('latin1', 0, eol);
        if (commandStart) {
          const [t = '', verb = ''] = text.split(' ');
          tag = t;
          const append = verb.toUpperCase() === 'APPEND';
          isAppend = append;
          swallow = append && this.refused < options.refuse;
          literalIndex = 0;
          if (append) {
            this.appends.push({ at: performance.now(), refused: swallow, first: '' });
            if (!swallow) this.passed++;
          }
        }
        const literal = /\{(\d+)(\+?)\}$/.exec(text);
        if (!swallow) upstream.write(line);
        if (literal) {
          literalLeft = Number(literal[1]);
          if (isAppend && literalIndex++ === 0) firstHash = createHash('sha256');
          commandStart = false;
          if (swallow && literal[2] === '') client.write('+ go ahead\r\n');
          continue;
        }
        commandStart = true;
        if (swallow) {
          this.refused++;
          client.write(
            options.reply
              ? `${options.reply(tag)}\r\n`
              : `${tag} NO Request is throttled. Suggested Backoff Time: ${options.backoffMs} milliseconds\r\n`,
          );
        }
      }
    });
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}
