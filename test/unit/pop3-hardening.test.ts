/**
 * The POP3 driver against servers that break RFC 1939 in ways seen in the
 * wild: broken UIDLs, oversized or endless messages, echoed secrets,
 * temporary login refusals, and the extensions (UTF8, PIPELINING) that
 * decide whether a message is served as stored and how fast it goes.
 */
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { PopliftError } from '../../src/errors.js';
import { Pop3Session, type Pop3ConnectOptions } from '../../src/pop3/pop3-session.js';
import { startScriptedPop3, type ScriptedPop3, type ScriptedPop3Options } from '../helpers/scripted-pop3.js';

const CAPA = ['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'USER', 'SASL PLAIN'];
const SERIAL_CAPA = ['TOP', 'UIDL', 'USER'];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const messages = (count: number, size = 40): Buffer[] =>
  Array.from({ length: count }, (_, i) => Buffer.from(`Subject: ${i + 1}\r\n\r\n${'x'.repeat(Math.max(0, size - 20))}\r\n`));

const servers: ScriptedPop3[] = [];
const sessions: Pop3Session[] = [];

afterEach(async () => {
  for (const session of sessions.splice(0)) session.close();
  for (const server of servers.splice(0)) await server.close();
});

async function start(options: ScriptedPop3Options): Promise<ScriptedPop3> {
  const server = await startScriptedPop3(options);
  servers.push(server);
  return server;
}

async function connect(server: { port: number }, extra: Partial<Pop3ConnectOptions> = {}): Promise<Pop3Session> {
  const session = await Pop3Session.connect({
    host: '127.0.0.1',
    port: server.port,
    tls: false,
    user: 'alice',
    password: 'secret',
    timeoutMs: 5000,
    ...extra,
  });
  sessions.push(session);
  return session;
}

/** The PopliftError `promise` rejects with; fails if it resolves or takes longer than `withinMs`. */
async function rejection(promise: Promise<unknown>, withinMs = 3000): Promise<PopliftError> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    promise.then(
      () => ({ resolved: true as const }),
      (err: unknown) => ({ rejected: err }),
    ),
    new Promise<{ late: true }>((resolve) => {
      timer = setTimeout(() => resolve({ late: true }), withinMs);
    }),
  ]);
  clearTimeout(timer);
  if ('late' in outcome) throw new Error(`the promise did not settle within ${withinMs} ms`);
  if ('resolved' in outcome) throw new Error('resolved, but a rejection was expected');
  expect(outcome.rejected).toBeInstanceOf(PopliftError);
  return outcome.rejected as PopliftError;
}

describe('UIDLs kept exactly as sent', () => {
  it('listing() keeps spaces and 8-bit bytes and marks numbers without a unique well-formed UIDL', async () => {
    const uidlReply = Buffer.concat([
      Buffer.from('+OK\r\n1 x U1\r\n2 x U2\r\n3 caf'),
      Buffer.from([0xe9]),
      Buffer.from('\r\n4 dup\r\n5 dup\r\n7 fine\r\n.\r\n'),
    ]);
    const server = await start({
      capa: CAPA,
      messages: messages(7),
      hook: async (line, ctx) => {
        if (line !== 'UIDL') return false;
        await ctx.send(uidlReply);
        return true;
      },
    });
    const session = await connect(server);
    const listing = await session.listing();
    expect([...listing.numbers]).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(listing.uidl(1)).toBe('x U1');
    expect(listing.uidl(2)).toBe('x U2');
    expect(Buffer.from(listing.uidl(3)!, 'latin1')).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    expect([...listing.numbers].map((n) => listing.problem(n) ?? 'ok')).toEqual([
      'malformed',
      'malformed',
      'malformed',
      'duplicate',
      'duplicate',
      'missing',
      'ok',
    ]);
    expect([...listing.numbers].filter((n) => listing.identifiable(n))).toEqual([7]);
    expect(listing.size(7)).toBe(messages(7)[6]!.length);
    // The map uidl() returns keeps the whole ids too, so x U1 and x U2 no longer collide.
    const uids = await session.uidl();
    expect(uids?.get(1)).not.toBe(uids?.get(2));
  });

  it('listing() of a server without UIDL marks every number', async () => {
    const server = await start({ capa: ['USER'], uidl: false, messages: messages(2) });
    const session = await connect(server);
    const listing = await session.listing();
    expect(listing.hasUidl).toBe(false);
    expect([...listing.numbers].map((n) => listing.problem(n))).toEqual(['no-uidl', 'no-uidl']);
  });
});

