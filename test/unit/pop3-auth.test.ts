import { afterEach, describe, expect, it } from 'vitest';
import { ExitCode, PopliftError } from '../../src/errors.js';
import {
  apopDigest,
  apopTimestamp,
  oauthBearerResponse,
  oauthErrorStatus,
  plainResponse,
  xoauth2Response,
} from '../../src/pop3/pop3-auth.js';
import { Pop3Session, type Pop3ConnectOptions } from '../../src/pop3/pop3-session.js';
import { randomPieces, sasl, startScriptedPop3, type ScriptedPop3, type ScriptedPop3Options } from '../helpers/scripted-pop3.js';

const BASE_CAPA = ['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE', 'USER'];
const capaWith = (saslLine?: string): string[] => (saslLine === undefined ? BASE_CAPA : [...BASE_CAPA, saslLine]);

const TIMESTAMP = '<1896.697170952@dbc.mtview.ca.us>';
const APOP_GREETING = `+OK POP3 server ready ${TIMESTAMP}`;
const PASSWORD = 'Tr0ub4dor&3';
/** A realistic access token: with its payload the AUTH line exceeds 255 octets. */
const LONG_TOKEN = `ya29.${'a0AfB_byC-Xq9'.repeat(20)}`;
const SHORT_TOKEN = 'ya29.short-token';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

const servers: ScriptedPop3[] = [];
const sessions: Pop3Session[] = [];

afterEach(async () => {
  for (const session of sessions.splice(0)) session.close();
  for (const server of servers.splice(0)) await server.close();
});

async function start(options: ScriptedPop3Options): Promise<ScriptedPop3> {
  const server = await startScriptedPop3({ password: PASSWORD, ...options });
  servers.push(server);
  return server;
}

function optionsFor(server: { port: number }, extra: Partial<Pop3ConnectOptions> = {}): Pop3ConnectOptions {
  return { host: '127.0.0.1', port: server.port, tls: false, user: 'alice', password: PASSWORD, timeoutMs: 5000, ...extra };
}

async function connect(server: { port: number }, extra: Partial<Pop3ConnectOptions> = {}): Promise<Pop3Session> {
  const session = await Pop3Session.connect(optionsFor(server, extra));
  sessions.push(session);
  return session;
}

async function rejection(promise: Promise<unknown>): Promise<PopliftError> {
  const outcome = await promise.then(
    (value) => ({ resolved: value }),
    (err: unknown) => ({ rejected: err }),
  );
  if ('resolved' in outcome) {
    if (outcome.resolved instanceof Pop3Session) sessions.push(outcome.resolved);
    throw new Error('resolved, but a rejection was expected');
  }
  expect(outcome.rejected).toBeInstanceOf(PopliftError);
  const err = outcome.rejected as PopliftError;
  expect(err.side).toBe('POP3');
  expect(err.message).not.toMatch(/[\r\n]/);
  return err;
}

/** Login commands only: CAPA and what comes after login are left out. */
const loginLines = (server: ScriptedPop3): string[] => server.log.filter((l) => l !== 'CAPA' && l !== 'QUIT');
const usedUserPass = (server: ScriptedPop3): boolean => server.log.some((l) => /^(USER|PASS) /.test(l));

