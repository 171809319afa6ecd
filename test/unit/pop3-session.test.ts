import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode, PopliftError } from '../../src/errors.js';
import { Pop3Session, type Pop3ConnectOptions } from '../../src/pop3/pop3-session.js';
import {
  HOSTILE,
  closedPort,
  randomPieces,
  sasl,
  startScriptedPop3,
  type ScriptedPop3,
  type ScriptedPop3Options,
} from '../helpers/scripted-pop3.js';

const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
const CA = fixture('tls-ca.pem');
const KEY = fixture('tls-server-key.pem');

/** What Dovecot 2.3 answers to CAPA after login. */
const DOVECOT_CAPA = ['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'USER', 'SASL PLAIN'];
const SERIAL_CAPA = ['TOP', 'UIDL', 'USER'];
/** A server that lists no SASL mechanism: poplift logs in with USER/PASS. */
const USER_PASS_CAPA = DOVECOT_CAPA.filter((line) => !line.startsWith('SASL'));

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const isRetr = (line: string): boolean => line.startsWith('RETR ');
const messagesNamed = (count: number): Buffer[] =>
  Array.from({ length: count }, (_, i) => Buffer.concat([HOSTILE, Buffer.from(`message ${i + 1}\r\n`)]));

const servers: ScriptedPop3[] = [];
const sessions: Pop3Session[] = [];
const rawServers: Server[] = [];

afterEach(async () => {
  for (const session of sessions.splice(0)) session.close();
  for (const server of servers.splice(0)) await server.close();
  for (const server of rawServers.splice(0)) await new Promise((resolve) => server.close(resolve));
});

async function start(options: ScriptedPop3Options): Promise<ScriptedPop3> {
  const server = await startScriptedPop3(options);
  servers.push(server);
  return server;
}

function optionsFor(server: { port: number }, extra: Partial<Pop3ConnectOptions> = {}): Pop3ConnectOptions {
  return { host: '127.0.0.1', port: server.port, tls: false, user: 'alice', password: 'secret', timeoutMs: 5000, ...extra };
}

async function connect(server: { port: number }, extra: Partial<Pop3ConnectOptions> = {}): Promise<Pop3Session> {
  const session = await Pop3Session.connect(optionsFor(server, extra));
  sessions.push(session);
  return session;
}

const NOT_SETTLED = Symbol('not settled');

/** The PopliftError `promise` rejects with, failing if it resolves or takes longer than `withinMs`. */
async function rejection(promise: Promise<unknown>, withinMs = 3000): Promise<PopliftError> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      () => new Error('resolved, but a rejection was expected'),
      (err: unknown) => ({ rejected: err }),
    ),
    new Promise<typeof NOT_SETTLED>((resolve) => {
      timer = setTimeout(() => resolve(NOT_SETTLED), withinMs);
    }),
  ]);
  clearTimeout(timer);
  if (outcome === NOT_SETTLED) throw new Error(`the promise did not settle within ${withinMs} ms`);
  if (outcome instanceof Error) throw outcome;
  expect(outcome.rejected).toBeInstanceOf(PopliftError);
  const err = outcome.rejected as PopliftError;
  expect(err.side).toBe('POP3');
  return err;
}

