/**
 * Byte-level RFC 5322 header handling.
 *
 * Everything here works on Buffers and decodes as 'latin1', which maps each
 * byte to one code unit: 8-bit and NUL bytes survive unchanged, so the POP3
 * side (full message) and the IMAP side (HEADER.FIELDS subset) derive the
 * same strings from the same bytes.
 *
 * Line breaks: a line ends at LF, and any run of CRs right before that LF
 * belongs to the line break. Dovecot has been seen to store `\r\r\n` as
 * `\r\n` on APPEND, so treating CR runs as part of the break keeps both
 * sides in agreement. A CR that is not followed by LF is an ordinary byte.
 */

const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const TAB = 0x09;
const COLON = 0x3a;

/**
 * The header section of `message`: every byte up to and including the first
 * empty line (an LF followed by nothing but CRs and then LF). Without an
 * empty line the whole message is the header section.
 *
 * The result is a view into `message` (no copy): copy it with `Buffer.from`
 * before keeping it past the message, or the whole message stays in memory.
 */
export function headerBlock(message: Buffer): Buffer {
  const afterLeadingBreak = endOfEmptyLine(message, 0);
  if (afterLeadingBreak !== -1) return message.subarray(0, afterLeadingBreak);
  let pos = 0;
  for (;;) {
    const lf = message.indexOf(LF, pos);
    if (lf === -1) return message;
    const end = endOfEmptyLine(message, lf + 1);
    if (end !== -1) return message.subarray(0, end);
    pos = lf + 1;
  }
}

/** Offset just past an empty line starting at `pos`, or -1 if the line there is not empty. */
function endOfEmptyLine(buf: Buffer, pos: number): number {
  let i = pos;
  while (i < buf.length && buf[i] === CR) i++;
  return i < buf.length && buf[i] === LF ? i + 1 : -1;
}

export interface HeaderField {
  /** Field name, lower-cased (names are ASCII by RFC 5322, so this is lossless for matching). */
  name: string;
  /** Unfolded value, latin1-decoded, leading and trailing SP/HTAB removed. */
  value: string;
}

/**
 * The header fields of `block`, in order. Parsing stops at the first empty
 * line, so a whole message may be passed as well.
 *
 * Tolerated damage: bare LF or CR-run line endings, lines without a colon
 * (skipped with their continuation lines, which also drops mbox `From_`
 * lines), whitespace between name and colon, continuation lines before any
 * field (skipped), NUL and 8-bit bytes. Runs in time linear in the block
 * size, since a hostile header can be megabytes long.
 */
export function parseHeaders(block: Buffer): HeaderField[] {
  const fields: HeaderField[] = [];
  let name: string | undefined;
  let parts: Buffer[] = [];

  const flush = (): void => {
    if (name !== undefined) fields.push({ name, value: trimWsp(joinLatin1(parts)) });
    name = undefined;
    parts = [];
  };

  let pos = 0;
  while (pos < block.length) {
    const lf = block.indexOf(LF, pos);
    const lineEnd = lf === -1 ? block.length : lf;
    const next = lf === -1 ? block.length : lf + 1;
    let contentEnd = lineEnd;
    while (contentEnd > pos && block[contentEnd - 1] === CR) contentEnd--;

    if (contentEnd === pos) break;

    const first = block[pos];
    if (first === SP || first === TAB) {
      // Unfolding removes only the line break: the WSP that starts the
      // continuation line stays part of the value.
      if (name !== undefined) parts.push(block.subarray(pos, contentEnd));
    } else {
      flush();
      // Search within this line only, so a long run of colon-less lines
      // cannot make every search scan ahead to a far colon.
      const line = block.subarray(pos, contentEnd);
      const colon = line.indexOf(COLON);
      if (colon !== -1) {
        const fieldName = parseFieldName(line.subarray(0, colon));
        if (fieldName !== undefined) {
          name = fieldName;
          parts.push(line.subarray(colon + 1));
        }
      }
    }
    pos = next;
  }
  flush();
  return fields;
}

/** A valid field name (printable ASCII except colon), lower-cased; trailing WSP before the colon is tolerated. */
function parseFieldName(raw: Buffer): string | undefined {
  let end = raw.length;
  while (end > 0 && (raw[end - 1] === SP || raw[end - 1] === TAB)) end--;
  if (end === 0) return undefined;
  for (let i = 0; i < end; i++) {
    const c = raw[i] as number;
    if (c < 0x21 || c > 0x7e) return undefined;
  }
  return raw.toString('latin1', 0, end).toLowerCase();
}

function joinLatin1(parts: Buffer[]): string {
  if (parts.length === 1) return (parts[0] as Buffer).toString('latin1');
  return Buffer.concat(parts).toString('latin1');
}

/**
 * Removes leading and trailing SP/HTAB. A loop rather than a regex: a
 * trailing `[ \t]+$` backtracks quadratically over long interior runs.
 */
export function trimWsp(s: string): string {
  let start = 0;
  let end = s.length;
  while (start < end && isWsp(s.charCodeAt(start))) start++;
  while (end > start && isWsp(s.charCodeAt(end - 1))) end--;
  return start === 0 && end === s.length ? s : s.slice(start, end);
}

function isWsp(code: number): boolean {
  return code === SP || code === TAB;
}

/** The value of the first field called `name` (any case), or undefined. */
export function firstHeader(fields: HeaderField[], name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const field of fields) {
    if (field.name === wanted) return field.value;
  }
  return undefined;
}