describe('building blocks', () => {
  it('APOP digest matches the example of RFC 1939 §7', () => {
    expect(apopDigest('<1896.697170952@dbc.mtview.ca.us>', 'tanstaaf')).toBe('c4c9334bac560ecc979e58001b3e22fb');
  });

  it('finds the APOP timestamp only when the greeting has an RFC 822 msg-id', () => {
    expect(apopTimestamp(`POP3 server ready ${TIMESTAMP}`)).toBe(TIMESTAMP);
    expect(apopTimestamp('Dovecot ready.')).toBeUndefined();
    expect(apopTimestamp('ready <no at sign>')).toBeUndefined();
    expect(apopTimestamp(undefined)).toBeUndefined();
  });

  it('SASL payloads have the RFC 4616, XOAUTH2 and RFC 7628 shapes', () => {
    expect(Buffer.from(plainResponse('alice', 'pw'), 'base64').toString()).toBe('\0alice\0pw');
    expect(Buffer.from(xoauth2Response('alice@example.com', 'tok'), 'base64').toString()).toBe(
      'user=alice@example.com\x01auth=Bearer tok\x01\x01',
    );
    expect(Buffer.from(oauthBearerResponse('a,b=c@example.com', 'tok'), 'base64').toString()).toBe(
      'n,a=a=2Cb=3Dc@example.com,\x01auth=Bearer tok\x01\x01',
    );
  });

  it('reads the status of an OAuth error challenge, and nothing from garbage', () => {
    expect(oauthErrorStatus(b64('{"status":"401","schemes":"Bearer"}'))).toBe('401');
    expect(oauthErrorStatus(b64('{"status":"invalid_token"}'))).toBe('invalid_token');
    expect(oauthErrorStatus(b64('not json'))).toBeUndefined();
    expect(oauthErrorStatus('')).toBeUndefined();
  });
});

