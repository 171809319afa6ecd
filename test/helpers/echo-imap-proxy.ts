/**
 * A plain-TCP proxy in front of a real IMAP server that answers every login
 * command (LOGIN, AUTHENTICATE) itself with a NO that quotes the command's
 * arguments back, the way careless servers put what they were sent in their
 * refusals: the password, or the base64 SASL blob that holds it. Everything
 * else passes through unchanged. Needs a server without TLS.
 */
import { connect, createServer, type Server, type Socket } from 'node:net';

export class EchoImapProxy {
  /** Login commands answered by the proxy, as received. */
  readonly logins: string[] = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(targetPort: number): Promise<EchoImapProxy> {
    const sockets = new Set<Socket>();
    let proxy!: EchoImapProxy;
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
      upstream.on('data', (d: Buffer) => client.write(d));
      let pending = Buffer.alloc(0);
      client.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        for (let eol = pending.indexOf('\r\n'); eol !== -1; eol = pending.indexOf('\r\n')) {
          const line = pending.subarray(0, eol + 2);
          pending = pending.subarray(eol + 2);
          const text = line.toString('latin1').trimEnd();
          const login = /^(\S+) (LOGIN|AUTHENTICATE) (.*)$/i.exec(text);
          if (login === null) {
            upstream.write(line);
            continue;
          }
          proxy.logins.push(text);
          client.write(`${login[1]} NO [AUTHENTICATIONFAILED] Invalid credentials for ${login[3]}\r\n`);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    proxy = new EchoImapProxy(server, (server.address() as { port: number }).port, sockets);
    return proxy;
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
