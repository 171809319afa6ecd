/**
 * Byte-level POP3 reply framing (RFC 1939 §3, RFC 2449 §6.6 pipelining).
 *
 * Pure and socket-free so that every chunk boundary can be tested directly:
 * the caller registers what it expects for each command it sends, in send
 * order, and feeds whatever chunks the transport delivers. node-pop3 0.11.0
 * frames per chunk and decodes bodies to strings; this parser never does
 * either, so a message comes out with exactly the bytes the server stored.
 */

import { displayText } from '../display-text.js';

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;
const PLUS = 0x2b;
const MINUS = 0x2d;

/**
 * RFC 2449 caps a status line at 512 octets; the generous bound only stops a
 * server that never sends CRLF from growing memory without limit.
 */
export const MAX_STATUS_LINE = 64 * 1024;

const CR_BUFFER = Buffer.from([CR]);

export interface Pop3Reply {
  /** true for +OK, false for -ERR. */
  readonly ok: boolean;
  /** Status text after "+OK " / "-ERR ", without the line end. */
  readonly text: string;
  /**
   * For a +OK reply to a multi-line command: the body after dot-unstuffing,
   * CRLF line ends kept, without the terminating ".CRLF". Otherwise undefined.
   */
  readonly body: Buffer | undefined;
  /**
   * true when the line arrived while no command was pending, e.g. Dovecot's
   * "-ERR Disconnected for inactivity." right before it closes.
   */
  readonly unsolicited: boolean;
  /**
   * Present (true) only for an RFC 5034 server challenge "+ <base64>" to a
   * command registered with `continuation`; `text` is then the base64 text
   * (possibly empty) and `ok` is true. The command is not finished: the
   * client's answer line is registered and sent as a command of its own.
   */
  readonly continuation?: true;
  /**
   * Present for a +OK multi-line reply whose body grew beyond the
   * expectation's maxBodyBytes: the octets the server sent. The body was
   * read to its end and dropped, so the stream stays in step; `body` is
   * then undefined.
   */
  readonly tooLarge?: number;
}

/** What the reply to one registered command can look like. */
export interface Expectation {
  /** A +OK reply is followed by a dot-terminated body (RETR, LIST, ...). */
  multiLine: boolean;
  /** A "+ " / "+" line is a SASL challenge (AUTH and the answers to its challenges). */
  continuation?: boolean;
  /**
   * Most body octets kept (multi-line only); beyond it the body is read to
   * its end and dropped and the reply carries `tooLarge`. Default
   * DEFAULT_MAX_BODY_BYTES.
   */
  maxBodyBytes?: number;
  /**
   * Most octets that may be allocated up front when the status line
   * announces a size ("+OK n octets"); the caller passes what LIST said.
   * Default 0: a status line alone is never trusted with an allocation.
   */
  preallocateUpTo?: number;
}

/** What any multi-line reply may hold unless the caller says otherwise. */
export const DEFAULT_MAX_BODY_BYTES = 256 * 1024 * 1024;

/** The byte stream can no longer be matched to commands. */
export class Pop3FramingError extends Error {
  /** The first bytes of the offending line, when one was the problem: they tell what else answered. */
  readonly line: Buffer | undefined;

  constructor(message: string, line?: Buffer) {
    super(message);
    this.name = 'Pop3FramingError';
    this.line = line;
  }
}

// Plain constants rather than an enum: the module stays erasable TypeScript,
// runnable by Node's type stripping as well as by tsc.
/** Compact per-command expectations (one array slot per pipelined command). */
const Shape = {
  Single: 0,
  Multi: 1,
  /** Single-line, or a SASL continuation line. */
  Sasl: 2,
} as const;
type Shape = (typeof Shape)[keyof typeof Shape];

/** Limits of a multi-line reply, kept only for commands that set them. */
interface BodyLimits {
  maxBodyBytes: number;
  preallocateUpTo: number;
}

const DEFAULT_LIMITS: BodyLimits = { maxBodyBytes: DEFAULT_MAX_BODY_BYTES, preallocateUpTo: 0 };