describe('password logins', () => {
  it('AUTH PLAIN with the initial response on the AUTH line when CAPA lists SASL PLAIN', async () => {
    const server = await start({ capa: capaWith('SASL PLAIN LOGIN XOAUTH2') });
    const trace: string[] = [];
    const session = await connect(server, { debug: (line) => trace.push(line) });
    expect(session.capabilities.has('PIPELINING')).toBe(true);
    expect(loginLines(server)).toEqual([`AUTH PLAIN ${sasl.plain('alice', PASSWORD)}`]);
    expect(trace).toContain('C: AUTH PLAIN ****');
    expect(trace).toContain('S: +OK Logged in.');
  });

  it('AUTH PLAIN through the "+ " continuation when the AUTH line would exceed 255 octets', async () => {
    const longPassword = `${'correct horse battery staple '.repeat(8)}!`;
    // Challenges and the final reply arrive in 1-3 byte pieces.
    const server = await start({ capa: capaWith('SASL PLAIN'), password: longPassword, pieces: randomPieces(7, 3) });
    const trace: string[] = [];
    await connect(server, { password: longPassword, debug: (line) => trace.push(line) });
    expect(loginLines(server)).toEqual(['AUTH PLAIN', sasl.plain('alice', longPassword)]);
    expect(trace).toEqual(expect.arrayContaining(['C: AUTH PLAIN', 'S: +', 'C: **** (AUTH PLAIN response)', 'S: +OK Logged in.']));
    expect(trace.join('\n')).not.toContain(sasl.plain('alice', longPassword));
  });

  it('USER/PASS when CAPA lists no SASL mechanism, or CAPA is not answered', async () => {
    for (const capa of [capaWith(), null]) {
      const server = await start({ capa });
      const trace: string[] = [];
      await connect(server, { debug: (line) => trace.push(line) });
      expect(loginLines(server)).toEqual(['USER alice', `PASS ${PASSWORD}`]);
      expect(trace).toContain('C: PASS ****');
    }
  });

  it("auth 'user' uses USER/PASS even when SASL PLAIN is offered", async () => {
    const server = await start({ capa: capaWith('SASL PLAIN') });
    await connect(server, { auth: 'user' });
    expect(loginLines(server)).toEqual(['USER alice', `PASS ${PASSWORD}`]);
  });

  it('AUTH PLAIN refused: AUTH with the server words, and no USER/PASS attempt', async () => {
    const server = await start({ capa: capaWith('SASL PLAIN') });
    const err = await rejection(Pop3Session.connect(optionsFor(server, { password: 'wrong-Pa55' })));
    expect(err.exitCode).toBe(ExitCode.AUTH);
    expect(err.code).toBe('POP3_AUTH');
    expect(err.server).toBe(`127.0.0.1:${server.port}`);
    expect(err.message).toBe(
      `POP3 server 127.0.0.1:${server.port} refused the login of "alice" with AUTH PLAIN ("[AUTH] Authentication failed."): check the POP3 user name and password.`,
    );
    await sleep(20);
    expect(usedUserPass(server)).toBe(false);
    expect(loginLines(server)).toHaveLength(1);
  });

  for (const [words, code] of [
    ['[SYS/TEMP] Authentication service unavailable', 'POP3_UNAVAILABLE'],
    ['[IN-USE] Mailbox is locked', 'POP3_IN_USE'],
  ] as const) {
    it(`AUTH PLAIN answered ${words.split(']')[0]}]: ${code}, exit CONNECT (try again later), as for USER/PASS`, async () => {
      const server = await start({
        capa: capaWith('SASL PLAIN'),
        hook: async (line, ctx) => {
          if (!line.startsWith('AUTH ')) return false;
          await ctx.send(`-ERR ${words}\r\n`);
          return true;
        },
      });
      const err = await rejection(Pop3Session.connect(optionsFor(server)));
      expect(err.exitCode).toBe(ExitCode.CONNECT);
      expect(err.code).toBe(code);
      expect(err.message).toContain(words);
    });
  }

  for (const [command, words, code, exit] of [
    ['PASS', 'message is damaged', 'POP3_MAILDROP', ExitCode.PARTIAL],
    ['PASS', '[SYS/PERM] Unable to open the maildrop', 'POP3_MAILDROP', ExitCode.PARTIAL],
    ['PASS', 'authentication failed', 'POP3_AUTH', ExitCode.AUTH],
    ['AUTH', 'message is damaged', 'POP3_MAILDROP', ExitCode.PARTIAL],
    ['AUTH', '[AUTH] Invalid login', 'POP3_AUTH', ExitCode.AUTH],
  ] as const) {
    it(`${command} answered "${words}": ${code}, exit ${exit}, the server quoted`, async () => {
      const server = await start({
        capa: command === 'AUTH' ? capaWith('SASL PLAIN') : capaWith(),
        hook: async (line, ctx) => {
          if (!line.startsWith(`${command} `)) return false;
          await ctx.send(`-ERR ${words}\r\n`);
          return true;
        },
      });
      const err = await rejection(Pop3Session.connect(optionsFor(server)));
      expect(err.code).toBe(code);
      expect(err.exitCode).toBe(exit);
      expect(err.message).toContain(`"${words}"`);
      if (code === 'POP3_MAILDROP') expect(err.message).not.toMatch(/password|user name/i);
      else expect(err.message).toMatch(/check the POP3 user name and password\.$/);
    });
  }

  it("auth 'plain' against a server whose SASL list lacks PLAIN: USAGE, nothing sent", async () => {
    const server = await start({ capa: capaWith('SASL XOAUTH2') });
    const err = await rejection(Pop3Session.connect(optionsFor(server, { auth: 'plain' })));
    expect(err.exitCode).toBe(ExitCode.USAGE);
    expect(err.code).toBe('POP3_AUTH_UNSUPPORTED');
    expect(err.message).toContain('does not offer SASL PLAIN (it lists SASL XOAUTH2)');
    expect(loginLines(server)).toEqual([]);
  });

  it('a server that keeps challenging AUTH PLAIN is cancelled with "*" and the login reported refused', async () => {
    const server = await start({
      capa: capaWith('SASL PLAIN'),
      hook: async (line, ctx) => {
        if (line === '*') await ctx.send('-ERR [AUTH] Authentication cancelled.\r\n');
        else if (line.startsWith('AUTH ')) await ctx.send('+ bW9yZQ==\r\n');
        else return false;
        return true;
      },
    });
    const err = await rejection(Pop3Session.connect(optionsFor(server)));
    expect(err.exitCode).toBe(ExitCode.AUTH);
    expect(err.message).toContain('Authentication cancelled.');
    expect(loginLines(server)).toEqual([`AUTH PLAIN ${sasl.plain('alice', PASSWORD)}`, '*']);
  });

  it('a server that answers every line with a challenge is dropped after a few rounds, not looped on', async () => {
    const server = await start({
      capa: capaWith('SASL PLAIN'),
      hook: async (line, ctx) => {
        if (line === 'CAPA') return false;
        await ctx.send('+ bW9yZQ==\r\n');
        return true;
      },
    });
    const err = await rejection(Pop3Session.connect(optionsFor(server)));
    expect(err.code).toBe('POP3_PROTOCOL');
    expect(err.message).toContain('kept sending SASL challenges');
    expect(loginLines(server)).toEqual([`AUTH PLAIN ${sasl.plain('alice', PASSWORD)}`, '*', '*', '*', '*']);
  });
});

