/**
 * A plain-TCP proxy in front of a real IMAP server that answers every login
 * command (LOGIN, AUTHENTICATE) itself with a NO that quotes the command's
 * arguments back, the way careless servers put what they were sent in their
 * refusals: the password, or the base64 SASL blob that holds it. Everything
 * else passes through unchanged. Needs a server without TLS.
 */
import { readCommands, TcpProxy } from './imap-proxy.js';

export class EchoImapProxy {
  /** Login commands answered by the proxy, as received. */
  readonly logins: string[] = [];
  private proxy!: TcpProxy;

  get port(): number {
    return this.proxy.port;
  }

  static async start(targetPort: number): Promise<EchoImapProxy> {
    const echo = new EchoImapProxy();
    echo.proxy = await TcpProxy.start(targetPort, (client, upstream) => {
      upstream.on('data', (d: Buffer) => client.write(d));
      let answering = false;
      readCommands(client, {
        start: (text) => {
          const login = /^(\S+) (LOGIN|AUTHENTICATE) (.*)$/i.exec(text.trimEnd());
          answering = login !== null;
          if (login === null) return;
          echo.logins.push(text.trimEnd());
          client.write(`${login[1]} NO [AUTHENTICATIONFAILED] Invalid credentials for ${login[3]}\r\n`);
        },
        line: (line) => {
          if (!answering) upstream.write(line);
        },
        literal: (bytes) => {
          if (!answering) upstream.write(bytes);
        },
      });
    });
    return echo;
  }

  close(): Promise<void> {
    return this.proxy.stop();
  }
}