const State = {
  /** Collecting a status line. */
  Status: 0,
  /** In a body, at the first byte of a line. */
  LineStart: 1,
  /** In a body, a line started with '.'; the dot is withheld. */
  Dot: 2,
  /** In a body, a line started with '.' CR; both are withheld. */
  DotCr: 3,
  /** In a body, inside a line. */
  Mid: 4,
  /** A framing error happened: nothing further can be attributed. */
  Broken: 5,
} as const;
type State = (typeof State)[keyof typeof State];

/** Messages at least this large announced in "+OK n octets" are read into one preallocated buffer. */
const PREALLOCATE_FROM = 1024 * 1024;

export class Pop3ReplyParser {
  /** One entry per command sent and not yet answered: the shape of its reply. */
  private readonly expected: Shape[] = [];
  private expectedHead = 0;
  /** Limits by index into `expected`, for the commands that set them. */
  private readonly limits = new Map<number, BodyLimits>();
  private expectedBase = 0;
  /** Limits of the body being read. */
  private currentLimits: BodyLimits = DEFAULT_LIMITS;
  /** The body passed maxBodyBytes: bytes are counted, not kept. */
  private discarding = false;

  private state: State = State.Status;
  private statusParts: Buffer[] = [];
  private statusLength = 0;
  private statusUnsolicited = false;
  private statusStarted = false;

  private currentText = '';
  private bodyParts: Buffer[] = [];
  private bodyLength = 0;
  /**
   * For a large message whose size the status line announced ("+OK n
   * octets"), one buffer of that size filled as chunks arrive: holding every
   * chunk and then concatenating would need twice the message in memory.
   */
  private bodyTarget: Buffer | undefined;
  private bodyFilled = 0;
  /** The last body byte consumed in Mid state was CR (possibly in an earlier chunk). */
  private lastWasCr = false;

  /**
   * Declares the reply shape of the next command to be sent. Call it before
   * writing the command: a reply can never precede its registration.
   * `true`/`false` is short for `{ multiLine }`.
   */
  expect(shape: boolean | Expectation): void {
    if (this.state === State.Broken) throw new Pop3FramingError('the POP3 reply stream is out of step');
    const e: Expectation = typeof shape === 'boolean' ? { multiLine: shape, continuation: false } : shape;
    const { multiLine, continuation } = e;
    if (multiLine && continuation === true) throw new RangeError('a POP3 reply cannot be both multi-line and a SASL challenge');
    if (multiLine && (e.maxBodyBytes !== undefined || e.preallocateUpTo !== undefined)) {
      const maxBodyBytes = e.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
      this.limits.set(this.expectedBase + this.expected.length, {
        maxBodyBytes,
        preallocateUpTo: Math.min(e.preallocateUpTo ?? 0, maxBodyBytes),
      });
    }
    this.expected.push(multiLine ? Shape.Multi : continuation === true ? Shape.Sasl : Shape.Single);
  }

  /** Bytes of a reply not yet complete are held (a partial status line or body). */
  get midReply(): boolean {
    return this.statusStarted || this.state !== State.Status;
  }

  /** Commands registered whose reply is not complete yet. */
  get pending(): number {
    return this.expected.length - this.expectedHead;
  }

