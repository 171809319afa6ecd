/**
 * Memory a POP3 listing costs per message: builds the LIST and UIDL replies
 * of a mailbox of `--messages` messages (24-character UIDLs, about Gmail's
 * length), reads them as a session does (parseListReply, parseUidlLines,
 * Pop3Listing) and makes the engine's Listing of them as Pop3Source.list
 * does, then reports the process's peak RSS and what the two listings hold.
 * A measure, not a test (test/unit/listing-memory.test.ts bounds the bytes
 * held): RSS depends on the machine. Run it with poplift's own settings
 * (bin/poplift.js sets them for itself, see docs/performance.md):
 *
 *   npm run build && npx tsc -p test/bench/tsconfig.json && \
 *     MALLOC_MMAP_THRESHOLD_=262144 MALLOC_TRIM_THRESHOLD_=1048576 MALLOC_ARENA_MAX=2 \
 *     node --expose-gc --max-semi-space-size=1 .bench/test/bench/listing-memory.js [--messages 2000000]
 */
import { parseArgs } from 'node:util';
import { Pop3Listing, parseListReply, parseUidlLines } from '../../src/pop3/pop3-listing.js';
import { Listing } from '../../src/store/listing.js';

const { values } = parseArgs({ options: { messages: { type: 'string', default: '2000000' } } });
const count = Number(values.messages);
const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MB`;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** One reply body, in one buffer of its exact length as the transport hands it over. */
function reply(line: (n: number) => string): Buffer {
  let length = 0;
  for (let n = 1; n <= count; n++) length += line(n).length + 2;
  const out = Buffer.allocUnsafe(length);
  let used = 0;
  for (let n = 1; n <= count; n++) used += out.write(`${line(n)}\r\n`, used, 'latin1');
  return out;
}

gc();
const baseline = process.memoryUsage().rss;
// The replies come one after the other (LIST, then UIDL, pipelined), and each is let go once read.
let replies = 0;
const read = (body: Buffer) => {
  replies += body.length;
  return body;
};
const sizes = parseListReply(read(reply((n) => `${n} ${1000 + ((n * 7919) % 5_000_000)}`)));
const session = new Pop3Listing(
  sizes,
  parseUidlLines(read(reply((n) => `${n} GmailId${(0x18c0000000000 + n * 977).toString(16).padStart(17, '0')}`))),
);
// As Pop3Source.list makes it: sharing the session's columns.
const listing =
  Listing.sharing(session.numbers, session.sizeColumn, session.ids!, (p) => session.identifiableAt(p)) ??
  new Listing(
    session.numbers,
    (n) => session.size(n)!,
    (n) => session.uidl(n),
    true,
    (n) => session.identifiable(n),
  );
gc();
const held = process.memoryUsage().rss;
const peak = process.resourceUsage().maxRSS * 1024;
const perMessage = session.bytesHeld;
const engineHeld = listing.bytesHeld;
process.stdout.write(
  [
    `${count} messages, replies ${mb(replies)}: peak RSS ${mb(peak)} (${mb(baseline)} before the replies), ${mb(held)} with both listings held after GC`,
    `per message: ${((held - baseline) / count).toFixed(0)} bytes of RSS` +
      `; the session's listing holds ${(perMessage / count).toFixed(1)} bytes, the engine's ${(engineHeld / count).toFixed(1)} (the same columns, shared)`,
    `check: ${listing.order.length} listed, last ${listing.uidlOf(count)}`,
  ].join('\n') + '\n',
);