describe('Pop3Session against a scripted server', () => {
  it('logs in, lists and retrieves a hostile message byte for byte from 1-4 byte chunks; the trace masks the credentials', async () => {
    const two = Buffer.from('two\r\n');
    const server = await start({ capa: DOVECOT_CAPA, messages: [HOSTILE, two], pieces: randomPieces(3, 4) });
    const trace: string[] = [];
    const session = await connect(server, { debug: (line) => trace.push(line) });

    expect(session.server).toBe(`127.0.0.1:${server.port}`);
    expect([...session.capabilities].sort()).toEqual(
      ['AUTH-RESP-CODE', 'CAPA', 'PIPELINING', 'RESP-CODES', 'SASL', 'TOP', 'UIDL', 'USER'].sort(),
    );
    expect(await session.stat()).toEqual({ count: 2, size: HOSTILE.length + two.length });
    expect(new Map(await session.list())).toEqual(
      new Map([
        [1, HOSTILE.length],
        [2, two.length],
      ]),
    );
    expect(await session.uidl()).toEqual(
      new Map([
        [1, 'uid-1'],
        [2, 'uid-2'],
      ]),
    );
    const body = await session.retr(1);
    expect(sha256(body)).toBe(sha256(HOSTILE));
    expect(body.equals(HOSTILE)).toBe(true);
    expect(await session.retr(2)).toEqual(two);
    await session.quit();

    // DOVECOT_CAPA lists SASL PLAIN, so the password goes as AUTH PLAIN.
    expect(server.log).toContain(`AUTH PLAIN ${sasl.plain('alice', 'secret')}`);
    expect(trace).toContain('C: AUTH PLAIN ****');
    expect(trace.join('\n')).not.toContain('secret');
    expect(trace.join('\n')).not.toContain(sasl.plain('alice', 'secret'));
    expect(trace).toContain(`S: (${HOSTILE.length} octets)`);
  });

  it('serves concurrent calls correctly', async () => {
    const server = await start({ capa: DOVECOT_CAPA, messages: messagesNamed(3) });
    const session = await connect(server);
    const [stat, list, uidl, body] = await Promise.all([session.stat(), session.list(), session.uidl(), session.retr(2)]);
    expect(stat.count).toBe(3);
    expect(list.size).toBe(3);
    expect(uidl?.get(3)).toBe('uid-3');
    expect(body.equals(messagesNamed(3)[1]!)).toBe(true);
  });

  describe('retrMany with PIPELINING', () => {
    const messages = messagesNamed(6);

    /**
     * Answers nothing until all six RETRs are in, then all six at once (RETR 3
     * with -ERR). The RETRs it held go into `held`, for the test to check: an
     * assertion failing inside the server would only show as a timeout.
     */
    function holdAllRetrs(held: string[], pieces?: (data: Buffer) => Buffer[]): ScriptedPop3Options['hook'] {
      let answered = false;
      return async (line, ctx) => {
        if (!isRetr(line)) return false;
        if (answered) return true;
        answered = true;
        const first = ctx.commands.findIndex(isRetr);
        await ctx.waitForCommands(first + 6);
        const retrs = ctx.commands.slice(first, first + 6);
        held.push(...retrs);
        const replies = retrs.map((r) => (r === 'RETR 3' ? Buffer.from('-ERR [SYS/PERM] cannot read message 3\r\n') : ctx.defaultReply(r)));
        await ctx.send(Buffer.concat(replies), pieces);
        return true;
      };
    }

    for (const [name, pieces] of [
      ['in one chunk', undefined],
      ['in 1-3 byte chunks', randomPieces(11, 3)],
    ] as const) {
      it(`keeps several RETRs in flight and matches replies ${name}, with a -ERR for one`, async () => {
        const held: string[] = [];
        const server = await start({ capa: DOVECOT_CAPA, messages, hook: holdAllRetrs(held, pieces) });
        const session = await connect(server);
        const delivered: number[] = [];
        const failed: [number, Error][] = [];
        await session.retrMany(
          [1, 2, 3, 4, 5, 6],
          (n, body) => {
            expect(sha256(body)).toBe(sha256(messages[n - 1]!));
            delivered.push(n);
          },
          { onError: (n, err) => failed.push([n, err]) },
        );
        expect(held).toEqual(['RETR 1', 'RETR 2', 'RETR 3', 'RETR 4', 'RETR 5', 'RETR 6']);
        expect(delivered).toEqual([1, 2, 4, 5, 6]);
        expect(failed).toHaveLength(1);
        const [n, err] = failed[0]!;
        expect(n).toBe(3);
        expect(err).toBeInstanceOf(PopliftError);
        if (!(err instanceof PopliftError)) throw err;
        expect(err.code).toBe('POP3_ERR');
        expect(err.exitCode).toBe(ExitCode.PARTIAL);
        expect(err.message).toContain('cannot read message 3');
        expect(await session.stat()).toEqual({ count: 6, size: messages.reduce((s, m) => s + m.length, 0) });
      });
    }

    it('keeps no more than `window` RETRs in flight', async () => {
      let answered = 0;
      let maxOutstanding = 0;
      const server = await start({
        capa: DOVECOT_CAPA,
        messages,
        hook: async (line, ctx) => {
          if (!isRetr(line)) return false;
          // Give the client every chance to overrun the window before answering.
          await sleep(5);
          maxOutstanding = Math.max(maxOutstanding, ctx.commands.filter(isRetr).length - answered);
          answered++;
          return false;
        },
      });
      const session = await connect(server);
      const delivered: number[] = [];
      await session.retrMany([1, 2, 3, 4, 5, 6], (n) => void delivered.push(n), { window: 2 });
      expect(delivered).toEqual([1, 2, 3, 4, 5, 6]);
      expect(maxOutstanding).toBe(2);
    });

    it('issues no RETR while onMessage is pending, and a DELE awaited inside onMessage does not deadlock', async () => {
      const server = await start({ capa: DOVECOT_CAPA, messages });
      const trace: string[] = [];
      const session = await connect(server, { debug: (line) => trace.push(line) });
      const retrsSent = (): number => trace.filter((l) => l.startsWith('C: RETR')).length;
      const issuedDuring: number[] = [];
      await session.retrMany(
        [1, 2, 3, 4, 5, 6],
        async (n) => {
          const before = retrsSent();
          await sleep(20);
          await session.dele(n);
          issuedDuring.push(retrsSent() - before);
        },
        { window: 3 },
      );
      expect(issuedDuring).toEqual([0, 0, 0, 0, 0, 0]);
      await session.quit();
      expect(server.committedDeletes).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it('rejects on a -ERR when no onError is given, and the session stays usable', async () => {
      const server = await start({ capa: DOVECOT_CAPA, messages: messagesNamed(3) });
      const session = await connect(server);
      const delivered: number[] = [];
      const err = await rejection(session.retrMany([1, 9, 2, 3], (n) => void delivered.push(n)));
      expect(err.code).toBe('POP3_ERR');
      expect(err.message).toContain('RETR 9');
      expect(delivered).toEqual([1]);
      expect((await session.stat()).count).toBe(3);
    });

    it('stops issuing and delivering once stopWhen says so', async () => {
      const server = await start({ capa: DOVECOT_CAPA, messages });
      const session = await connect(server);
      const delivered: number[] = [];
      await session.retrMany([1, 2, 3, 4, 5, 6], (n) => void delivered.push(n), {
        window: 2,
        stopWhen: () => delivered.length >= 2,
      });
      expect(delivered).toEqual([1, 2]);
      await session.quit();
      expect(server.log.filter(isRetr).length).toBeLessThanOrEqual(4);
    });
  });

  it('sends one command at a time to a server without PIPELINING', async () => {
    let overlap = 0;
    let handled = 0;
    const server = await start({
      capa: SERIAL_CAPA,
      messages: messagesNamed(4),
      hook: async (_line, ctx) => {
        await sleep(10);
        // A command received beyond the one being answered was sent before this reply: pipelined.
        if (ctx.commands.length > handled + 1) overlap++;
        handled++;
        return false;
      },
    });
    const session = await connect(server);
    expect(session.capabilities.has('PIPELINING')).toBe(false);
    const [stat, list] = await Promise.all([session.stat(), session.list()]);
    expect(stat.count).toBe(4);
    expect(list.size).toBe(4);
    const delivered: number[] = [];
    await session.retrMany([1, 2, 3, 4], (n, body) => {
      expect(body.equals(messagesNamed(4)[n - 1]!)).toBe(true);
      delivered.push(n);
    });
    expect(delivered).toEqual([1, 2, 3, 4]);
    expect(overlap).toBe(0);
  });

  it('with listAtLogin, sends LIST and UIDL with the CAPA after login where PIPELINING is offered, and lists from their answers', async () => {
    const pipelined = new Map<string, number>();
    const hook = async (line: string, ctx: { commands: string[] }) => {
      await sleep(10);
      // How many commands had arrived while this one was answered: more than it means they were pipelined.
      pipelined.set(line, ctx.commands.length);
      return false;
    };
    const server = await start({ capa: DOVECOT_CAPA, messages: messagesNamed(3), hook });
    const session = await connect(server, { listAtLogin: true });
    const afterLogin = server.log.lastIndexOf('CAPA');
    expect(server.log.slice(afterLogin)).toEqual(['CAPA', 'LIST', 'UIDL']);
    expect(pipelined.get('UIDL')).toBe(pipelined.get('LIST'));
    const listing = await session.listing();
    expect([...listing.numbers]).toEqual([1, 2, 3]);
    expect(listing.uidl(2)).toBe('uid-2');
    // Answered from what came at login: nothing more was sent.
    expect(server.log.slice(afterLogin)).toEqual(['CAPA', 'LIST', 'UIDL']);
    // A second listing asks again.
    await session.listing();
    expect(server.log.slice(afterLogin)).toEqual(['CAPA', 'LIST', 'UIDL', 'LIST', 'UIDL']);

    const serial = await start({ capa: SERIAL_CAPA, messages: messagesNamed(3) });
    await connect(serial, { listAtLogin: true });
    // Without PIPELINING nothing goes beyond the CAPA.
    expect(serial.log.slice(serial.log.lastIndexOf('CAPA'))).toEqual(['CAPA']);
  });

  it("over implicit TLS, a further session uses an earlier session's CAPA before login instead of asking again", async () => {
    const server = await start({ capa: DOVECOT_CAPA, messages: messagesNamed(2), tls: { key: KEY, cert: fixture('tls-server.pem') } });
    const tls = { tls: true, tlsOptions: { ca: CA } } as const;
    const first = await connect(server, tls);
    expect(first.capabilitiesBeforeLogin?.names.has('PIPELINING')).toBe(true);
    expect(server.log).toEqual(['CAPA', expect.stringMatching(/^AUTH PLAIN /), 'CAPA']);
    await first.quit();
    server.log.length = 0;
    const further = await connect(server, { ...tls, capabilitiesBeforeLogin: first.capabilitiesBeforeLogin });
    // AUTH right after the greeting; the CAPA after login is still asked.
    expect(server.log).toEqual([expect.stringMatching(/^AUTH PLAIN /), 'CAPA']);
    expect(further.capabilities.has('TOP')).toBe(true);
    expect((await further.retr(2)).equals(messagesNamed(2)[1]!)).toBe(true);

    // Without implicit TLS what came before login is asked each time.
    const plain = await start({ capa: DOVECOT_CAPA, messages: messagesNamed(2) });
    await connect(plain, { capabilitiesBeforeLogin: first.capabilitiesBeforeLogin });
    expect(plain.log[0]).toBe('CAPA');
  });

  it('uses the capabilities the server lists after login', async () => {
    const server = await start({ capa: ['USER', 'STLS', 'SASL PLAIN'], capaAfterLogin: ['TOP', 'UIDL', 'PIPELINING'] });
    const session = await connect(server);
    expect([...session.capabilities].sort()).toEqual(['PIPELINING', 'TOP', 'UIDL']);
    expect(server.log.filter((l) => l === 'CAPA')).toHaveLength(2);
  });

  it('works with a server that answers -ERR to CAPA and to UIDL', async () => {
    const server = await start({ capa: null, uidl: false, messages: messagesNamed(2) });
    const session = await connect(server);
    expect(session.capabilities.size).toBe(0);
    expect(await session.uidl()).toBeUndefined();
    expect((await session.retr(2)).equals(messagesNamed(2)[1]!)).toBe(true);
    // Without CAPA there is nothing to learn after login either.
    expect(server.log.filter((l) => l === 'CAPA')).toHaveLength(1);
  });

  it('turns -ERR to RETR and DELE into POP3_ERR and keeps the session usable', async () => {
    const server = await start({ capa: DOVECOT_CAPA, messages: messagesNamed(1) });
    const session = await connect(server);
    const retr = await rejection(session.retr(7));
    expect(retr.code).toBe('POP3_ERR');
    expect(retr.exitCode).toBe(ExitCode.PARTIAL);
    expect(retr.message).toContain("There's no message 7.");
    expect(retr.server).toBe(`127.0.0.1:${server.port}`);
    const dele = await rejection(session.dele(7));
    expect(dele.code).toBe('POP3_ERR');
    expect((await session.stat()).count).toBe(1);
  });

  describe('connection failures reject, never hang', () => {
    it('server closes mid-RETR: POP3_CONNECTION_LOST, and later commands fail at once', async () => {
      const server = await start({
        capa: DOVECOT_CAPA,
        messages: messagesNamed(2),
        hook: async (line, ctx) => {
          if (line !== 'RETR 1') return false;
          const reply = ctx.defaultReply(line);
          await ctx.send(reply.subarray(0, reply.length >> 1));
          ctx.socket.end();
          return true;
        },
      });
      const session = await connect(server);
      const err = await rejection(session.retr(1));
      expect(err.code).toBe('POP3_CONNECTION_LOST');
      expect(err.exitCode).toBe(ExitCode.PARTIAL);
      expect(err.message).toMatch(/closed the connection during RETR 1/);
      const later = await rejection(session.stat(), 100);
      expect(later.code).toBe('POP3_CONNECTION_LOST');
    });

    it('server closes mid-retrMany: rejects (not onError) and every pending RETR settles', async () => {
      const server = await start({
        capa: DOVECOT_CAPA,
        messages: messagesNamed(4),
        hook: async (line, ctx) => {
          if (line !== 'RETR 2') return false;
          await ctx.send(ctx.defaultReply(line).subarray(0, 100));
          ctx.socket.end();
          return true;
        },
      });
      const session = await connect(server);
      const errors: number[] = [];
      const delivered: number[] = [];
      const err = await rejection(session.retrMany([1, 2, 3, 4], (n) => void delivered.push(n), { onError: (n) => errors.push(n) }));
      expect(err.code).toBe('POP3_CONNECTION_LOST');
      expect(delivered).toEqual([1]);
      expect(errors).toEqual([]);
    });

    it('server resets mid-RETR: POP3_CONNECTION_LOST naming ECONNRESET', async () => {
      const server = await start({
        capa: DOVECOT_CAPA,
        messages: messagesNamed(1),
        hook: async (line, ctx) => {
          if (line !== 'RETR 1') return false;
          await ctx.send(ctx.defaultReply(line).subarray(0, 50));
          await sleep(20);
          ctx.socket.resetAndDestroy();
          return true;
        },
      });
      const session = await connect(server);
      const err = await rejection(session.retr(1));
      expect(err.code).toBe('POP3_CONNECTION_LOST');
      expect(err.message).toMatch(/reset the connection \(ECONNRESET\) during RETR 1/);
    });

    it('server falls silent mid-RETR: POP3_TIMEOUT after timeoutMs', async () => {
      const server = await start({
        capa: DOVECOT_CAPA,
        messages: messagesNamed(1),
        hook: async (line, ctx) => {
          if (line !== 'RETR 1') return false;
          await ctx.send(ctx.defaultReply(line).subarray(0, 80));
          return true;
        },
      });
      const session = await connect(server, { timeoutMs: 300 });
      const started = performance.now();
      const err = await rejection(session.retr(1), 2000);
      expect(performance.now() - started).toBeGreaterThanOrEqual(250);
      expect(err.code).toBe('POP3_TIMEOUT');
      expect(err.exitCode).toBe(ExitCode.PARTIAL);
      expect(err.message).toMatch(/sent nothing for 0\.3s during RETR 1/);
      expect((await rejection(session.dele(1), 100)).code).toBe('POP3_TIMEOUT');
    });

    it('does not time out while idle between commands', async () => {
      const server = await start({ capa: DOVECOT_CAPA, messages: messagesNamed(1) });
      const session = await connect(server, { timeoutMs: 100 });
      await sleep(250);
      expect((await session.stat()).count).toBe(1);
    });

    it('reports the server words when it hangs up while poplift is idle', async () => {
      const server = await start({
        capa: DOVECOT_CAPA,
        hook: async (line, ctx) => {
          if (line !== 'NOOP') return false;
          await ctx.send('+OK\r\n');
          await sleep(30);
          await ctx.send('-ERR Disconnected for inactivity.\r\n');
          ctx.socket.end();
          return true;
        },
      });
      const session = await connect(server);
      // NOOP has no method of its own: the idle hang-up is what is under test.
      await (session as unknown as { transport: { send(l: string, m: boolean): Promise<unknown> } }).transport.send('NOOP', false);
      await sleep(100);
      const err = await rejection(session.list(), 100);
      expect(err.code).toBe('POP3_CONNECTION_LOST');
      expect(err.message).toContain('while poplift was idle');
      expect(err.message).toContain('Disconnected for inactivity.');
    });

    it('the process reports a server close mid-RETR instead of exiting silently', async () => {
      const server = await start({
        capa: DOVECOT_CAPA,
        messages: messagesNamed(1),
        hook: async (line, ctx) => {
          if (line !== 'RETR 1') return false;
          await ctx.send(ctx.defaultReply(line).subarray(0, 60));
          ctx.socket.end();
          return true;
        },
      });
      // A separate Node process, so that "nothing keeps the event loop alive"
      // is real: node-pop3 itself exits 0 there without a word.
      const sessionModule = fileURLToPath(new URL('../../src/pop3/pop3-session.ts', import.meta.url));
      const script = `
        import { registerHooks } from 'node:module';
        registerHooks({
          resolve(specifier, context, next) {
            try { return next(specifier, context); }
            catch (err) {
              if (specifier.startsWith('.') && specifier.endsWith('.js')) return next(specifier.slice(0, -3) + '.ts', context);
              throw err;
            }
          },
        });
        const { Pop3Session } = await import(${JSON.stringify(sessionModule)});
        const session = await Pop3Session.connect(${JSON.stringify(optionsFor(server))});
        try {
          await session.retr(1);
          console.log('RESOLVED');
        } catch (err) {
          console.log(JSON.stringify({ code: err.code, exitCode: err.exitCode }));
          process.exitCode = 9;
        }
      `;
      const child = spawn(process.execPath, ['--input-type=module', '--no-warnings', '-e', script], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      const [code] = (await Promise.race([once(child, 'exit'), sleep(20_000).then(() => ['hung'])])) as [number | string];
      if (code === 'hung') child.kill();
      expect(stderr).toBe('');
      expect(stdout.trim()).toBe(JSON.stringify({ code: 'POP3_CONNECTION_LOST', exitCode: ExitCode.PARTIAL }));
      expect(code).toBe(9);
    }, 30_000);
  });

  describe('connect and login failures', () => {
    it('refused login: AUTH with the server words and never the password', async () => {
      const server = await start({ capa: DOVECOT_CAPA });
      const err = await rejection(Pop3Session.connect(optionsFor(server, { password: 'hunter2-wrong' })));
      expect(err.exitCode).toBe(ExitCode.AUTH);
      expect(err.code).toBe('POP3_AUTH');
      expect(err.message).toContain('[AUTH] Authentication failed.');
      expect(err.message).toContain('"alice"');
      expect(err.message).not.toContain('hunter2-wrong');
    });

    it('USER refused: AUTH, and no PASS is sent', async () => {
      const server = await start({
        capa: USER_PASS_CAPA,
        hook: async (line, ctx) => {
          if (!line.startsWith('USER ')) return false;
          await ctx.send('-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n');
          return true;
        },
      });
      const err = await rejection(Pop3Session.connect(optionsFor(server)));
      expect(err.exitCode).toBe(ExitCode.AUTH);
      expect(err.message).toContain('Plaintext authentication disallowed');
      await sleep(20);
      expect(server.log.some((l) => l.startsWith('PASS'))).toBe(false);
    });

    it('mailbox in use ([IN-USE]) is not reported as a wrong password', async () => {
      const server = await start({
        capa: USER_PASS_CAPA,
        hook: async (line, ctx) => {
          if (!line.startsWith('PASS ')) return false;
          await ctx.send('-ERR [IN-USE] Mailbox is locked by another POP3 session.\r\n');
          return true;
        },
      });
      const err = await rejection(Pop3Session.connect(optionsFor(server)));
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.code).toBe('POP3_IN_USE');
    });

    it('connection refused on a closed port: CONNECT', async () => {
      const port = await closedPort();
      const err = await rejection(Pop3Session.connect(optionsFor({ port })));
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.code).toBe('POP3_CONNECT');
      expect(err.message).toContain('ECONNREFUSED');
      expect(err.server).toBe(`127.0.0.1:${port}`);
    });

    it('a server that accepts but never greets: CONNECT after timeoutMs', async () => {
      const silent = createServer(() => undefined);
      rawServers.push(silent);
      silent.listen(0, '127.0.0.1');
      await once(silent, 'listening');
      const port = (silent.address() as { port: number }).port;
      const err = await rejection(Pop3Session.connect(optionsFor({ port }, { timeoutMs: 200 })), 2000);
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.message).toMatch(/sent no greeting within 0\.2s: if this is a TLS port/);
    });

    it('a server that hangs up before greeting: CONNECT', async () => {
      const rude = createServer((socket) => socket.end());
      rawServers.push(rude);
      rude.listen(0, '127.0.0.1');
      await once(rude, 'listening');
      const err = await rejection(Pop3Session.connect(optionsFor({ port: (rude.address() as { port: number }).port })));
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.message).toContain('closed the connection before its greeting');
    });

    it('a -ERR greeting: CONNECT with the server words', async () => {
      const server = await start({ greeting: '-ERR [SYS/TEMP] Too many connections' });
      const err = await rejection(Pop3Session.connect(optionsFor(server)));
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.message).toContain('Too many connections');
    });

    it('something that is not POP3: CONNECT', async () => {
      const server = await start({ greeting: 'SSH-2.0-OpenSSH_9.2p1' });
      const err = await rejection(Pop3Session.connect(optionsFor(server)));
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.message).toContain('is not a POP3 server: it is an SSH server');
    });

    it('something unrecognisable that is not POP3: CONNECT', async () => {
      const server = await start({ greeting: 'hello there' });
      const err = await rejection(Pop3Session.connect(optionsFor(server)));
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.message).toContain('does not answer like a POP3 server');
    });

    it('rejects options that would inject commands, before connecting', async () => {
      const err = await rejection(Pop3Session.connect(optionsFor({ port: 1 }, { user: 'alice\r\nDELE 1' })));
      expect(err.exitCode).toBe(ExitCode.USAGE);
    });
  });

  describe('TLS', () => {
    const tlsServer = (cert: string): Promise<ScriptedPop3> =>
      start({ capa: DOVECOT_CAPA, messages: [HOSTILE], tls: { key: KEY, cert: fixture(cert) }, pieces: randomPieces(5, 4) });

    it('implicit TLS with the CA given: byte-exact retrieval', async () => {
      const server = await tlsServer('tls-server.pem');
      const session = await connect(server, { tls: true, tlsOptions: { ca: CA } });
      expect((await session.retr(1)).equals(HOSTILE)).toBe(true);
      await session.quit();
    });

    for (const [cert, extra, words] of [
      ['tls-server-self-signed.pem', {}, /certificate is self-signed \(DEPTH_ZERO_SELF_SIGNED_CERT\)/],
      ['tls-server-expired.pem', { ca: CA }, /certificate has expired \(CERT_HAS_EXPIRED\)/],
      ['tls-server.pem', { ca: CA, servername: 'mail.example.com' }, /does not match the host name/],
      ['tls-server.pem', {}, /signed by an unknown authority/],
    ] as const) {
      it(`certificate problem ${words.source.slice(0, 40)}: CONNECT naming it and suggesting --pop3-ca-file`, async () => {
        const server = await tlsServer(cert);
        const err = await rejection(Pop3Session.connect(optionsFor(server, { tls: 'implicit', tlsOptions: extra })));
        expect(err.exitCode).toBe(ExitCode.CONNECT);
        expect(err.code).toBe('POP3_TLS');
        expect(err.message).toMatch(words);
        expect(err.message).toContain('--pop3-ca-file');
        expect(err.message).toContain('--pop3-insecure');
      });
    }

    it('TLS to a plain-text port: CONNECT naming the handshake', async () => {
      const server = await start({ capa: DOVECOT_CAPA });
      const err = await rejection(Pop3Session.connect(optionsFor(server, { tls: true, tlsOptions: { ca: CA } })));
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.code).toBe('POP3_TLS');
      expect(err.message).toContain('TLS handshake');
    });

    it("'starttls' upgrades with STLS before USER/PASS and re-reads CAPA", async () => {
      const server = await start({
        capa: ['USER', 'STLS', 'PIPELINING', 'UIDL'],
        messages: [HOSTILE],
        stls: { key: KEY, cert: fixture('tls-server.pem') },
      });
      const trace: string[] = [];
      const session = await connect(server, {
        tls: 'starttls',
        allowPlaintext: false,
        tlsOptions: { ca: CA },
        debug: (line) => trace.push(line),
      });
      expect(server.log.slice(0, 6)).toEqual(['CAPA', 'STLS', 'CAPA', 'USER alice', 'PASS secret', 'CAPA']);
      expect(trace.some((l) => l.startsWith('-- TLS established'))).toBe(true);
      expect((await session.retr(1)).equals(HOSTILE)).toBe(true);
    });

    // A complete line and a partial one (no CRLF): the partial one used to be joined to the first line read over TLS.
    for (const injected of ['+OK injected\r\n', '+OK injected partial', '-ERR x\r\n+OK inj']) {
      it(`'starttls' refuses a server that sent ${JSON.stringify(injected)} after its STLS answer, before any login`, async () => {
        const server = await start({
          capa: ['USER', 'STLS', 'PIPELINING', 'UIDL'],
          stls: { key: KEY, cert: fixture('tls-server.pem') },
          afterStls: injected,
        });
        const err = await rejection(
          Pop3Session.connect(optionsFor(server, { tls: 'starttls', allowPlaintext: false, tlsOptions: { ca: CA } })),
        );
        expect(err.exitCode).toBe(ExitCode.CONNECT);
        expect(err.code).toBe('POP3_TLS');
        expect(err.side).toBe('POP3');
        expect(err.message).toContain(`POP3 server 127.0.0.1:${server.port}`);
        expect(err.message).toMatch(/sent data after its STLS answer/);
        await sleep(20);
        expect(server.log.some((l) => /^(USER|PASS|AUTH)/.test(l))).toBe(false);
      });
    }

    it("'starttls' without STLS and allowPlaintext false: refuses before sending the password", async () => {
      const server = await start({ capa: DOVECOT_CAPA });
      const err = await rejection(Pop3Session.connect(optionsFor(server, { tls: 'starttls', allowPlaintext: false })));
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.code).toBe('POP3_TLS');
      expect(err.message).toContain('does not offer STLS');
      await sleep(20);
      expect(server.log.some((l) => l.startsWith('USER') || l.startsWith('PASS'))).toBe(false);
    });

    it("'starttls' without STLS logs in in plain text when allowed", async () => {
      const server = await start({ capa: DOVECOT_CAPA });
      const session = await connect(server, { tls: 'starttls' });
      expect(session.capabilities.has('PIPELINING')).toBe(true);
    });
  });

  describe('quit and close', () => {
    it('quit() commits DELEs; later commands reject with POP3_CLOSED', async () => {
      const server = await start({ capa: DOVECOT_CAPA, messages: messagesNamed(3) });
      const session = await connect(server);
      await session.dele(1);
      await session.dele(3);
      await session.quit();
      expect(server.committedDeletes).toEqual([1, 3]);
      expect((await rejection(session.stat(), 100)).code).toBe('POP3_CLOSED');
    });

    it('close() commits nothing and rejects what is pending with POP3_CLOSED', async () => {
      const server = await start({
        capa: DOVECOT_CAPA,
        messages: messagesNamed(2),
        hook: (line) => line === 'RETR 2',
      });
      const session = await connect(server);
      await session.dele(1);
      const pending = session.retr(2);
      await sleep(20);
      session.close();
      const err = await rejection(pending, 100);
      expect(err.code).toBe('POP3_CLOSED');
      await sleep(20);
      expect(server.log).not.toContain('QUIT');
      expect(server.committedDeletes).toEqual([]);
    });
  });
});
