/**
 * Issue 20 item 6: nothing a server or a message chose reaches a terminal,
 * a log or JSON as control characters. One function neutralises such text
 * (displayText), one serialises JSON (jsonLine), and every output goes
 * through them.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { displayText, jsonLine } from '../../src/display-text.js';
import { Output, type OutputSettings } from '../../src/cli/output.js';
import { formatSummary } from '../../src/cli/summary-output.js';
import { formatVerifyReport } from '../../src/cli/verify-output.js';
import { emptySummary } from '../../src/engine/summary.js';
import type { VerifyReport } from '../../src/engine/verify.js';
import { readableHeader } from '../../src/message/display.js';
import { quoteServer } from '../../src/pop3/pop3-errors.js';

/** OSC 52 (clipboard), OSC 0 (title), CSI 2J, an 8-bit CSI, DEL, bidi overrides and isolates, line separators, NUL. */
const HOSTILE =
  '\x1b]52;c;cG9wbGlmdA==\x07 \x1b]0;pwned\x07 \x1b[2J \u009b31m \x7f \u202eevil\u202c \u2066x\u2069 \u2028 \u2029 \0 \x85 \t';
const FORGED = 'NO bad\r\npoplift: forged ok\rpoplift: forged too\n';

/** Every character that acts on a terminal or reorders text, except the LF that ends a line. */
const UNSAFE = /[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

function expectClean(text: string): void {
  expect(text).not.toMatch(UNSAFE);
  expect(text).not.toMatch(/^poplift: forged/m);
}

function sink(tty = false): { stream: PassThrough; text: () => string } {
  const stream = new PassThrough();
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  if (tty) Object.assign(stream, { isTTY: true, columns: 200 });
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') };
}

describe('displayText', () => {
  it('shows every control, DEL, C1, bidi and line-separator character as a visible escape, on one line', () => {
    const shown = displayText(HOSTILE + FORGED);
    expectClean(shown);
    expect(shown).not.toContain('\n');
    expect(shown).toContain('\\x1b]52;c;');
    expect(shown).toContain('\\x9b31m');
    expect(shown).toContain('\\u202e');
    expect(shown).toContain('\\x0d\\x0apoplift: forged ok');
  });

  it('keeps printable text, accents, other scripts and emoji as they are, and is idempotent', () => {
    const text = 'Grüße, 日本語, €5 — ok 📬 "quoted" back\\slash';
    expect(displayText(text)).toBe(text);
    expect(displayText(displayText(HOSTILE))).toBe(displayText(HOSTILE));
  });

  it('neutralises raw 8-bit bytes read as latin1 (a C1 CSI byte 0x9b)', () => {
    expectClean(displayText(Buffer.from([0x9b, 0x33, 0x31, 0x6d, 0x1b]).toString('latin1')));
  });
});

describe('jsonLine', () => {
  it('escapes C0, DEL, C1, bidi controls and U+2028/2029 as \\u escapes, and parses back to the same value', () => {
    const value = { message: HOSTILE + FORGED, list: [HOSTILE] };
    const line = jsonLine(value);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.slice(0, -1)).not.toContain('\n');
    expectClean(line);
    expect(line).toContain('\\u009b');
    expect(line).toContain('\\u202e');
    expect(JSON.parse(line)).toEqual(value);
  });
});

describe('the partial sanitisers are gone: server words keep no control character', () => {
  it('quoteServer (POP3 -ERR texts) neutralises C1 controls too', () => {
    expectClean(quoteServer(`-ERR ${HOSTILE}`));
  });

  it('readableHeader decodes a Subject; its controls are neutralised on output', () => {
    const subject = readableHeader('=?utf-8?B?' + Buffer.from(`hi ${HOSTILE}`).toString('base64') + '?=')!;
    expect(subject).toContain('hi ');
    expectClean(displayText(subject));
  });
});