describe('APOP', () => {
  it("auth 'apop' sends MD5(timestamp + password) and logs in", async () => {
    const server = await start({ greeting: APOP_GREETING, capa: capaWith('SASL PLAIN') });
    const trace: string[] = [];
    await connect(server, { auth: 'apop', debug: (line) => trace.push(line) });
    const digest = apopDigest(TIMESTAMP, PASSWORD);
    expect(digest).toMatch(/^[0-9a-f]{32}$/);
    expect(digest).toBe(sasl.apop(TIMESTAMP, PASSWORD));
    expect(loginLines(server)).toEqual([`APOP alice ${digest}`]);
    expect(trace).toContain('C: APOP alice ****');
    expect(trace.join('\n')).not.toContain(digest);
  });

  it('APOP refused: AUTH', async () => {
    const server = await start({ greeting: APOP_GREETING, capa: capaWith() });
    const err = await rejection(Pop3Session.connect(optionsFor(server, { auth: 'apop', password: 'wrong-Pa55' })));
    expect(err.exitCode).toBe(ExitCode.AUTH);
    expect(err.code).toBe('POP3_AUTH');
    expect(err.message).toContain('with APOP ("[AUTH] Authentication failed.")');
    expect(err.message).not.toContain(apopDigest(TIMESTAMP, 'wrong-Pa55'));
  });

  it('APOP with a greeting that has no <timestamp>: USAGE naming the greeting, no login attempted', async () => {
    const server = await start({ greeting: '+OK Dovecot ready.', capa: capaWith('SASL PLAIN') });
    const err = await rejection(Pop3Session.connect(optionsFor(server, { auth: 'apop' })));
    expect(err.exitCode).toBe(ExitCode.USAGE);
    expect(err.code).toBe('POP3_AUTH_UNSUPPORTED');
    expect(err.message).toContain('does not offer APOP: its greeting ("Dovecot ready.") has no <timestamp>');
    await sleep(20);
    expect(loginLines(server)).toEqual([]);
  });
});

