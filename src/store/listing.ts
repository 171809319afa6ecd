/**
 * The source mailbox as one session sees it: each message's id (the POP3
 * UIDL), number and size. Kept in flat arrays rather than an object per message, since a
 * run holds it for the whole mailbox and mailboxes of 100,000 messages exist.
 */
export class Listing {
  /** UIDLs (or `#n` / the number when the server has none) in message-number order. */
  readonly order: readonly string[];
  readonly hasUidl: boolean;
  /** Message number at each position of `order`, ascending. */
  private readonly numbers: Float64Array;
  private readonly sizes: Float64Array;
  private readonly positions = new Map<string, number>();

  /**
   * @param numbers message numbers, ascending
   * @param uidlOf the UIDL of a message number (its number as text when the server has no UIDL)
   */
  constructor(numbers: ArrayLike<number>, sizeOf: (n: number) => number, uidlOf: (n: number) => string, hasUidl: boolean) {
    this.hasUidl = hasUidl;
    this.numbers = new Float64Array(numbers.length);
    this.sizes = new Float64Array(numbers.length);
    const order: string[] = [];
    for (let i = 0; i < numbers.length; i++) {
      const n = numbers[i]!;
      order.push(this.add(i, n, sizeOf(n), uidlOf(n)));
    }
    this.order = order;
  }

  /** From `entries` in ascending message-number order. */
  static fromEntries(entries: ReadonlyArray<{ uidl: string; n: number; size: number }>, hasUidl: boolean): Listing {
    const byNumber = new Map(entries.map((e) => [e.n, e] as const));
    return new Listing(
      entries.map((e) => e.n),
      (n) => byNumber.get(n)!.size,
      (n) => byNumber.get(n)!.uidl,
      hasUidl,
    );
  }

  private add(i: number, n: number, size: number, uidl: string): string {
    if (i > 0 && n <= this.numbers[i - 1]!) throw new RangeError('listing entries must be in ascending message-number order');
    // Two messages with one UIDL would break the journal; keep the first, the other goes by number
    // (made longer if that name is taken too: '#' is a valid UIDL character).
    let id = uidl;
    if (this.positions.has(id)) {
      id = `#${n}`;
      while (this.positions.has(id)) id += '#';
    }
    this.positions.set(id, i);
    this.numbers[i] = n;
    this.sizes[i] = size;
    return id;
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