describe('bounded RETR', () => {
  it('a message far beyond its LIST size fails alone (POP3_TOO_BIG) and the session goes on', async () => {
    const huge = Buffer.alloc(600 * 1024, 0x61);
    const body = Buffer.concat([Buffer.from('Subject: big\r\n\r\n'), huge, Buffer.from('\r\n')]);
    const small = messages(3);
    const server = await start({
      capa: CAPA,
      messages: small,
      hook: async (line, ctx) => {
        if (line !== 'RETR 2') return false;
        // LIST says 40 octets; 600 KiB arrive, without a line end for most of it.
        await ctx.send(Buffer.concat([Buffer.from('+OK\r\n'), body, Buffer.from('.\r\n')]));
        return true;
      },
    });
    const session = await connect(server);
    await session.list();
    const got: number[] = [];
    const failed: [number, string | undefined][] = [];
    await session.retrMany([1, 2, 3], (n) => void got.push(n), { onError: (n, err) => failed.push([n, (err as { code?: string }).code]) });
    expect(got).toEqual([1, 3]);
    expect(failed).toEqual([[2, 'POP3_TOO_BIG']]);
    const err = await rejection(session.retr(2));
    expect(err.code).toBe('POP3_TOO_BIG');
    expect(err.message).toMatch(/far more than its LIST size of \d+ octets.*stays on the server/);
    expect((await session.retr(3)).equals(small[2]!)).toBe(true);
  });

  it('a message larger than maxMessageBytes by LIST is not retrieved at all', async () => {
    const server = await start({ capa: CAPA, messages: [...messages(1), Buffer.alloc(5000, 0x62), ...messages(1)] });
    const session = await connect(server, { maxMessageBytes: 4096 });
    await session.list();
    const got: number[] = [];
    const failed: [number, string | undefined][] = [];
    await session.retrMany([1, 2, 3], (n) => void got.push(n), { onError: (n, err) => failed.push([n, (err as { code?: string }).code]) });
    expect(got).toEqual([1, 3]);
    expect(failed).toEqual([[2, 'POP3_TOO_BIG']]);
    expect(server.log).not.toContain('RETR 2');
  });

  it('without LIST, maxMessageBytes bounds what a RETR may bring', async () => {
    const server = await start({ capa: CAPA, messages: [Buffer.alloc(5000, 0x62)] });
    const session = await connect(server, { maxMessageBytes: 4096 });
    const err = await rejection(session.retr(1));
    expect(err.code).toBe('POP3_TOO_BIG');
    expect(err.message).toContain('--max-message-size');
  });

  it('a body that trickles forever without the final dot fails at the hard deadline (POP3_TIMEOUT)', async () => {
    let stop = false;
    const server = await start({
      capa: CAPA,
      messages: messages(1),
      hook: async (line, ctx) => {
        if (line !== 'RETR 1') return false;
        await ctx.send('+OK\r\nSubject: slow\r\n');
        // One byte every 50 ms: always well within the idle timeout.
        while (!stop && !ctx.socket.destroyed) {
          await ctx.send('a');
          await sleep(50);
        }
        return true;
      },
    });
    const session = await connect(server, { timeoutMs: 400 });
    await session.list();
    const started = performance.now();
    const err = await rejection(session.retr(1), 6000);
    stop = true;
    expect(err.code).toBe('POP3_TIMEOUT');
    expect(err.message).toMatch(/did not finish RETR 1 within .* octets received.*stays on the server/);
    // 2 x 400 ms plus 40 octets at 16 KiB/s.
    expect(performance.now() - started).toBeGreaterThan(700);
    expect(performance.now() - started).toBeLessThan(4000);
  });

  it('time with reading paused by the consumer does not count against the deadline', async () => {
    const server = await start({ capa: CAPA, messages: messages(3) });
    const session = await connect(server, { timeoutMs: 300 });
    await session.list();
    const got: number[] = [];
    await session.retrMany([1, 2, 3], async (n) => {
      got.push(n);
      await sleep(900);
    });
    expect(got).toEqual([1, 2, 3]);
  });
});