describe('OAuth2 access tokens', () => {
  for (const [name, token] of [
    ['short (initial response on the AUTH line)', SHORT_TOKEN],
    ['long (initial response after the empty challenge)', LONG_TOKEN],
  ] as const) {
    it(`AUTH XOAUTH2 with a ${name} token`, async () => {
      const server = await start({ capa: capaWith('SASL PLAIN XOAUTH2'), accessToken: token });
      const trace: string[] = [];
      await connect(server, { password: undefined, accessToken: token, debug: (line) => trace.push(line) });
      const payload = sasl.xoauth2('alice', token);
      expect(loginLines(server)).toEqual(token === SHORT_TOKEN ? [`AUTH XOAUTH2 ${payload}`] : ['AUTH XOAUTH2', payload]);
      expect(trace).toContain(token === SHORT_TOKEN ? 'C: AUTH XOAUTH2 ****' : 'C: **** (AUTH XOAUTH2 response)');
      expect(trace.join('\n')).not.toContain(token);
    });
  }

  it('AUTH OAUTHBEARER, preferred when both are listed, with a user name needing RFC 5801 escapes', async () => {
    const user = 'alice,ops=1@example.com';
    const server = await start({ capa: capaWith('SASL PLAIN XOAUTH2 OAUTHBEARER'), user, accessToken: SHORT_TOKEN });
    await connect(server, { user, password: 'ignored-when-a-token-is-given', accessToken: SHORT_TOKEN });
    expect(loginLines(server)).toEqual([`AUTH OAUTHBEARER ${sasl.oauthBearer(user, SHORT_TOKEN)}`]);
  });

  it('XOAUTH2 token refused with a JSON challenge: empty answer, then POP3_AUTH_TOKEN naming the status', async () => {
    const server = await start({ capa: capaWith('SASL XOAUTH2'), accessToken: 'the-right-one' });
    const trace: string[] = [];
    const err = await rejection(Pop3Session.connect(optionsFor(server, { accessToken: SHORT_TOKEN, debug: (line) => trace.push(line) })));
    expect(err.exitCode).toBe(ExitCode.AUTH);
    expect(err.code).toBe('POP3_AUTH_TOKEN');
    expect(err.code.startsWith('POP3_AUTH')).toBe(true);
    expect(err.message).toBe(
      `POP3 server 127.0.0.1:${server.port} refused the OAuth2 access token of "alice" (AUTH XOAUTH2, status "401": "[AUTH] Invalid credentials."): ` +
        'get a fresh access token, and check that it was issued for this account with mail (POP) access.',
    );
    expect(loginLines(server)).toEqual([`AUTH XOAUTH2 ${sasl.xoauth2('alice', SHORT_TOKEN)}`, '']);
    expect(trace.some((l) => l.startsWith('S: + ey'))).toBe(true);
    expect(trace.join('\n')).not.toContain(SHORT_TOKEN);
    await sleep(20);
    expect(usedUserPass(server)).toBe(false);
  });

  it('OAUTHBEARER token refused: answers the error challenge with %x01 (RFC 7628 §3.2.3)', async () => {
    const server = await start({
      capa: capaWith('SASL OAUTHBEARER'),
      accessToken: 'the-right-one',
      oauthError: { status: 'invalid_token', scope: 'mail', 'openid-configuration': 'https://example.com/.well-known' },
    });
    const err = await rejection(Pop3Session.connect(optionsFor(server, { accessToken: LONG_TOKEN })));
    expect(err.code).toBe('POP3_AUTH_TOKEN');
    expect(err.exitCode).toBe(ExitCode.AUTH);
    expect(err.message).toContain('(AUTH OAUTHBEARER, status "invalid_token": "[AUTH] Invalid credentials.")');
    expect(loginLines(server)).toEqual(['AUTH OAUTHBEARER', sasl.oauthBearer('alice', LONG_TOKEN), b64('\x01')]);
  });

  it('a token refused with a plain -ERR is still a token refusal', async () => {
    const server = await start({
      capa: capaWith('SASL XOAUTH2'),
      hook: async (line, ctx) => {
        if (!line.startsWith('AUTH ')) return false;
        await ctx.send('-ERR [AUTH] Token expired\r\n');
        return true;
      },
    });
    const err = await rejection(Pop3Session.connect(optionsFor(server, { accessToken: SHORT_TOKEN })));
    expect(err.code).toBe('POP3_AUTH_TOKEN');
    expect(err.message).toContain('(AUTH XOAUTH2: "[AUTH] Token expired")');
  });

  it('a server that lists no OAuth mechanism: USAGE, the token is not sent', async () => {
    const server = await start({ capa: capaWith('SASL PLAIN LOGIN') });
    const err = await rejection(Pop3Session.connect(optionsFor(server, { accessToken: SHORT_TOKEN })));
    expect(err.exitCode).toBe(ExitCode.USAGE);
    expect(err.code).toBe('POP3_AUTH_UNSUPPORTED');
    expect(err.message).toContain('does not take OAuth2 access tokens (no SASL OAUTHBEARER or XOAUTH2: it lists SASL PLAIN LOGIN)');
    expect(loginLines(server)).toEqual([]);
  });

  it('refuses to send a token in plain text when that is not allowed', async () => {
    const server = await start({ capa: capaWith('SASL XOAUTH2') });
    const err = await rejection(
      Pop3Session.connect(optionsFor(server, { tls: 'starttls', allowPlaintext: false, accessToken: SHORT_TOKEN })),
    );
    expect(err.code).toBe('POP3_TLS');
    expect(err.message).toContain('so the access token would travel unencrypted');
    expect(loginLines(server)).toEqual([]);
  });
});