  /**
   * Consumes one chunk and returns the replies it completed, in order.
   * Throws Pop3FramingError on a line that is neither +OK nor -ERR: after
   * that the stream cannot be re-synchronised and the connection must go.
   */
  push(chunk: Buffer): Pop3Reply[] {
    if (this.state === State.Broken) throw new Pop3FramingError('the POP3 reply stream is out of step');
    const out: Pop3Reply[] = [];
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.state === State.Status) {
        i = this.consumeStatus(chunk, i, out);
      } else {
        i = this.consumeBody(chunk, i, out);
      }
    }
    return out;
  }

  private consumeStatus(chunk: Buffer, start: number, out: Pop3Reply[]): number {
    if (!this.statusStarted) {
      this.statusStarted = true;
      // Decided at the line's first byte: a command registered while the rest
      // of this line is still in transit must not adopt it.
      this.statusUnsolicited = this.pending === 0;
    }
    const lf = chunk.indexOf(LF, start);
    const end = lf === -1 ? chunk.length : lf + 1;
    if (end > start) {
      this.statusParts.push(chunk.subarray(start, end));
      this.statusLength += end - start;
    }
    if (lf === -1) {
      if (this.statusLength > MAX_STATUS_LINE) {
        this.state = State.Broken;
        throw new Pop3FramingError(
          `POP3 status line longer than ${MAX_STATUS_LINE} bytes`,
          Buffer.from(this.statusParts[0]!.subarray(0, 16)),
        );
      }
      return end;
    }
    const line = this.statusParts.length === 1 ? this.statusParts[0]! : Buffer.concat(this.statusParts, this.statusLength);
    this.statusParts = [];
    this.statusLength = 0;
    this.statusStarted = false;
    this.finishStatus(line, out);
    return end;
  }

  private finishStatus(rawLine: Buffer, out: Pop3Reply[]): void {
    // RFC 1939 requires CRLF; a bare LF is accepted on status lines only,
    // where it cannot change message content.
    let lineEnd = rawLine.length - 1;
    if (lineEnd > 0 && rawLine[lineEnd - 1] === CR) lineEnd--;
    const line = rawLine.subarray(0, lineEnd);
    const first = line[0];
    let ok: boolean;
    let indicatorLength: number;
    if (first === PLUS) {
      ok = true;
      indicatorLength = 3;
    } else if (first === MINUS) {
      ok = false;
      indicatorLength = 4;
    } else {
      this.state = State.Broken;
      const shown = displayText(line.subarray(0, 80).toString('latin1'));
      throw new Pop3FramingError(`unexpected POP3 server line "${shown}" (neither +OK nor -ERR)`, Buffer.from(line.subarray(0, 16)));
    }
    const shape = this.statusUnsolicited ? undefined : this.expected[this.expectedHead]!;
    // RFC 5034: a challenge is "+" then a space and base64 (possibly empty);
    // "+OK" is never one. Only AUTH exchanges expect challenges.
    if (shape === Shape.Sasl && ok && (line.length === 1 || line[1] === 0x20)) {
      this.shiftExpected();
      const challenge = line.subarray(Math.min(2, line.length)).toString('latin1').trim();
      out.push({ ok: true, text: challenge, body: undefined, unsolicited: false, continuation: true });
      return;
    }
    let textStart = Math.min(indicatorLength, line.length);
    if (line[textStart] === 0x20) textStart++;
    const text = line.subarray(textStart).toString('utf8');

    if (shape === undefined) {
      out.push({ ok, text, body: undefined, unsolicited: true });
      return;
    }
    if (ok && shape === Shape.Multi) {
      this.currentText = text;
      this.bodyParts = [];
      this.bodyLength = 0;
      this.discarding = false;
      this.currentLimits = this.limits.get(this.expectedBase + this.expectedHead) ?? DEFAULT_LIMITS;
      const announced = /^(\d+) octets/i.exec(text);
      const size = announced ? Number(announced[1]) : 0;
      // The status line alone could ask for any amount: only what LIST said (capped) is allocated.
      this.bodyTarget = size >= PREALLOCATE_FROM && size <= this.currentLimits.preallocateUpTo ? Buffer.allocUnsafe(size) : undefined;
      this.bodyFilled = 0;
      this.lastWasCr = false;
      this.state = State.LineStart;
      return;
    }
    this.shiftExpected();
    out.push({ ok, text, body: undefined, unsolicited: false });
  }

  private consumeBody(chunk: Buffer, start: number, out: Pop3Reply[]): number {
    const n = chunk.length;
    let i = start;
    // Start of the run of bytes that will be kept verbatim from this chunk.
    let keep = i;
    while (i < n) {
      switch (this.state) {
        case State.LineStart: {
          if (chunk[i] === DOT) {
            this.addBody(chunk, keep, i);
            i++;
            keep = i;
            this.state = State.Dot;
          } else {
            this.lastWasCr = false;
            this.state = State.Mid;
          }
          break;
        }
        case State.Dot: {
          if (chunk[i] === CR) {
            i++;
            keep = i;
            this.state = State.DotCr;
          } else {
            // Dot-stuffed line: the withheld dot is dropped, the rest is content.
            this.lastWasCr = false;
            this.state = State.Mid;
          }
          break;
        }
        case State.DotCr: {
          if (chunk[i] === LF) {
            this.finishBody(out);
            return i + 1;
          }
          // ".CR" followed by something else is a stuffed line: drop the dot, keep the CR.
          this.addBody(CR_BUFFER, 0, 1);
          this.lastWasCr = true;
          this.state = State.Mid;
          break;
        }
        case State.Mid: {
          const lf = chunk.indexOf(LF, i);
          if (lf === -1) {
            this.lastWasCr = chunk[n - 1] === CR;
            i = n;
            break;
          }
          const crBefore = lf > i ? chunk[lf - 1] === CR : this.lastWasCr;
          i = lf + 1;
          if (crBefore) {
            this.state = State.LineStart;
          } else {
            // A bare LF is content, not a line end.
            this.lastWasCr = false;
          }
          break;
        }
        default:
          throw new Pop3FramingError('POP3 body parser in an impossible state');
      }
    }
    this.addBody(chunk, keep, n);
    return n;
  }

  private addBody(chunk: Buffer, from: number, to: number): void {
    if (to <= from) return;
    if (this.discarding) {
      this.bodyLength += to - from;
      return;
    }
    const held = this.bodyTarget !== undefined ? this.bodyFilled : this.bodyLength;
    if (held + (to - from) > this.currentLimits.maxBodyBytes) {
      // Read on to the terminator so the replies after this one stay in step, keeping nothing.
      this.bodyLength = held + (to - from);
      this.bodyFilled = 0;
      this.bodyTarget = undefined;
      this.bodyParts = [];
      this.discarding = true;
      return;
    }
    const target = this.bodyTarget;
    if (target !== undefined) {
      if (this.bodyFilled + (to - from) <= target.length) {
        chunk.copy(target, this.bodyFilled, from, to);
        this.bodyFilled += to - from;
        return;
      }
      // More than announced: keep what is there and go on the general way.
      this.bodyParts.push(target.subarray(0, this.bodyFilled));
      this.bodyLength = this.bodyFilled;
      this.bodyTarget = undefined;
    }
    // subarray, not copy: the one copy happens in finishBody's concat.
    this.bodyParts.push(chunk.subarray(from, to));
    this.bodyLength += to - from;
  }

  private finishBody(out: Pop3Reply[]): void {
    if (this.discarding) {
      const received = this.bodyLength;
      this.discarding = false;
      this.bodyLength = 0;
      this.state = State.Status;
      this.shiftExpected();
      out.push({ ok: true, text: this.currentText, body: undefined, unsolicited: false, tooLarge: received });
      this.currentText = '';
      return;
    }
    const target = this.bodyTarget;
    this.bodyTarget = undefined;
    const body = target !== undefined ? target.subarray(0, this.bodyFilled) : Buffer.concat(this.bodyParts, this.bodyLength);
    this.bodyParts = [];
    this.bodyLength = 0;
    this.state = State.Status;
    this.shiftExpected();
    out.push({ ok: true, text: this.currentText, body, unsolicited: false });
    this.currentText = '';
  }

  private shiftExpected(): void {
    this.limits.delete(this.expectedBase + this.expectedHead);
    this.expectedHead++;
    // Compact now and then so a long pipelined session does not keep an
    // ever-growing array of answered entries.
    if (this.expectedHead >= 1024 && this.expectedHead * 2 >= this.expected.length) {
      this.expected.splice(0, this.expectedHead);
      this.expectedBase += this.expectedHead;
      this.expectedHead = 0;
    }
  }
}