const settings: OutputSettings = {
  quiet: false,
  silent: false,
  json: false,
  logFile: undefined,
  progressInterval: 30,
  tty: false,
  total: true,
};

describe('Output: stderr, terminal bars and --log-file', () => {
  for (const tty of [false, true]) {
    it(`error, warning, mailbox lines and the final text stay one line each and clean (${tty ? 'terminal' : 'plain lines'})`, () => {
      const err = sink(tty);
      const log = join(mkdtempSync(join(tmpdir(), 'poplift-display-')), 'log');
      const output = new Output(err.stream, { ...settings, tty, logFile: log });
      output.mailboxStarted(0, `a@pop -> a@imap folder "${FORGED}"`, `a -> ${HOSTILE}`);
      output.mailboxStatus(0, `connecting ${HOSTILE}`);
      output.mailboxListed(0, { found: 1, totalBytes: 1, done: 0, doneBytes: 0 });
      output.warn(`IMAP server said ${HOSTILE}`);
      output.error(`IMAP server x refused the login: ${FORGED}`);
      output.mailboxEnded(0, `a: ${FORGED}`, false);
      // The full text is built line by line with each line neutralised (formatSummary); a control left in a line is neutralised here.
      const summary = emptySummary('a@pop', 'a@imap', `F${FORGED}`, false);
      output.final(`${formatSummary(summary)}more ${HOSTILE}\n`, `one ${FORGED}`, { changed: true, ok: false });
      output.logOnly(`poplift: ${FORGED}`);
      // The bars' own ANSI sequences are poplift's: only what was given may not carry any.
      const shown = tty ? err.text().replace(/\x1b\[[0-9;?]*[A-Za-z]|\r/g, '') : err.text();
      expectClean(shown);
      const logged = readFileSync(log, 'utf8');
      expectClean(logged);
      for (const line of logged.trimEnd().split('\n')) {
        expect(line).toMatch(/^\d{4}-\d\d-\d\dT/);
        expect(line).not.toMatch(/^\S+ poplift: forged/);
      }
    });
  }
});

describe('reports built from server and message text', () => {
  it('the migrate summary: failed and duplicate lists with hostile UIDLs and reasons', () => {
    const s = emptySummary('a@pop', `a@imap${HOSTILE}`, `F${FORGED}`, false);
    s.failures.push({ uidl: `u\u009b1\r\npoplift: forged`, side: 'IMAP', reason: `NO ${FORGED}${HOSTILE}` });
    s.duplicateList.push({
      uidl: `d${HOSTILE}`,
      key: `k${FORGED}`,
      keptIn: 'destination',
      keptAs: `x${HOSTILE}`,
      sizeDiffers: false,
    } as (typeof s.duplicateList)[number]);
    s.stopped = `server said ${FORGED}`;
    const text = formatSummary(s);
    expectClean(text);
    expect(text).toContain('\\x9b1\\x0d\\x0apoplift: forged');
  });

  it('the verify report: MISSING lines with hostile UIDLs and Subjects, one line each', () => {
    const report = {
      pop3: 'a@pop',
      imap: 'a@imap',
      folder: `F${FORGED}`,
      deep: false,
      read: 'TOP',
      folderExists: true,
      found: 2,
      folderMessages: 0,
      present: 0,
      missing: 2,
      altered: 0,
      serverChanged: 0,
      serverChanges: {},
      problems: [1, 2].map((n) => ({
        problem: 'missing',
        uidl: `u${n}\u009b31m\r\npoplift: forged`,
        number: n,
        size: 10,
        key: `k${n}`,
        subject: `s${HOSTILE}${FORGED}`,
        date: `d${HOSTILE}`,
        detail: `not in the folder ${HOSTILE}`,
      })),
      notes: [],
      warnings: [],
      seconds: 1,
    } as unknown as VerifyReport;
    const text = formatVerifyReport(report);
    expectClean(text);
    expect(text.trimEnd().split('\n')).toHaveLength(3);
  });
});