describe('bounded RETR: the reply parser', () => {
  it('"+OK 1000000000 octets" allocates nothing like it up front', async () => {
    const { Pop3ReplyParser } = await import('../../src/pop3/pop3-framing.js');
    const { vi } = await import('vitest');
    const real = Buffer.allocUnsafe.bind(Buffer);
    const spy = vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => {
      if (size > 64 * 1024 * 1024) throw new RangeError(`allocUnsafe(${size})`);
      return real(size);
    });
    try {
      for (const expectation of [true, { multiLine: true, preallocateUpTo: 100, maxBodyBytes: 70000 }] as const) {
        const parser = new Pop3ReplyParser();
        parser.expect(expectation);
        const [reply] = parser.push(Buffer.from('+OK 1000000000 octets\r\nSubject: x\r\n\r\nbody\r\n.\r\n'));
        expect(reply!.body!.toString()).toBe('Subject: x\r\n\r\nbody\r\n');
      }
      expect(spy.mock.calls.every(([size]) => size <= 64 * 1024 * 1024)).toBe(true);
    } finally {
      spy.mockRestore();
    }
  });

  it('keeps nothing of a body past maxBodyBytes, whatever its line ends, and stays in step', async () => {
    const { Pop3ReplyParser } = await import('../../src/pop3/pop3-framing.js');
    const parser = new Pop3ReplyParser();
    parser.expect({ multiLine: true, maxBodyBytes: 1000 });
    parser.expect(false);
    const chunk = Buffer.alloc(1024 * 1024, 0x61);
    expect(parser.push(Buffer.from('+OK\r\n'))).toEqual([]);
    for (let i = 0; i < 20; i++) expect(parser.push(chunk)).toEqual([]);
    expect((parser as unknown as { bodyParts: Buffer[] }).bodyParts).toHaveLength(0);
    const replies = parser.push(Buffer.from('\r\n.\r\n+OK next\r\n'));
    expect(replies).toHaveLength(2);
    expect(replies[0]!.tooLarge).toBe(20 * 1024 * 1024 + 2);
    expect(replies[0]!.body).toBeUndefined();
    expect(replies[1]!.text).toBe('next');
  });
});

describe('UTF8 (RFC 6856) and sizes that do not match LIST', () => {
  const original = Buffer.concat([Buffer.from('Subject: caf'), Buffer.from([0xc3, 0xa9]), Buffer.from('\r\n\r\nbody\r\n')]);
  const wrapper = Buffer.from(
    'Subject: Cannot display Unicode content\r\nContent-Type: multipart/mixed; boundary="x1"\r\n\r\n--x1\r\n' +
      'This message cannot be displayed because it has Unicode headers.\r\n--x1--\r\n',
  );

  /** Courier's behaviour: CAPA lists UTF8; without the command, 8-bit headers get a generated wrapper. */
  async function courierLike(): Promise<ScriptedPop3> {
    let enabled = false;
    return start({
      capa: ['TOP', 'UIDL', 'USER', 'UTF8 USER', 'PIPELINING'],
      messages: [original],
      hook: async (line, ctx) => {
        if (line === 'UTF8') {
          enabled = true;
          await ctx.send('+OK UTF8 enabled\r\n');
          return true;
        }
        if (line === 'RETR 1' && !enabled) {
          await ctx.send(Buffer.concat([Buffer.from(`+OK ${wrapper.length} octets\r\n`), wrapper, Buffer.from('.\r\n')]));
          return true;
        }
        return false;
      },
    });
  }

  it('sends UTF8 before logging in when CAPA offers it, and gets the message as stored', async () => {
    const server = await courierLike();
    const session = await connect(server);
    expect(session.utf8).toBe(true);
    expect(server.log.indexOf('UTF8')).toBeLessThan(server.log.indexOf('USER alice'));
    await session.list();
    expect((await session.retr(1)).equals(original)).toBe(true);
  });

  it('does not send UTF8 to a server that does not offer it', async () => {
    const server = await start({ capa: CAPA, messages: messages(1) });
    const session = await connect(server);
    expect(session.utf8).toBe(false);
    expect(server.log).not.toContain('UTF8');
  });

  it('marks a RETR whose length differs from LIST by more than line ends as suspect', async () => {
    const server = await start({
      capa: CAPA,
      messages: [original, original, original],
      hook: async (line, ctx) => {
        if (line === 'RETR 1') {
          await ctx.send(Buffer.concat([Buffer.from('+OK\r\n'), wrapper, Buffer.from('.\r\n')]));
          return true;
        }
        if (line === 'RETR 2') {
          // What a server storing LF line ends may do: LIST counted LF, RETR sends CRLF. Honest.
          await ctx.send(Buffer.concat([Buffer.from('+OK\r\n'), original, Buffer.from('.\r\n')]));
          return true;
        }
        if (line === 'LIST') {
          // Three lines: stored with LF they count three octets less.
          const lfSize = original.length - 3;
          await ctx.send(`+OK\r\n1 ${original.length}\r\n2 ${lfSize}\r\n3 ${original.length}\r\n.\r\n`);
          return true;
        }
        return false;
      },
    });
    const session = await connect(server);
    await session.list();
    const seen: [number, boolean, number | undefined][] = [];
    await session.retrMany([1, 2, 3], (n, _body, info) => void seen.push([n, info.sizeSuspect, info.listSize]));
    expect(seen).toEqual([
      [1, true, original.length],
      [2, false, original.length - 3],
      [3, false, original.length],
    ]);
    expect(session.sizeSuspect(1, wrapper)).toBe(true);
    expect(session.sizeSuspect(3, original)).toBe(false);
  });
});

