/**
 * A sketch of a message's lines in no order: the SKETCH_SIZE smallest
 * distinct 32-bit hashes of its lines, line-end bytes dropped (bottom-k
 * MinHash). Two sketches estimate what share of their lines two messages
 * have in common. When a server rewrites what it stores and loses the reply,
 * and several messages sharing one key were in flight, no copy is any of
 * them by the copy rule; the copy is most likely the one of the message
 * whose lines it shares most, and taken for that message only when it
 * shares more with it than with every other (DedupIndex.unclaimedCopy).
 */

export const SKETCH_SIZE = 128;

const LF = 0x0a;
const CR = 0x0d;

/** FNV-1a over the line's bytes, then MurmurHash3's finaliser so the low values are a fair sample. */
function lineHash(bytes: Buffer, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

export function lineSketch(content: Buffer): Uint32Array {
  const hashes = new Set<number>();
  for (let start = 0; start < content.length;) {
    const lf = content.indexOf(LF, start);
    let end = lf === -1 ? content.length : lf;
    while (end > start && content[end - 1] === CR) end--;
    hashes.add(lineHash(content, start, end));
    start = lf === -1 ? content.length : lf + 1;
  }
  const sorted = Uint32Array.from(hashes).sort();
  return sorted.subarray(0, SKETCH_SIZE).slice();
}

/** The estimated share (0 to 1) of the lines of two messages that both have, from their sketches. */
export function similarity(a: Uint32Array, b: Uint32Array): number {
  let i = 0;
  let j = 0;
  let union = 0;
  let both = 0;
  while (union < SKETCH_SIZE && (i < a.length || j < b.length)) {
    const x = i < a.length ? a[i]! : Infinity;
    const y = j < b.length ? b[j]! : Infinity;
    if (x === y) {
      both++;
      i++;
      j++;
    } else if (x < y) i++;
    else j++;
    union++;
  }
  return union === 0 ? 1 : both / union;
}

/** A sketch as text for a state file: its hashes big-endian, in base64. */
export function sketchToText(sketch: Uint32Array): string {
  const bytes = Buffer.alloc(sketch.length * 4);
  sketch.forEach((h, i) => bytes.writeUInt32BE(h, i * 4));
  return bytes.toString('base64');
}

/** The sketch sketchToText wrote; undefined for anything else. */
export function sketchFromText(text: unknown): Uint32Array | undefined {
  if (typeof text !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  if (bytes.length % 4 !== 0 || bytes.length > SKETCH_SIZE * 4) return undefined;
  const sketch = new Uint32Array(bytes.length / 4);
  for (let i = 0; i < sketch.length; i++) sketch[i] = bytes.readUInt32BE(i * 4);
  for (let i = 1; i < sketch.length; i++) if (sketch[i - 1]! >= sketch[i]!) return undefined;
  return sketch;
}
