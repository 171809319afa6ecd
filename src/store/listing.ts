/**
 * The source mailbox as one session sees it: each message's id (the POP3
 * UIDL), number and size. Kept in flat arrays rather than an object per message, since a
 * run holds it for the whole mailbox and mailboxes of 100,000 messages exist.
 */
/** RFC 1939 7: a unique-id is 1 to 70 characters in the range 0x21 to 0x7E. */
export function isWellFormedUidl(uid: string): boolean {
  return /^[\x21-\x7e]{1,70}$/.test(uid);
}

/**
 * A source that lists a bounded window of its mailbox (WildDuck's POP3: the
 * newest N messages): what this session lists may not be all there is, and
 * what it leaves out may not be reachable over this protocol at all.
 */
export interface ListingWindow {
  /** The product, as recognised from its greeting or CAPA. */
  server: string;
  /** The most messages the server lists by its documented default. */
  limit: number;
  /** How the older messages can be reached, for the summary. */
  advice: string;
}

export class Listing {
  /** Set when the source lists at most a bounded window of its mailbox (ListingWindow). */
  window: ListingWindow | undefined = undefined;
  /**
   * Why the source is known to list only part of the mailbox per session,
   * the next session listing more once this one ended (Gmail's POP3), e.g.
   * 'Gmail (greeting)'; undefined when nothing known says so.
   */
  movingWindow: string | undefined = undefined;

  /** UIDLs (or `#n` / the number when the server has none) in message-number order. */
  readonly order: readonly string[];
  readonly hasUidl: boolean;
  /** Message number at each position of `order`, ascending. */
  private readonly numbers: Float64Array;
  private readonly sizes: Float64Array;
  private readonly positions = new Map<string, number>();
  /** 1 at each position whose id is not the server's own unique, well-formed UIDL. */
  private readonly unidentified: Uint8Array;

  /**
   * @param numbers message numbers, ascending
   * @param uidlOf the UIDL of a message number as the server sent it (undefined when its line is missing;
   *   its number as text when the server has no UIDL at all)
   */
  constructor(
    numbers: ArrayLike<number>,
    sizeOf: (n: number) => number,
    uidlOf: (n: number) => string | undefined,
    hasUidl: boolean,
    /** The source's own verdict on whether n's id identifies it (it may know more, e.g. a number listed twice). */
    identifiable: (n: number) => boolean = () => true,
  ) {
    this.hasUidl = hasUidl;
    this.numbers = new Float64Array(numbers.length);
    this.sizes = new Float64Array(numbers.length);
    this.unidentified = new Uint8Array(numbers.length);
    const order: string[] = [];
    for (let i = 0; i < numbers.length; i++) {
      const n = numbers[i]!;
      order.push(this.add(i, n, sizeOf(n), uidlOf(n)));
      if (!identifiable(n)) this.unidentified[i] = 1;
    }
    this.order = order;
    // UIDLs that are all just the message numbers move to other messages whenever one before them is
    // deleted, by poplift or by anyone between two sessions: they name positions, not messages.
    if (hasUidl && order.length > 0 && order.every((id, i) => id === String(numbers[i]))) this.unidentified.fill(1);
    // A server that lists one message without a unique, well-formed UIDL may give another message's
    // UIDL to any of them (a repeat whose original line is missing looks unique): in such a session
    // no UIDL is trusted to name the message it named before.
    if (this.unidentified.includes(1)) this.unidentified.fill(1);
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

  private add(i: number, n: number, size: number, uidl: string | undefined): string {
    if (i > 0 && n <= this.numbers[i - 1]!) throw new RangeError('listing entries must be in ascending message-number order');
    this.numbers[i] = n;
    this.sizes[i] = size;
    // Two messages with one UIDL would break the journal; keep the first, the other goes by number
    // (made longer if that name is taken too: '#' is a valid UIDL character). Neither is identified:
    // which of the two a later session's UIDL names cannot be known.
    let id = uidl ?? `#${n}`;
    const taken = this.positions.get(id);
    if (taken !== undefined) {
      this.unidentified[taken] = 1;
      id = `#${n}`;
      while (this.positions.has(id)) id += '#';
    }
    if (!this.hasUidl || uidl === undefined || id !== uidl || !isWellFormedUidl(uidl)) this.unidentified[i] = 1;
    this.positions.set(id, i);
    return id;
  }

  /**
   * Whether `uidl` is the server's own UIDL for exactly one message, well
   * formed (RFC 1939: 1 to 70 characters 0x21 to 0x7E), in a listing where
   * every message has such a UIDL and they are not all just the message
   * numbers. Only such a message
   * can be recognised again in another session, so only such a message may
   * be deleted or skipped on the journal's word.
   */
  identified(uidl: string): boolean {
    const i = this.positions.get(uidl);
    return i !== undefined && this.unidentified[i] === 0;
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
