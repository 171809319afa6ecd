/**
 * The source mailbox as one session sees it: each message's id (the POP3
 * UIDL), number and size. Kept in typed arrays and one buffer of ids rather
 * than a string and an object per message (IdTable), since a run holds it for
 * the whole mailbox and mailboxes of millions of messages exist.
 */
import { IdTable } from './id-table.js';

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

/**
 * The ids of a listing in message-number order, each made a string only
 * when asked for: an array of them all would cost a string per message.
 */
export class ListingIds implements Iterable<string> {
  private readonly ids: IdTable;

  constructor(ids: IdTable) {
    this.ids = ids;
  }

  get length(): number {
    return this.ids.length;
  }

  at(i: number): string | undefined {
    return i >= 0 && i < this.ids.length ? this.ids.at(i) : undefined;
  }

  *[Symbol.iterator](): IterableIterator<string> {
    for (let i = 0; i < this.ids.length; i++) yield this.ids.at(i);
  }

  filter(keep: (id: string, i: number) => boolean): string[] {
    const out: string[] = [];
    for (let i = 0; i < this.ids.length; i++) {
      const id = this.ids.at(i);
      if (keep(id, i)) out.push(id);
    }
    return out;
  }

  map<T>(each: (id: string, i: number) => T): T[] {
    const out = new Array<T>(this.ids.length);
    for (let i = 0; i < this.ids.length; i++) out[i] = each(this.ids.at(i), i);
    return out;
  }

  some(test: (id: string, i: number) => boolean): boolean {
    for (let i = 0; i < this.ids.length; i++) if (test(this.ids.at(i), i)) return true;
    return false;
  }

  every(test: (id: string, i: number) => boolean): boolean {
    return !this.some((id, i) => !test(id, i));
  }
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
  order: ListingIds;
  readonly hasUidl: boolean;
  /** Message number at each position of `order`, ascending. */
  private numbers: Float64Array | Uint32Array;
  private sizes: Float64Array | Uint32Array;
  private ids: IdTable;
  /** 1 at each position whose id is not the server's own unique, well-formed UIDL. */
  private unidentified: Uint8Array;

