/**
 * What a listing holds per message, counted from its buffers rather than
 * measured as RSS: a mailbox of millions of messages is listed whole at the
 * start of every run (test/bench/listing-memory.ts measures the RSS).
 */
import { describe, expect, it } from 'vitest';
import { Pop3Listing, parseListReply, parseUidlLines } from '../../src/pop3/pop3-listing.js';
import { Listing } from '../../src/store/listing.js';

const COUNT = 100_000;
const uid = (n: number) => `GmailId${(0x18c0000000000 + n * 977).toString(16).padStart(17, '0')}`;

function reply(line: (n: number) => string): Buffer {
  const lines: string[] = [];
  for (let n = 1; n <= COUNT; n++) lines.push(`${line(n)}\r\n`);
  return Buffer.from(lines.join(''), 'latin1');
}

describe('memory a listing holds per message', () => {
  const session = new Pop3Listing(parseListReply(reply((n) => `${n} ${1000 + n}`)), parseUidlLines(reply((n) => `${n} ${uid(n)}`)));
  const idChars = uid(1).length;

  it("the session's listing: the UIDL's own octets and at most 24 bytes more a message", () => {
    expect(session.bytesHeld / COUNT).toBeLessThanOrEqual(idChars + 24);
    expect(session.uidl(COUNT)).toBe(uid(COUNT));
    expect(session.size(7)).toBe(1007);
    expect(session.identifiable(COUNT)).toBe(true);
  });

  it("the engine's listing shares the session's columns: 1 byte a message of its own", () => {
    const listing = Listing.sharing(session.numbers, session.sizeColumn, session.ids!, (p) => session.identifiableAt(p));
    expect(listing).toBeDefined();
    expect(listing!.bytesHeld - session.bytesHeld).toBeLessThanOrEqual(COUNT);
    expect(listing!.order.length).toBe(COUNT);
    expect(listing!.uidlOf(COUNT)).toBe(uid(COUNT));
    expect(listing!.size(uid(5))).toBe(1005);
    expect(listing!.number(uid(5))).toBe(5);
    expect(listing!.identified(uid(5))).toBe(true);
    expect(listing!.has('GmailId-not-listed')).toBe(false);
  });

  it('a listing built message by message (other sources, or ids to rename) holds as little', () => {
    const listing = new Listing(
      session.numbers,
      (n) => session.size(n)!,
      (n) => (n === 3 ? uid(2) : session.uidl(n)),
      true,
    );
    expect(listing.bytesHeld / COUNT).toBeLessThanOrEqual(idChars + 32);
    // The repeated id is renamed by number, and no id identifies its message any more.
    expect(listing.order.at(2)).toBe('#3');
    expect(listing.identified(uid(1))).toBe(false);
  });
});

describe('Listing.sharing', () => {
  it('declines columns where two ids are equal, and follows the rules of the constructor', () => {
    const twice = new Pop3Listing(parseListReply(Buffer.from('1 10\r\n2 20\r\n')), parseUidlLines(Buffer.from('1 a\r\n2 a\r\n')));
    expect(Listing.sharing(twice.numbers, twice.sizeColumn, twice.ids!, (p) => twice.identifiableAt(p))).toBeUndefined();
    const numeric = new Pop3Listing(parseListReply(Buffer.from('1 10\r\n2 20\r\n')), parseUidlLines(Buffer.from('1 1\r\n2 2\r\n')));
    const byNumber = Listing.sharing(numeric.numbers, numeric.sizeColumn, numeric.ids!, (p) => numeric.identifiableAt(p))!;
    expect([...byNumber.order]).toEqual(['1', '2']);
    // UIDLs that are just the message numbers name positions, not messages.
    expect(byNumber.identified('1')).toBe(false);
    const spaced = new Pop3Listing(parseListReply(Buffer.from('1 10\r\n2 20\r\n')), parseUidlLines(Buffer.from('1 a b\r\n2 c\r\n')));
    const one = Listing.sharing(spaced.numbers, spaced.sizeColumn, spaced.ids!, (p) => spaced.identifiableAt(p))!;
    expect([...one.order]).toEqual(['a b', 'c']);
    // One message without a well-formed UIDL: none is trusted.
    expect(one.identified('c')).toBe(false);
  });
});
