/**
 * A plain-TCP proxy in front of a real IMAP server that answers the first
 * APPEND commands itself with a throttling refusal, the way Microsoft 365
 * does ("Request is throttled. Suggested Backoff Time: N milliseconds"),
 * without passing them on: Dovecot never throttles, and a refusal the server
 * had not given must not leave a message stored behind it. Everything else
 * goes through unchanged.
 *
 * For a synchronizing literal of a command it keeps, it sends the "+"
 * itself.
 */
import { createHash, type Hash } from 'node:crypto';
import type { Socket } from 'node:net';
import { readCommands, TcpProxy } from './imap-proxy.js';

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
  private proxy!: TcpProxy;

  private constructor(private readonly options: ThrottlingProxyOptions) {}

  get port(): number {
    return this.proxy.port;
  }

  static async start(options: ThrottlingProxyOptions): Promise<ThrottlingImapProxy> {
    const throttling = new ThrottlingImapProxy(options);
    throttling.proxy = await TcpProxy.start(options.targetPort, (client, upstream) => {
      upstream.on('data', (d: Buffer) => client.write(d));
      throttling.follow(client, upstream);
    });
    return throttling;
  }

  private follow(client: Socket, upstream: Socket): void {
    const { options } = this;
    let swallow = false;
    let tag = '';
    /** The first literal of the current APPEND, while it is being read. */
    let firstHash: Hash | undefined;
    let literalIndex = 0;
    let isAppend = false;
    readCommands(client, {
      start: (text) => {
        const [t = '', verb = ''] = text.split(' ');
        tag = t;
        isAppend = verb.toUpperCase() === 'APPEND';
        swallow = isAppend && this.refused < options.refuse;
        literalIndex = 0;
        if (isAppend) {
          this.appends.push({ at: performance.now(), refused: swallow, first: '' });
          if (!swallow) this.passed++;
        }
      },
      line: (line, _text, literal) => {
        if (!swallow) upstream.write(line);
        if (!literal) return;
        if (isAppend && literalIndex++ === 0) firstHash = createHash('sha256');
        if (swallow && literal.sync) client.write('+ go ahead\r\n');
      },
      literal: (bytes, done) => {
        if (!swallow) upstream.write(bytes);
        firstHash?.update(bytes);
        if (done && firstHash) {
          this.appends.at(-1)!.first = firstHash.digest('hex');
          firstHash = undefined;
        }
      },
      end: () => {
        if (!swallow) return;
        this.refused++;
        client.write(
          options.reply
            ? `${options.reply(tag)}\r\n`
            : `${tag} NO Request is throttled. Suggested Backoff Time: ${options.backoffMs} milliseconds\r\n`,
        );
      },
    });
  }

  stop(): Promise<void> {
    return this.proxy.stop();
  }
}