  /**
   * @param numbers message numbers, ascending
   * @param uidlOf the UIDL of a message number as the server sent it (undefined when its line is missing;
   *   its number as text when the server has no UIDL at all); latin1, one byte per character
   */
  constructor(
    numbers: ArrayLike<number>,
    sizeOf: (n: number) => number,
    uidlOf: (n: number) => string | undefined,
    hasUidl: boolean,
    /** The source's own verdict on whether n's id identifies it (it may know more, e.g. a number listed twice). */
    identifiable: (n: number) => boolean = () => true,
    /** The ids' total length in bytes, when known: the buffer is made that size at once. */
    idBytes?: number,
  ) {
    this.hasUidl = hasUidl;
    this.numbers = new Float64Array(numbers.length);
    this.sizes = new Float64Array(numbers.length);
    this.unidentified = new Uint8Array(numbers.length);
    this.ids = new IdTable(numbers.length, idBytes === undefined ? undefined : idBytes + 16);
    let allNumbers = true;
    for (let i = 0; i < numbers.length; i++) {
      const n = numbers[i]!;
      const id = this.add(i, n, sizeOf(n), uidlOf(n));
      if (allNumbers && id !== String(n)) allNumbers = false;
      if (!identifiable(n)) this.unidentified[i] = 1;
    }
    this.ids.trim();
    this.order = new ListingIds(this.ids);
    // UIDLs that are all just the message numbers move to other messages whenever one before them is
    // deleted, by poplift or by anyone between two sessions: they name positions, not messages.
    if (hasUidl && numbers.length > 0 && allNumbers) this.unidentified.fill(1);
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

  /**
   * A listing over columns the source holds already (POP3: the session's
   * LIST and UIDL, checked against each other), sharing them rather than
   * copying: numbers ascending, sizes and ids at the same positions, every
   * message with the server's own UIDL. Undefined when two ids are equal:
   * then ids must be renamed, which the constructor does.
   */
  static sharing(
    numbers: Float64Array | Uint32Array,
    sizes: Float64Array | Uint32Array,
    ids: IdTable,
    identifiable: (position: number) => boolean,
  ): Listing | undefined {
    if (ids.length !== numbers.length || sizes.length !== numbers.length) throw new RangeError('listing columns of different lengths');
    for (let i = 0; i < ids.length; i++) if (ids.firstEqual(i) !== i) return undefined;
    for (let i = 1; i < numbers.length; i++) {
      if (numbers[i]! <= numbers[i - 1]!) throw new RangeError('listing entries must be in ascending message-number order');
    }
    const listing = new Listing(
      [],
      () => 0,
      () => undefined,
      true,
    );
    listing.numbers = numbers;
    listing.sizes = sizes;
    listing.ids = ids;
    listing.order = new ListingIds(ids);
    const unidentified = new Uint8Array(numbers.length);
    let allNumbers = numbers.length > 0;
    for (let i = 0; i < numbers.length; i++) {
      if (!identifiable(i) || !ids.withinAt(i, 70, 0x21, 0x7e)) unidentified[i] = 1;
      if (allNumbers && !ids.isDecimalAt(i, numbers[i]!)) allNumbers = false;
    }
    // The constructor's two rules: ids that are all the message numbers, and one unidentified message.
    if (allNumbers || unidentified.includes(1)) unidentified.fill(1);
    listing.unidentified = unidentified;
    return listing;
  }

  /** Bytes the listing holds for its messages (typed arrays and the id table), for the bound per message. */
  get bytesHeld(): number {
    return this.numbers.byteLength + this.sizes.byteLength + this.unidentified.byteLength + this.ids.bytesHeld;
  }

  private add(i: number, n: number, size: number, uidl: string | undefined): string {
    if (i > 0 && n <= this.numbers[i - 1]!) throw new RangeError('listing entries must be in ascending message-number order');
    this.numbers[i] = n;
    this.sizes[i] = size;
    // Two messages with one UIDL would break the journal; keep the first, the other goes by number
    // (made longer if that name is taken too: '#' is a valid UIDL character). Neither is identified:
    // which of the two a later session's UIDL names cannot be known.
    let id = uidl ?? `#${n}`;
    const taken = this.ids.find(id);
    if (taken !== -1) {
      this.unidentified[taken] = 1;
      id = `#${n}`;
      while (this.ids.find(id) !== -1) id += '#';
    }
    if (!this.hasUidl || uidl === undefined || id !== uidl || !isWellFormedUidl(uidl)) this.unidentified[i] = 1;
    this.ids.add(id);
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
    const i = this.ids.find(uidl);
    return i !== -1 && this.unidentified[i] === 0;
  }

  /** Index of `uidl` in `order`, or undefined when it is not listed. */
  position(uidl: string): number | undefined {
    const i = this.ids.find(uidl);
    return i === -1 ? undefined : i;
  }

  has(uidl: string): boolean {
    return this.ids.find(uidl) !== -1;
  }

  /** Message number of `uidl` in this session, or undefined when it is not listed. */
  number(uidl: string): number | undefined {
    const i = this.ids.find(uidl);
    return i === -1 ? undefined : this.numbers[i];
  }

  /** LIST size of `uidl` in octets, or undefined when it is not listed. */
  size(uidl: string): number | undefined {
    const i = this.ids.find(uidl);
    return i === -1 ? undefined : this.sizes[i];
  }

  /** The UIDL of message number `n`, or undefined when no listed message has it. */
  uidlOf(n: number): string | undefined {
    let lo = 0;
    let hi = this.numbers.length - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      const at = this.numbers[mid]!;
      if (at === n) return this.ids.at(mid);
      if (at < n) lo = mid + 1;
      else hi = mid - 1;
    }
    return undefined;
  }
}
