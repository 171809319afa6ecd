/**
 * Message ids (POP3 UIDLs) of a whole mailbox in one buffer, found by an
 * open-addressing hash index: a few bytes per id beyond its characters,
 * where a string, an array slot and a Map entry per message cost about 300
 * bytes (a 2,000,000-message listing held 640 MB). Ids are latin1, one byte
 * per character, as POP3 sends them.
 */

const EMPTY = -1;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export class IdTable {
  private bytes: Buffer;
  private used = 0;
  /** Id i is bytes[starts[i], starts[i + 1]). */
  private starts: Uint32Array;
  private count = 0;
  /** EMPTY or an id's index; a power of two at least twice the ids' count. */
  private slots: Int32Array;

  /** @param expected how many ids will be added (the table grows past it), @param bytesHint their total length */
  constructor(expected: number, bytesHint = expected * 16) {
    this.bytes = Buffer.allocUnsafe(Math.max(16, bytesHint));
    this.starts = new Uint32Array(Math.max(1, expected) + 1);
    this.slots = new Int32Array(slotCount(expected)).fill(EMPTY);
  }

  get length(): number {
    return this.count;
  }

  /** The id at index i (0-based, in the order added). */
  at(i: number): string {
    return this.bytes.toString('latin1', this.starts[i], this.starts[i + 1]);
  }

  /** The ids' total length in octets. */
  get byteLength(): number {
    return this.used;
  }

  /** Whether id i is 1 to `maxLength` octets, each within lo..hi (RFC 1939's UIDL: 1 to 70 of 0x21–0x7E). */
  withinAt(i: number, maxLength: number, lo: number, hi: number): boolean {
    const start = this.starts[i]!;
    const end = this.starts[i + 1]!;
    if (end === start || end - start > maxLength) return false;
    for (let b = start; b < end; b++) if (this.bytes[b]! < lo || this.bytes[b]! > hi) return false;
    return true;
  }

  /** Whether id i is `n` written in decimal digits (a UIDL that is just the message number). */
  isDecimalAt(i: number, n: number): boolean {
    const start = this.starts[i]!;
    let end = this.starts[i + 1]!;
    if (end === start) return false;
    let rest = n;
    while (end > start) {
      const digit = this.bytes[--end]! - 0x30;
      if (digit !== rest % 10) return false;
      rest = Math.floor(rest / 10);
    }
    return rest === 0 && !(this.bytes[start] === 0x30 && end + 1 < this.starts[i + 1]!);
  }

  /** Adds `id` (latin1) and returns its index; an equal id added before is still the one find() returns. */
  add(id: string): number {
    for (let i = 0; i < id.length; i++) {
      if (id.charCodeAt(i) > 0xff) throw new RangeError('message ids are latin1: one byte per character');
    }
    this.reserve(id.length);
    this.bytes.write(id, this.used, 'latin1');
    return this.added(id.length);
  }

  /** Adds the bytes src[start, end) as an id and returns its index. */
  addBytes(src: Buffer, start: number, end: number): number {
    this.reserve(end - start);
    src.copy(this.bytes, this.used, start, end);
    return this.added(end - start);
  }

  /** Index of the first id added equal to `id`, or -1. */
  find(id: string): number {
    let h = FNV_OFFSET;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ (id.charCodeAt(i) & 0xffff), FNV_PRIME);
    const mask = this.slots.length - 1;
    for (let s = h & mask; ; s = (s + 1) & mask) {
      const at = this.slots[s]!;
      if (at === EMPTY) return -1;
      if (this.equals(at, id)) return at;
    }
  }

  /** Index of the first id added equal to id `i`. */
  firstEqual(i: number): number {
    const mask = this.slots.length - 1;
    for (let s = this.hashAt(i) & mask; ; s = (s + 1) & mask) {
      const at = this.slots[s]!;
      if (at === EMPTY || at === i) return i;
      if (this.sameBytes(at, i)) return at;
    }
  }

  /** Drops the room kept for ids not added, when it is more than a little; call once every id is in. */
  trim(): void {
    const slack = 1024 + (this.used >> 4);
    if (this.bytes.length > this.used + slack) this.bytes = Buffer.from(this.bytes.subarray(0, this.used));
    if (this.starts.length > this.count + 1 + (this.count >> 4) + 16) this.starts = this.starts.slice(0, this.count + 1);
  }

  /** Bytes held by the table's buffers (for the bound on memory per message). */
  get bytesHeld(): number {
    return this.bytes.length + this.starts.byteLength + this.slots.byteLength;
  }

  private reserve(length: number): void {
    if (this.used + length > this.bytes.length) {
      const bigger = Buffer.allocUnsafe(Math.max(this.bytes.length * 2, this.used + length));
      this.bytes.copy(bigger, 0, 0, this.used);
      this.bytes = bigger;
    }
    if (this.count + 2 > this.starts.length) {
      const bigger = new Uint32Array(this.starts.length * 2);
      bigger.set(this.starts);
      this.starts = bigger;
    }
  }

  private added(length: number): number {
    const i = this.count++;
    this.used += length;
    this.starts[i + 1] = this.used;
    if (this.count * 2 > this.slots.length) this.rehash();
    else this.insert(i);
    return i;
  }

  private insert(i: number): void {
    const mask = this.slots.length - 1;
    let s = this.hashAt(i) & mask;
    while (this.slots[s] !== EMPTY) s = (s + 1) & mask;
    this.slots[s] = i;
  }

  private rehash(): void {
    this.slots = new Int32Array(this.slots.length * 2).fill(EMPTY);
    for (let i = 0; i < this.count; i++) this.insert(i);
  }

  private hashAt(i: number): number {
    let h = FNV_OFFSET;
    for (let b = this.starts[i]!, end = this.starts[i + 1]!; b < end; b++) h = Math.imul(h ^ this.bytes[b]!, FNV_PRIME);
    return h;
  }

  private equals(i: number, id: string): boolean {
    const start = this.starts[i]!;
    if (this.starts[i + 1]! - start !== id.length) return false;
    for (let k = 0; k < id.length; k++) if (this.bytes[start + k] !== id.charCodeAt(k)) return false;
    return true;
  }

  private sameBytes(i: number, j: number): boolean {
    const a = this.starts[i]!;
    const b = this.starts[j]!;
    const length = this.starts[i + 1]! - a;
    if (this.starts[j + 1]! - b !== length) return false;
    return this.bytes.compare(this.bytes, b, b + length, a, a + length) === 0;
  }
}

function slotCount(expected: number): number {
  let n = 16;
  while (n < expected * 2) n *= 2;
  return n;
}
