/**
 * The POP3 mailbox as one session sees it: each message's UIDL, number and
 * LIST size. Kept in flat arrays rather than an object per message, since a
 * run holds it for the whole mailbox and mailboxes of 100,000 messages exist.
 */
import type { Pop3Session } from '../source/pop3-session.js';

export class Listing {
  /** UIDLs (or `#n` / the number when the server has none) in message-number order. */
  readonly order: readonly string[];
  readonly hasUidl: boolean;
  /** Message number at each position of `order`, ascending. */
  private readonly numbers: Float64Array;
  private readonly sizes: Float64Array;
  private readonly positions = new Map<string, number>();

  /** `entries` in ascending message-number order. */
  constructor(entries: ReadonlyArray<{ uidl: string; n: number; size: number }>, hasUidl: boolean) {
    this.hasUidl = hasUidl;
    this.numbers = new Float64Array(entries.length);
    this.sizes = new Float64Array(entries.length);
    const order: string[] = [];
    entries.forEach((e, i) => {
      if (i > 0 && e.n <= this.numbers[i - 1]!) throw new RangeError('listing entries must be in ascending message-number order');
      // Two messages with one UIDL would break the journal; keep the first, the other goes by number.
      const id = this.positions.has(e.uidl) ? `#${e.n}` : e.uidl;
      this.positions.set(id, i);
      this.numbers[i] = e.n;
      this.sizes[i] = e.size;
      order.push(id);
    });
    this.order = order;
  }

  /** Index of `uidl` in `order`, or undefined when it is not listed. */
  position(uidl: string): number | undefined {
    return this.positions.get(uidl);
  }

  has(uidl: string): boolean {
    return this.positions.has(uidl);
  }

  /** Message number of `uidl` in this session, or undefined when it is not listed. */
  number(uidl: string): number | undefined {
    const i = this.positions.get(uidl);
    return i === undefined ? undefined : this.numbers[i];
  }

  /** LIST size of `uidl` in octets, or undefined when it is not listed. */
  size(uidl: string): number | undefined {
    const i = this.positions.get(uidl);
    return i === undefined ? undefined : this.sizes[i];
  }

  /** The UIDL of message number `n`, or undefined when no listed message has it. */
  uidlOf(n: number): string | undefined {
    let lo = 0;
    let hi = this.numbers.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.numbers[mid]!;
      if (at === n) return this.order[mid];
      if (at < n) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}

export async function listSource(source: Pop3Session): Promise<Listing> {
  // Both commands go out together on a PIPELINING server: one round trip instead of two.
  const [sizes, uidls] = await Promise.all([source.list(), source.uidl()]);
  const numbers = [...sizes.keys()].sort((a, b) => a - b);
  return new Listing(
    numbers.map((n) => ({ n, size: sizes.get(n)!, uidl: uidls?.get(n) ?? String(n) })),
    uidls !== undefined,
  );
}
