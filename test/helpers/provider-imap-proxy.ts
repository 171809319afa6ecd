/**
 * A plain-TCP proxy in front of a real IMAP server (Dovecot, without TLS)
 * that answers chosen commands itself in a hosted provider's words, which
 * Dovecot never says: Microsoft 365's throttling, Gmail's daily-quota BYE,
 * a connection cap's refusal. An answered command is not passed on, so a
 * refused APPEND leaves nothing stored behind it. Everything else goes
 * through unchanged.
 * For a synchronizing literal of a command it answers itself, it sends the
 * "+" itself.
 */
import type { Socket } from 'node:net';
import { readCommands, TcpProxy } from './imap-proxy.js';

/** What the proxy says instead of the server. */
export interface InjectedAnswer {
  /** The tagged reply without the tag, e.g. 'NO Request is throttled. ...'; omitted with `bye`. */
  tagged?: string;
  /** An untagged BYE text (without '* BYE '), after which both connections are closed. */
  bye?: string;
}

/** The providers' own answers (see NOTES and src/imap/server-responses.ts). */
export const PROVIDER_ANSWERS = {
  m365Throttled: (ms: number): InjectedAnswer => ({ tagged: `NO Request is throttled. Suggested Backoff Time: ${ms} milliseconds` }),
  m365ThrottledBad: (ms: number): InjectedAnswer => ({ tagged: `BAD Request is throttled. Suggested Backoff Time: ${ms} milliseconds` }),
  gmailOverQuota: (): InjectedAnswer => ({ bye: '[OVERQUOTA] Account exceeded command or bandwidth limits.' }),
  gmailTooManyConnections: (): InjectedAnswer => ({ tagged: 'NO [ALERT] Too many simultaneous connections. (Failure)' }),
};

export interface ProviderProxyOptions {
  targetPort: number;
  /**
   * Logged-in connections the account may hold; a login beyond that gets
   * `tooManyConnections` (default Gmail's refusal) instead of reaching the server.
   */
  maxConnections?: number;
  tooManyConnections?: InjectedAnswer;
}

interface Rule {
  verb: string;
  answer: InjectedAnswer;
  times: number;
  /** Commands with this verb to let through before answering. */
  after: number;
}

const LOGIN_VERBS = new Set(['LOGIN', 'AUTHENTICATE']);

export class ProviderImapProxy {
  /** Every command verb the clients sent, upper-cased, in arrival order. */
  readonly verbs: string[] = [];
  /** Commands the proxy answered itself, as "VERB: tagged or BYE text". */
  readonly injected: string[] = [];
  /** Logins refused for the connection cap. */
  refusedLogins = 0;
  /** Connections whose login went through and that are still open. */
  loggedIn = 0;
  /** The most logged-in connections at once. */
  peakLoggedIn = 0;
  private readonly rules: Rule[] = [];
  private proxy!: TcpProxy;

  private constructor(private readonly options: ProviderProxyOptions) {}

  get port(): number {
    return this.proxy.port;
  }

  static async start(options: ProviderProxyOptions): Promise<ProviderImapProxy> {
    const provider = new ProviderImapProxy(options);
    provider.proxy = await TcpProxy.start(options.targetPort, (client, upstream) => provider.accept(client, upstream));
    return provider;
  }

  /**
   * Answers `times` commands with this verb (APPEND, LOGIN, SELECT, ...) with
   * `answer`, after letting the next `after` of them through (a quota that
   * bites in mid-run).
   */
  inject(verb: string, answer: InjectedAnswer, times = 1, after = 0): void {
    this.rules.push({ verb: verb.toUpperCase(), answer, times, after });
  }

  private take(verb: string): InjectedAnswer | undefined {
    const rule = this.rules.find((r) => r.verb === verb && r.times > 0);
    if (!rule) return undefined;
    if (rule.after > 0) {
      rule.after--;
      return undefined;
    }
    rule.times--;
    return rule.answer;
  }

  private accept(client: Socket, upstream: Socket): void {
    let counted = false;
    for (const s of [client, upstream]) {
      s.on('close', () => {
        if (!counted) return;
        counted = false;
        this.loggedIn--;
      });
    }
    upstream.on('data', (d: Buffer) => client.write(d));

    let answer: InjectedAnswer | undefined;
    let tag = '';
    let verb = '';
    readCommands(client, {
      start: (text) => {
        const [t = '', v = ''] = text.split(' ');
        tag = t;
        verb = v.toUpperCase();
        this.verbs.push(verb);
        answer = this.take(verb);
        if (!answer && LOGIN_VERBS.has(verb) && this.options.maxConnections !== undefined && this.loggedIn >= this.options.maxConnections) {
          answer = this.options.tooManyConnections ?? PROVIDER_ANSWERS.gmailTooManyConnections();
          this.refusedLogins++;
        }
        if (!answer && LOGIN_VERBS.has(verb) && !counted) {
          // Counted as logged in from the attempt on: the cap is about connections the account holds.
          counted = true;
          this.loggedIn++;
          this.peakLoggedIn = Math.max(this.peakLoggedIn, this.loggedIn);
        }
      },
      line: (line, _text, literal) => {
        if (!answer) upstream.write(line);
        else if (literal?.sync) client.write('+ go ahead\r\n');
      },
      literal: (bytes) => {
        if (!answer) upstream.write(bytes);
      },
      end: () => {
        if (!answer) return;
        const a = answer;
        answer = undefined;
        if (a.bye !== undefined) {
          this.injected.push(`${verb}: BYE ${a.bye}`);
          client.end(`* BYE ${a.bye}\r\n`);
          upstream.destroy();
          return;
        }
        this.injected.push(`${verb}: ${a.tagged}`);
        client.write(`${tag} ${a.tagged}\r\n`);
      },
    });
  }

  stop(): Promise<void> {
    return this.proxy.stop();
  }
}