describe('socket settings and line ends', () => {
  const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));
  const tlsKeys = () => ({ key: fixture('tls-server-key.pem'), cert: fixture('tls-server.pem') });

  async function noDelaySockets(run: () => Promise<unknown>, port: number): Promise<string[]> {
    const spy = vi.spyOn(Socket.prototype, 'setNoDelay');
    try {
      await run();
      return (
        spy.mock.contexts
          .map((socket, i) => [socket as Socket, spy.mock.calls[i]![0]] as const)
          // The scripted server's own sockets are the ones on its port; a client
          // TLSSocket over node-pop3's connection does not report its ports.
          .filter(([socket, on]) => socket.localPort !== port && on !== false)
          .map(([socket]) => (socket instanceof TLSSocket ? 'tls' : 'plain'))
      );
    } finally {
      spy.mockRestore();
    }
  }

  it('sets no-delay on the plain, the implicit TLS and the STLS socket', async () => {
    const plain = await start({ capa: CAPA });
    expect(await noDelaySockets(() => connect(plain), plain.port)).toContain('plain');

    const implicit = await start({ capa: CAPA, tls: tlsKeys() });
    expect(
      await noDelaySockets(() => connect(implicit, { tls: true, tlsOptions: { ca: fixture('tls-ca.pem') } }), implicit.port),
    ).toContain('tls');

    const stls = await start({ capa: ['USER', 'STLS', 'UIDL'], stls: tlsKeys() });
    const kinds = await noDelaySockets(
      () => connect(stls, { tls: 'starttls', allowPlaintext: false, tlsOptions: { ca: fixture('tls-ca.pem') } }),
      stls.port,
    );
    expect(kinds).toEqual(expect.arrayContaining(['plain', 'tls']));
  });

  it('accepts a bare LF at the end of status lines, SASL continuations and CAPA lines', async () => {
    const server = await start({
      messages: messages(1),
      greeting: '+OK ready',
      hook: async (line, ctx) => {
        if (line === 'CAPA') {
          await ctx.send('+OK\nUSER\nUIDL\nPIPELINING\nSASL PLAIN\r\n.\r\n');
          return true;
        }
        if (line === 'AUTH PLAIN') {
          await ctx.send('+ \n');
          return true;
        }
        if (line.startsWith('AUTH PLAIN ') || line === Buffer.from('\0alice\0secret').toString('base64')) {
          await ctx.send('+OK Logged in.\n');
          return true;
        }
        return false;
      },
    });
    const session = await connect(server);
    expect([...session.capabilities].sort()).toEqual(['PIPELINING', 'SASL', 'UIDL', 'USER']);
    expect(await session.stat()).toEqual({ count: 1, size: messages(1)[0]!.length });
  });
});