describe('options', () => {
  for (const [name, extra, words] of [
    ['a token with another login method', { accessToken: SHORT_TOKEN, auth: 'apop' }, /cannot be combined/],
    ['neither password nor token', { password: undefined }, /No POP3 password/],
    ['an empty token', { accessToken: '' }, /access token is empty/],
    ['a token with a space', { accessToken: 'abc def' }, /cannot contain/],
    ['an unknown method', { auth: 'cram-md5' as Pop3ConnectOptions['auth'] }, /"cram-md5" is not one of auto, plain, user, apop/],
  ] as const) {
    it(`${name}: USAGE before connecting`, async () => {
      const err = await rejection(Pop3Session.connect(optionsFor({ port: 1 }, extra)));
      expect(err.exitCode).toBe(ExitCode.USAGE);
      expect(err.message).toMatch(words);
      expect(err.message).not.toContain('abc def');
    });
  }
});

describe('secrets never reach the trace or an error message', () => {
  it('covers every method, even when the server echoes what it was sent', async () => {
    const token = LONG_TOKEN;
    const digest = apopDigest(TIMESTAMP, PASSWORD);
    const secrets = [
      PASSWORD,
      b64(PASSWORD),
      sasl.plain('alice', PASSWORD),
      digest,
      token,
      b64(token),
      sasl.xoauth2('alice', token),
      sasl.oauthBearer('alice', token),
    ];
    /** A server that quotes each login line back in its -ERR. */
    const echo: ScriptedPop3Options['hook'] = async (line, ctx) => {
      if (line === 'CAPA' || line === 'QUIT') return false;
      if (/^(USER) /.test(line)) return false;
      if (line === 'AUTH XOAUTH2' || line === 'AUTH OAUTHBEARER') return false;
      await ctx.send(`-ERR [AUTH] Rejected: ${line}\r\n`);
      return true;
    };
    const trace: string[] = [];
    const errors: PopliftError[] = [];
    const attempts: [ScriptedPop3Options, Partial<Pop3ConnectOptions>][] = [
      [{ capa: capaWith('SASL PLAIN') }, {}],
      [{ capa: capaWith() }, {}],
      [{ capa: capaWith(), greeting: APOP_GREETING }, { auth: 'apop' }],
      [{ capa: capaWith('SASL XOAUTH2') }, { accessToken: token }],
      [{ capa: capaWith('SASL OAUTHBEARER') }, { accessToken: token }],
    ];
    for (const [serverOptions, extra] of attempts) {
      const server = await start({ ...serverOptions, hook: echo });
      errors.push(await rejection(Pop3Session.connect(optionsFor(server, { ...extra, debug: (line) => trace.push(line) }))));
      // The server did receive the secrets: the test is meaningful.
      expect(server.log.some((l) => secrets.some((s) => l.includes(s)))).toBe(true);
    }
    // And the successful logins, with their own trace lines.
    const ok: [ScriptedPop3Options, Partial<Pop3ConnectOptions>][] = [
      [{ capa: capaWith('SASL PLAIN') }, {}],
      [{ capa: capaWith() }, {}],
      [{ capa: capaWith(), greeting: APOP_GREETING }, { auth: 'apop' }],
      [{ capa: capaWith('SASL XOAUTH2'), accessToken: token }, { accessToken: token }],
      [{ capa: capaWith('SASL OAUTHBEARER'), accessToken: token }, { accessToken: token }],
    ];
    for (const [serverOptions, extra] of ok) {
      const server = await start(serverOptions);
      await connect(server, { ...extra, debug: (line) => trace.push(line) });
    }

    const shown = [...trace, ...errors.map((e) => e.message)].join('\n');
    expect(trace).toEqual(
      expect.arrayContaining([
        'C: AUTH PLAIN ****',
        'C: PASS ****',
        'C: APOP alice ****',
        'C: **** (AUTH XOAUTH2 response)',
        'C: **** (AUTH OAUTHBEARER response)',
      ]),
    );
    expect(errors.every((e) => e.exitCode === ExitCode.AUTH)).toBe(true);
    expect(shown).toContain('Rejected: ****');
    for (const secret of secrets) expect(shown).not.toContain(secret);
  });
});
