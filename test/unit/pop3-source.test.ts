/**
 * The POP3 driver refuses a DELE its listing cannot justify, whatever the
 * caller asks: the engine filters the same way, and a second guard at the
 * protocol edge costs nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { Pop3Source } from '../../src/pop3/pop3-source.js';
import { startScriptedPop3, type ScriptedPop3 } from '../helpers/scripted-pop3.js';

const messages = [1, 2, 3].map((i) => Buffer.from(`Subject: ${i}\r\n\r\nbody ${i}\r\n`));
let server: ScriptedPop3 | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

async function deleteFirst(uidlOf: (n: number) => string | undefined): Promise<{ kept: string[]; deles: string[] }> {
  server = await startScriptedPop3({ messages, uidlOf, user: 'alice', password: 'secret' });
  const source = await Pop3Source.connect({
    host: server.host,
    port: server.port,
    tls: false,
    user: 'alice',
    password: 'secret',
    timeoutMs: 5_000,
  });
  try {
    const listing = await source.list();
    const uidl = listing.order.at(0)!;
    const result = await source.markDeleted([{ n: 1, uidl, size: listing.size(uidl)! }]);
    return { kept: result.kept.map((k) => k.reason), deles: server.log.filter((l) => l.startsWith('DELE')) };
  } finally {
    source.close();
  }
}

describe('Pop3Source.markDeleted', () => {
  it('sends DELE for a message with its own unique, well-formed UIDL', async () => {
    expect(await deleteFirst((n) => `uid-${n}`)).toEqual({ kept: [], deles: ['DELE 1'] });
  });

  it.each([
    ['every UIDL is the message number', (n: number) => String(n)],
    ['another message lacks its UIDL line', (n: number) => (n === 3 ? undefined : `uid-${n}`)],
    ['another message has a malformed UIDL', (n: number) => (n === 2 ? 'x y' : `uid-${n}`)],
  ])('sends no DELE when %s', async (_, uidlOf) => {
    const { kept, deles } = await deleteFirst(uidlOf);
    expect(deles).toEqual([]);
    expect(kept).toEqual(['this session does not give every message a unique, well-formed UIDL of its own']);
  });
});