describe('deleMany', () => {
  /** A server that answers each DELE after `delayMs`, as over a slow link. */
  async function slowDele(count: number, capa: string[], delayMs: number): Promise<ScriptedPop3> {
    return start({
      capa,
      messages: messages(count, 30),
      hook: async (line, ctx) => {
        if (!line.startsWith('DELE ')) return false;
        await sleep(delayMs);
        await ctx.send(ctx.defaultReply(line));
        return true;
      },
    });
  }

  it('pipelines DELEs on a PIPELINING server; QUIT commits them', async () => {
    const server = await start({
      capa: CAPA,
      messages: messages(200, 30),
      hook: async (line, ctx) => {
        if (line !== 'DELE 1') return false;
        // Hold the first answer until many DELEs are already here: proof they were pipelined.
        await Promise.race([ctx.waitForCommands(ctx.commands.indexOf('DELE 1') + 51), sleep(2000)]);
        await ctx.send(ctx.defaultReply(line));
        return true;
      },
    });
    const session = await connect(server);
    const numbers = Array.from({ length: 200 }, (_, i) => i + 1);
    const started = performance.now();
    const result = await session.deleMany([...numbers, 999]);
    expect(performance.now() - started).toBeLessThan(1500);
    expect(result.deleted.sort((a, b) => a - b)).toEqual(numbers);
    expect(result.refused.map((r) => [r.n, r.error.code])).toEqual([[999, 'POP3_ERR']]);
    expect(result.stopped).toBe(false);
    await session.quit();
    expect(server.committedDeletes).toEqual(numbers);
  });

  it('sends one DELE at a time without PIPELINING', async () => {
    const server = await start({
      capa: SERIAL_CAPA,
      messages: messages(5, 30),
      hook: async (line, ctx) => {
        if (!line.startsWith('DELE ')) return false;
        await sleep(20);
        // Nothing else may have arrived while this DELE was unanswered.
        expect(ctx.commands[ctx.commands.length - 1]).toBe(line);
        await ctx.send(ctx.defaultReply(line));
        return true;
      },
    });
    const session = await connect(server);
    const result = await session.deleMany([1, 2, 3, 4, 5]);
    expect(result.deleted).toEqual([1, 2, 3, 4, 5]);
  });

  for (const [name, capa] of [
    ['with PIPELINING', CAPA],
    ['without PIPELINING', SERIAL_CAPA],
  ] as const) {
    it(`stops within a second when asked (${name}), and QUIT commits only what was deleted`, async () => {
      const server = await slowDele(1000, capa, 20);
      const session = await connect(server);
      let stop = false;
      setTimeout(() => (stop = true), 300);
      const started = performance.now();
      const result = await session.deleMany(
        Array.from({ length: 1000 }, (_, i) => i + 1),
        { stopWhen: () => stop, window: 16 },
      );
      const took = performance.now() - started;
      expect(result.stopped).toBe(true);
      expect(took).toBeLessThan(300 + 1000);
      expect(result.deleted.length).toBeGreaterThan(0);
      expect(result.deleted.length + result.unanswered.length + result.notSent.length).toBe(1000);
      expect(result.notSent.length).toBeGreaterThan(500);
      // The server answers the stragglers; QUIT then commits what it marked.
      await session.quit();
      expect(server.committedDeletes.length).toBeGreaterThanOrEqual(result.deleted.length);
      expect(server.committedDeletes.length).toBeLessThanOrEqual(result.deleted.length + result.unanswered.length);
    });
  }

  it('an aborted signal stops it even while DELEs go unanswered', async () => {
    const server = await start({
      capa: CAPA,
      messages: messages(10, 30),
      hook: async (line) => {
        // The server stalls on DELE 3; the answers to it and what follows come too late.
        if (line === 'DELE 3') await sleep(3000);
        return false;
      },
    });
    const session = await connect(server);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    const started = performance.now();
    const result = await session.deleMany([1, 2, 3, 4, 5], { signal: controller.signal });
    expect(performance.now() - started).toBeLessThan(1200);
    expect(result.deleted).toEqual([1, 2]);
    expect(result.unanswered).toEqual([3, 4, 5]);
    expect(result.stopped).toBe(true);
  });
});

describe('secrets echoed by the server', () => {
  const password = 'Tr0ub4dor&3xyz';
  const blob = Buffer.from(`\0alice\0${password}`).toString('base64');

  it('never reach an error message or the trace, in any encoding', async () => {
    const server = await start({
      capa: CAPA,
      password,
      messages: messages(3),
      hook: async (line, ctx) => {
        if (line === 'RETR 1') {
          await ctx.send(`-ERR cannot read message for ${password} (${encodeURIComponent(password)})\r\n`);
          return true;
        }
        if (line === 'DELE 2') {
          await ctx.send(`-ERR refused; you logged in with ${blob}\r\n`);
          return true;
        }
        if (line === 'RETR 3') {
          await ctx.send(`-ERR [SYS/PERM] goodbye ${password}\r\n`);
          ctx.socket.destroy();
          return true;
        }
        return false;
      },
    });
    const trace: string[] = [];
    const session = await connect(server, { password, debug: (l) => trace.push(l) });
    const errors = [await rejection(session.retr(1)), await rejection(session.dele(2))];
    const dele = await session.deleMany([2]);
    errors.push(...dele.refused.map((r) => r.error));
    errors.push(await rejection(session.retr(3)));
    expect(errors.map((e) => e.code)).toEqual(['POP3_ERR', 'POP3_ERR', 'POP3_ERR', expect.stringMatching(/POP3_(ERR|CONNECTION_LOST)/)]);
    const everything = [...errors.map((e) => e.message), ...trace].join('\n');
    expect(everything).toContain('****');
    expect(everything).not.toContain(password);
    expect(everything).not.toContain(encodeURIComponent(password));
    expect(everything).not.toContain(blob);
  });

  it('in the last words before a hang-up', async () => {
    const server = await start({
      capa: CAPA,
      password,
      messages: messages(1),
      hook: async (line, ctx) => {
        if (line !== 'STAT') return false;
        await ctx.send(`+OK 1 40\r\n-ERR session of ${password} ends\r\n`);
        await sleep(20);
        ctx.socket.destroy();
        return true;
      },
    });
    const session = await connect(server, { password });
    await session.stat();
    await sleep(100);
    const err = await rejection(session.retr(1));
    expect(err.message).toContain('****');
    expect(err.message).not.toContain(password);
  });
});

