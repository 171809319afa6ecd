/**
 * Byte-level framing of what an IMAP server sends (RFC 3501 §2.2, §4.3):
 * response lines, and the literals a line announces with `{n}` at its end.
 *
 * Pure and socket-free, like pop3-framing.ts, so that every chunk boundary
 * can be tested directly: the upload connection feeds whatever chunks the
 * socket delivers and gets whole responses back. Literals stay Buffers; only
 * the protocol text around them becomes a string (latin1, one char a byte).
 */

const LF = 0x0a;
const CR = 0x0d;

/** One whole response: its text with each literal's `{n}` kept in place, and the literals in order. */
export interface ImapFrame {
  readonly line: string;
  readonly literals: readonly Buffer[];
}

export interface ImapFramingLimits {
  /** The longest line taken (without its LF). */
  maxLineBytes: number;
  /** The largest literal taken. */
  maxLiteralBytes: number;
  /** The most literals one response may carry. */
  maxLiteralsPerResponse: number;
  /** The most octets (lines and literals) one response with literals may carry. */
  maxResponseBytes: number;
}

/** The upload connection's bounds: replies to APPEND and login are short, and a FETCH of a header section is the only response with a literal asked for. */
export const UPLOAD_CONNECTION_LIMITS: ImapFramingLimits = {
  maxLineBytes: 1024 * 1024,
  maxLiteralBytes: 1024 * 1024,
  maxLiteralsPerResponse: 8,
  maxResponseBytes: 2 * 1024 * 1024,
};

/** The stream went over one of the limits; `what` says how, for the error the connection ends with. */
export class ImapFramingError extends Error {
  constructor(readonly what: string) {
    super(`the server sent ${what}`);
    this.name = 'ImapFramingError';
  }
}

function octets(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / (1024 * 1024)} MiB` : `${n} octets`;
}

/**
 * Splits the byte stream into responses. A bare LF ends a line as CRLF
 * does (GNU Mailutils ends some replies so). Pieces of a line are kept
 * apart until its end arrives, so a long line costs one copy, not one per
 * chunk. Past a limit the framer stops: `error` says why and every later
 * push returns nothing.
 */
export class ImapReplyFramer {
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** Bytes of the literal being read still to come. */
  private literalLeft = 0;
  private literalParts: Buffer[] = [];
  /** A response with literals, while it arrives: its lines and the literals between them. */
  private assembling: { text: string[]; literals: Buffer[]; bytes: number } | undefined;
  private failed: ImapFramingError | undefined;

  constructor(private readonly limits: ImapFramingLimits = UPLOAD_CONNECTION_LIMITS) {}

  /** Why the framer stopped, once it has. */
  get error(): ImapFramingError | undefined {
    return this.failed;
  }

  /** Whether bytes of a response not yet whole are held (a line without its end, or a literal and what follows it). */
  get midResponse(): boolean {
    return this.partial.length > 0 || this.assembling !== undefined || this.literalLeft > 0;
  }

  /** The responses completed by `chunk`, in order; after a limit was passed, those completed before it. */
  push(chunk: Buffer): ImapFrame[] {
    const frames: ImapFrame[] = [];
    let data = chunk;
    while (data.length > 0 && !this.failed) {
      if (this.literalLeft > 0) {
        const take = Math.min(this.literalLeft, data.length);
        this.literalParts.push(data.subarray(0, take));
        data = data.subarray(take);
        this.literalLeft -= take;
        if (this.literalLeft === 0) {
          // A copy: the literal must not keep the socket's chunks alive, nor change with them.
          this.assembling?.literals.push(Buffer.concat(this.literalParts));
          this.literalParts = [];
        }
        continue;
      }
      const lf = data.indexOf(LF);
      if (lf < 0) {
        this.partialBytes += data.length;
        if (this.partialBytes > this.limits.maxLineBytes) return this.stop(frames, this.longLine());
        this.partial.push(data);
        return frames;
      }
      let bytes = data.subarray(0, lf);
      data = data.subarray(lf + 1);
      if (this.partial.length > 0) {
        if (this.partialBytes + bytes.length > this.limits.maxLineBytes) return this.stop(frames, this.longLine());
        bytes = Buffer.concat([...this.partial, bytes]);
        this.partial = [];
        this.partialBytes = 0;
      }
      if (bytes.length > this.limits.maxLineBytes) return this.stop(frames, this.longLine());
      const end = bytes.length > 0 && bytes[bytes.length - 1] === CR ? bytes.length - 1 : bytes.length;
      const line = bytes.toString('latin1', 0, end);
      const literal = /\{(\d{1,12})\}$/.exec(line);
      if (literal) {
        const size = Number(literal[1]);
        if (size > this.limits.maxLiteralBytes) {
          return this.stop(frames, `a literal of ${size} octets (more than ${octets(this.limits.maxLiteralBytes)})`);
        }
        this.assembling ??= { text: [], literals: [], bytes: 0 };
        this.assembling.bytes += size + line.length;
        if (this.assembling.literals.length >= this.limits.maxLiteralsPerResponse || this.assembling.bytes > this.limits.maxResponseBytes) {
          return this.stop(frames, 'a response with more literals than any answer on this connection has');
        }
        this.assembling.text.push(line);
        // An empty literal is one too: the literals stay matched to their `{n}` in the line.
        if (size === 0) this.assembling.literals.push(Buffer.alloc(0));
        this.literalLeft = size;
        this.literalParts = [];
        continue;
      }
      if (this.assembling) {
        // The rest of a response whose literals came before: handed on as one.
        const { text, literals } = this.assembling;
        this.assembling = undefined;
        frames.push({ line: [...text, line].join(''), literals });
      } else frames.push({ line, literals: [] });
    }
    return frames;
  }

  private longLine(): string {
    return `a line longer than ${octets(this.limits.maxLineBytes)}`;
  }

  private stop(frames: ImapFrame[], what: string): ImapFrame[] {
    this.partial = [];
    this.partialBytes = 0;
    this.failed = new ImapFramingError(what);
    return frames;
  }
}
