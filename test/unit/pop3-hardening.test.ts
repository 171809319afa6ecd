/**
 * The POP3 driver against servers that break RFC 1939 in ways seen in the
 * wild: broken UIDLs, oversized or endless messages, echoed secrets,
 * temporary login refusals, and the extensions (UTF8, PIPELINING) that
 * decide whether a message is served as stored and how fast it goes.
 */
import { afterEach, describe, expect, it } from 'vitest';
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
    expect(listing.numbers).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(listing.uidl(1)).toBe('x U1');
    expect(listing.uidl(2)).toBe('x U2');
    expect(Buffer.from(listing.uidl(3)!, 'latin1')).toEqual(Buffer.from([0x63, 0x61, 0x66, 0xe9]));
    expect(listing.numbers.map((n) => listing.problem(n) ?? 'ok')).toEqual([
      'malformed',
      'malformed',
      'malformed',
      'duplicate',
      'duplicate',
      'missing',
      'ok',
    ]);
    expect(listing.numbers.filter((n) => listing.identifiable(n))).toEqual([7]);
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
    expect(listing.numbers.map((n) => listing.problem(n))).toEqual(['no-uidl', 'no-uidl']);
  });
});