describe('temporary login refusals are not a wrong password', () => {
  for (const [reply, code] of [
    ['-ERR [LOGIN-DELAY] Wait 300 seconds between logins.', 'POP3_LOGIN_DELAY'],
    ['-ERR [IN-USE] Mailbox is locked by another POP3 session.', 'POP3_IN_USE'],
    ['-ERR [SYS/TEMP] Temporary authentication failure.', 'POP3_UNAVAILABLE'],
    ['-ERR Unable to lock maildrop: /var/mail/alice', 'POP3_IN_USE'],
    ['-ERR Your mailbox is locked by another session', 'POP3_IN_USE'],
  ] as const) {
    it(`${reply}: exit 4, "try again later"`, async () => {
      const server = await start({
        capa: ['USER', 'UIDL'],
        hook: async (line, ctx) => {
          if (!line.startsWith('PASS ')) return false;
          await ctx.send(`${reply}\r\n`);
          return true;
        },
      });
      const err = await rejection(connect(server));
      expect(err.code).toBe(code);
      expect(err.exitCode).toBe(4);
      expect(err.message).toContain('try again later');
      expect(err.message).not.toContain('check the POP3 user name and password');
    });
  }

  it('a plain wrong password is still exit 3', async () => {
    const server = await start({ capa: ['USER', 'UIDL'] });
    const err = await rejection(connect(server, { password: 'wrong' }));
    expect(err.exitCode).toBe(3);
  });
});

describe('Microsoft 365 POP3 XOAUTH2', () => {
  const token = 'eyJ0eXAiOiJKV1Qi.m365-token';
  const m365 = (user: string): ScriptedPop3Options => ({
    capa: ['TOP', 'UIDL', 'SASL PLAIN XOAUTH2', 'USER'],
    user,
    accessToken: token,
    messages: messages(1),
    // Microsoft 365 refuses the response on the AUTH line itself.
    hook: async (line, ctx) => {
      if (!/^AUTH XOAUTH2 \S/i.test(line)) return false;
      await ctx.send('-ERR Protocol error. Connection is closed. 10\r\n');
      return true;
    },
  });

  it('sends the token after AUTH XOAUTH2 and the "+" when the one-line form is refused', async () => {
    const user = 'alice@contoso.onmicrosoft.com';
    const server = await start(m365(user));
    const session = await connect(server, { user, password: undefined, accessToken: token });
    expect((await session.retr(1)).equals(messages(1)[0]!)).toBe(true);
    const auth = server.log.filter((l) => l.startsWith('AUTH'));
    expect(auth).toEqual([expect.stringMatching(/^AUTH XOAUTH2 \S+$/), 'AUTH XOAUTH2']);
  });

  it('a refused token is still reported as a refused token (exit 3), not retried again', async () => {
    const user = 'alice@contoso.onmicrosoft.com';
    const server = await start(m365(user));
    const err = await rejection(connect(server, { user, password: undefined, accessToken: 'expired-token' }));
    expect(err.code).toBe('POP3_AUTH_TOKEN');
    expect(err.exitCode).toBe(3);
    expect(server.log.filter((l) => l.startsWith('AUTH'))).toHaveLength(2);
  });

  it('a Gmail-style refusal of the one-line form (a JSON challenge) is not retried', async () => {
    const server = await start({ capa: ['USER', 'SASL XOAUTH2'], messages: messages(1) });
    const err = await rejection(connect(server, { password: undefined, accessToken: 'expired-token' }));
    expect(err.code).toBe('POP3_AUTH_TOKEN');
    expect(server.log.filter((l) => l.startsWith('AUTH'))).toHaveLength(1);
  });
});

