/**
 * The copy rule against generated messages: a copy that differs from the
 * message only in the bytes that end its lines (LF, CRLF, a run of CRs
 * before LF) is the message; one whose lines moved, were joined, split,
 * added or removed is another message; and the changes real servers make
 * (test/helpers/server-changes.ts) stay accepted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { copyDigests, judgeCopy, serverChanges } from '../../src/message/copy-rule.js';
import { CHANGES } from '../helpers/server-changes.js';

const bin = (s: string) => Buffer.from(s, 'latin1');
const judge = (original: string, copy: string) => judgeCopy(copyDigests(bin(original)), copyDigests(bin(copy)));

/**
 * A line's content: no LF, and no CR at its end (a CR there would belong to
 * the line end that follows). Bare CRs, 8-bit bytes and blanks inside a line
 * are content. No ':' so no line names a field servers add.
 */
const content = fc
  .array(fc.constantFrom('a', 'b', ' ', '\t', '\r', '\xe9', 'X', '-'), { maxLength: 6 })
  .map((cs) => cs.join(''))
  .filter((s) => !s.endsWith('\r'));
const lines = fc.array(content, { minLength: 1, maxLength: 12 });
const LINE_END = fc.constantFrom('\n', '\r\n', '\r\r\n', '\r\r\r\n');
const lineEnds = fc.array(LINE_END, { minLength: 14, maxLength: 14 });

/** The message: every line ended by its own line end (a POP3 message always ends with one). */
const render = (ls: readonly string[], ends: readonly string[]) => ls.map((l, i) => l + ends[i % ends.length]!).join('');

/**
 * The one named change that adds or removes a line: GNU Mailutils gives a
 * message with no body (no empty line, or nothing after it) one empty line
 * of body. Lines equal up to that change.
 */
function upToEmptyBody(ls: readonly string[]): string {
  const blank = ls.indexOf('');
  const rest = blank === -1 ? [] : ls.slice(blank + 1);
  const header = blank === -1 ? ls : ls.slice(0, blank);
  const body = rest.length === 1 && rest[0] === '' ? [] : rest;
  return JSON.stringify([...header, '', ...body]);
}

type Mutation = { kind: 'move' | 'join' | 'split' | 'add' | 'remove'; at: number; to: number; added: string };
const mutation = fc.record({
  kind: fc.constantFrom('move', 'join', 'split', 'add', 'remove'),
  at: fc.nat(),
  to: fc.nat(),
  added: content,
}) as fc.Arbitrary<Mutation>;

/** The lines after one change that is not in how lines end; undefined when it cannot apply. */
function mutate(ls: readonly string[], m: Mutation): string[] | undefined {
  const out = [...ls];
  const i = m.at % out.length;
  switch (m.kind) {
    case 'move': {
      const [line] = out.splice(i, 1);
      out.splice(m.to % (out.length + 1), 0, line!);
      return out;
    }
    case 'join':
      if (out.length < 2 || i === out.length - 1) return undefined;
      out.splice(i, 2, out[i]! + out[i + 1]!);
      return out;
    case 'split': {
      const line = out[i]!;
      const cut = m.to % (line.length + 1);
      const head = line.slice(0, cut);
      if (head.endsWith('\r')) return undefined;
      out.splice(i, 1, head, line.slice(cut));
      return out;
    }
    case 'add':
      out.splice(m.to % (out.length + 1), 0, m.added);
      return out;
    case 'remove':
      if (out.length < 2) return undefined;
      out.splice(i, 1);
      return out;
  }
}

const RUNS = { numRuns: 1000 };

describe('the copy rule on generated messages', () => {
  it('a copy with the same lines, whatever ends them, is the message, and only "line ends rewritten" is named', () => {
    fc.assert(
      fc.property(lines, lineEnds, lineEnds, (ls, a, b) => {
        const original = render(ls, a);
        const copy = render(ls, b);
        if (original === copy) {
          expect(judge(original, copy)).toBe('identical');
          return;
        }
        expect(judge(original, copy)).toBe('server-changed');
        expect(serverChanges(bin(original), bin(copy))).toEqual(['line ends rewritten']);
      }),
      RUNS,
    );
  });

  it('a copy whose lines moved, were joined, split, added or removed is another message', () => {
    fc.assert(
      fc.property(lines, mutation, lineEnds, lineEnds, (ls, m, a, b) => {
        const changed = mutate(ls, m);
        fc.pre(changed !== undefined && upToEmptyBody(changed) !== upToEmptyBody(ls));
        const original = render(ls, a);
        const copy = render(changed, b);
        expect(judge(original, copy)).toBe('different');
        expect(judge(copy, original)).toBe('different');
        expect(serverChanges(bin(original), bin(copy))).toBeUndefined();
      }),
      RUNS,
    );
  });

  it('the changes real servers make on storage stay accepted', () => {
    const header = fc.array(
      content.filter((l) => l !== '' && !/^[ \t]/.test(l)),
      { minLength: 1, maxLength: 4 },
    );
    const body = fc.array(content, { maxLength: 6 });
    const store = fc.constantFrom(
      CHANGES.crFolded.apply,
      CHANGES.bareCrDeleted.apply,
      CHANGES.munge8bit.apply,
      // GNU Mailutils: its fields after the others, and one empty line for a body that has none.
      (s: string) => {
        const end = s.indexOf('\r\n\r\n');
        const body = s.slice(end + 4);
        return `${s.slice(0, end)}\r\nX-IMAPbase: 1 2\r\nX-UID: 1\r\n\r\n${body === '' ? '\r\n' : body}`;
      },
    );
    fc.assert(
      fc.property(header, body, store, lineEnds, (h, bd, apply, ends) => {
        // Cyrus refuses bare LFs and Mailutils needs a header section, so the message is CRLF where that matters.
        const original = `${h.map((l) => `${l}\r\n`).join('')}\r\n${render(bd, ends)}`;
        const copy = apply(original);
        expect(judge(original, copy)).not.toBe('different');
        if (copy !== original) expect(serverChanges(bin(original), bin(copy))?.length).toBeGreaterThan(0);
      }),
      RUNS,
    );
  });
});