describe('what answered on the port', () => {
  const fixture = (name: string): Buffer => readFileSync(new URL(`./fixtures/${name}`, import.meta.url));

  it('pop3:// on an implicit-TLS port: says to use pop3s:// within seconds, not after the timeout', async () => {
    const server = await start({ capa: CAPA, tls: { key: fixture('tls-server-key.pem'), cert: fixture('tls-server.pem') } });
    const started = performance.now();
    const err = await rejection(connect(server, { tls: 'starttls', timeoutMs: 30_000 }), 6000);
    expect(err.exitCode).toBe(4);
    expect(err.message).toMatch(/speaks TLS from the first byte: use pop3s:\/\//);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('an IMAP server on the POP3 port: says so', async () => {
    const server = await start({ greeting: '* OK [CAPABILITY IMAP4rev1 STARTTLS] Dovecot ready.' });
    const err = await rejection(connect(server));
    expect(err.exitCode).toBe(4);
    expect(err.message).toMatch(/is not a POP3 server: it greets like an IMAP server/);
  });

  it('pop3s:// on a plain POP3 port: says to use pop3://', async () => {
    const server = await start({ capa: CAPA });
    const err = await rejection(connect(server, { tls: true, tlsOptions: { ca: fixture('tls-ca.pem') } }));
    expect(err.exitCode).toBe(4);
    expect(err.code).toBe('POP3_TLS');
    expect(err.message).toMatch(/TLS handshake .* answers in plain text, not TLS: use pop3:\/\//);
  });
});

/** Sends `text` one byte every `everyMs` while `going()` (a server that never finishes its line). */
async function trickle(ctx: { send(data: string): Promise<void>; socket: Socket }, text: string, everyMs: number, going: () => boolean) {
  for (let i = 0; going() && !ctx.socket.destroyed; i = (i + 1) % text.length) {
    await ctx.send(text[i]!);
    await sleep(everyMs);
  }
}

describe('every exchange has a deadline, not only RETR and the listings', () => {
  // One byte every 200 ms never lets a 1 s idle timeout fire: before, each of these waited forever.
  it('a greeting trickled one byte at a time fails at the deadline (exit 4, naming server and step)', async () => {
    let stop = false;
    const server = await start({ capa: CAPA, sendGreeting: (ctx) => trickle(ctx, '+OK sloooooow', 200, () => !stop) });
    const started = performance.now();
    const err = await rejection(connect(server, { timeoutMs: 1000 }), 8000);
    stop = true;
    expect(err).toMatchObject({ code: 'POP3_CONNECT', exitCode: 4, side: 'POP3' });
    expect(err.message).toMatch(new RegExp(`^POP3 server 127\\.0\\.0\\.1:${server.port} did not finish its greeting within 2s`));
    expect(performance.now() - started).toBeGreaterThan(1500);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('a PASS reply trickled one byte at a time fails at the deadline (POP3_TIMEOUT, naming server and step)', async () => {
    let stop = false;
    const server = await start({
      capa: CAPA,
      hook: async (line, ctx) => {
        if (!line.startsWith('PASS ')) return false;
        await trickle(ctx, '+OK still thinking', 200, () => !stop);
        return true;
      },
    });
    const started = performance.now();
    const err = await rejection(connect(server, { timeoutMs: 1000, auth: 'user' }), 8000);
    stop = true;
    expect(err).toMatchObject({ code: 'POP3_TIMEOUT', side: 'POP3' });
    expect(err.message).toMatch(new RegExp(`^POP3 server 127\\.0\\.0\\.1:${server.port} did not finish PASS \\*+ within 2s`));
    expect(err.message).not.toContain('secret');
    expect(err.message).not.toMatch(/message stays on the server/);
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('an STLS handshake the server never answers fails after the idle timeout (no byte re-arms it)', async () => {
    const server = await start({
      capa: [...CAPA, 'STLS'],
      hook: async (line, ctx) => {
        if (line !== 'STLS') return false;
        // Deaf from now on: the ClientHello must not be read as a command and answered in plain text.
        ctx.socket.removeAllListeners('data');
        await ctx.send('+OK Begin TLS negotiation\r\n');
        return true;
      },
    });
    const started = performance.now();
    const err = await rejection(connect(server, { timeoutMs: 1000, tls: 'starttls' }), 8000);
    expect(err).toMatchObject({ code: 'POP3_TLS', exitCode: 4 });
    expect(err.message).toMatch(new RegExp(`^TLS handshake with POP3 server 127\\.0\\.0\\.1:${server.port} did not finish within 1s`));
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it('a DELE reply trickled one byte at a time fails at the deadline', async () => {
    let stop = false;
    const server = await start({
      capa: CAPA,
      messages: messages(1),
      hook: async (line, ctx) => {
        if (!line.startsWith('DELE ')) return false;
        await trickle(ctx, '+OK marked', 200, () => !stop);
        return true;
      },
    });
    const session = await connect(server, { timeoutMs: 1000 });
    const started = performance.now();
    const err = await rejection(session.dele(1), 8000);
    stop = true;
    expect(err).toMatchObject({ code: 'POP3_TIMEOUT' });
    expect(err.message).toMatch(/did not finish DELE 1 within 2s/);
    expect(performance.now() - started).toBeLessThan(5000);
  });
});

describe('a listing that never ends', () => {
  it('LIST trickled forever fails at its deadline (POP3_TIMEOUT)', async () => {
    let stop = false;
    const server = await start({
      capa: CAPA,
      messages: messages(1),
      hook: async (line, ctx) => {
        if (line !== 'LIST') return false;
        await ctx.send('+OK\r\n');
        for (let n = 1; !stop && !ctx.socket.destroyed; n++) {
          await ctx.send(`${n} 100\r\n`);
          await sleep(20);
        }
        return true;
      },
    });
    const session = await connect(server, { timeoutMs: 100 });
    const started = performance.now();
    const err = await rejection(session.list(), 8000);
    stop = true;
    expect(err.code).toBe('POP3_TIMEOUT');
    expect(err.message).toMatch(/did not finish LIST within 2s/);
    expect(performance.now() - started).toBeGreaterThan(1500);
  });
});

describe('deleMany proves what it deletes', () => {
  it('deletes only numbers whose unique UIDL and size match; says why for the rest', async () => {
    const uidlReply = '+OK\r\n1 a\r\n2 b\r\n3 dup\r\n4 dup\r\n5 has space\r\n6 f\r\n.\r\n';
    const server = await start({
      capa: CAPA,
      messages: messages(7),
      hook: async (line, ctx) => {
        if (line !== 'UIDL') return false;
        await ctx.send(uidlReply);
        return true;
      },
    });
    const session = await connect(server);
    const listing = await session.listing();
    const size = (n: number) => listing.size(n)!;
    const expected = new Map([
      [1, { uidl: 'a', size: size(1) }],
      // New mail now sits at number 2: an earlier session saw another message there.
      [2, { uidl: 'old-b', size: size(2) }],
      [3, { uidl: 'dup', size: size(3) }],
      [5, { uidl: 'has space', size: size(5) }],
      [6, { uidl: 'f', size: size(6) + 1 }],
      [7, { uidl: 'g', size: size(7) }],
    ]);
    const result = await session.deleMany([1, 2, 3, 4, 5, 6, 7], { expected });
    expect(result.deleted).toEqual([1]);
    expect(Object.fromEntries(result.unverified.map((u) => [u.n, u.reason]))).toEqual({
      2: expect.stringMatching(/UIDL differs/),
      3: expect.stringMatching(/UIDL is duplicate/),
      4: 'nothing was expected at this number',
      5: expect.stringMatching(/UIDL is malformed/),
      6: expect.stringMatching(/size changed/),
      7: expect.stringMatching(/UIDL is missing/),
    });
    await session.quit();
    expect(server.committedDeletes).toEqual([1]);
    expect(server.log.filter((l) => l.startsWith('DELE'))).toEqual(['DELE 1']);
  });

  it('refuses everything without a listing in this session, or without UIDL', async () => {
    const server = await start({ capa: ['USER'], uidl: false, messages: messages(2) });
    const session = await connect(server);
    const expected = new Map([[1, { uidl: '1', size: 40 }]]);
    expect((await session.deleMany([1], { expected })).unverified[0]!.reason).toMatch(/not listed the mailbox/);
    await session.listing();
    expect((await session.deleMany([1], { expected })).unverified[0]!.reason).toMatch(/no UIDL/);
    expect(server.log.some((l) => l.startsWith('DELE'))).toBe(false);
  });
});
