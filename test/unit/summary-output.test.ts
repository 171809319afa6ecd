import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { Output } from '../../src/cli/output.js';
import { formatSummary, SHOWN_ENTRIES } from '../../src/cli/summary-output.js';
import { emptySummary } from '../../src/engine/summary.js';

/** A run without its journal: 2,000 messages, all already in the folder. */
function twoThousandDuplicates() {
  const s = emptySummary('pop3s://a@pop:995', 'imaps://a@imap:993', 'X', false);
  s.found = 2000;
  s.duplicates = 2000;
  for (let i = 0; i < 2000; i++)
    s.duplicateList.push({
      uidl: `u${i}`,
      key: `mid:<m${i}@x>`,
      keptIn: 'destination',
      keptAs: `UID ${i + 1}`,
      keptUid: i + 1,
      sizeDiffers: false,
    });
  return s;
}

describe('the summary of a large run', () => {
  it('shows counts and the first few entries of each list, not one line per message', () => {
    const text = formatSummary(twoThousandDuplicates(), false);
    const lines = text.trimEnd().split('\n');
    expect(lines.length).toBeLessThanOrEqual(4 + SHOWN_ENTRIES);
    expect(text).toContain('duplicates skipped 2000');
    expect(text).toContain('u0  mid:<m0@x>');
    expect(text).not.toContain('u1999');
    expect(text).toContain(`… and ${2000 - SHOWN_ENTRIES} more (all of them with --list`);
  });

  it('lists every entry with --list, and a dry run with --delete one UIDL a line', () => {
    expect(formatSummary(twoThousandDuplicates(), true)).toContain('u1999  mid:<m1999@x>');
    const dry = emptySummary('p', 'i', 'X', true);
    dry.wouldDelete = Array.from({ length: 2000 }, (_, i) => `uidl-${i}`);
    const text = formatSummary(dry, false);
    expect(text).toContain('would delete from POP3 (copy confirmed): 2000');
    expect(Math.max(...text.split('\n').map((l) => l.length))).toBeLessThan(200);
  });

  it('the log file keeps the whole list while stderr shows the short one', () => {
    const chunks: Buffer[] = [];
    const stderr = new PassThrough();
    stderr.on('data', (c: Buffer) => chunks.push(c));
    const log = join(mkdtempSync(join(tmpdir(), 'poplift-summary-')), 'run.log');
    const output = new Output(stderr, {
      quiet: false,
      silent: false,
      json: false,
      logFile: log,
      progressInterval: 30,
      tty: false,
      total: false,
    });
    const s = twoThousandDuplicates();
    output.final(formatSummary(s), 'ONE LINE', { changed: false, ok: true, shortText: formatSummary(s, false) });
    expect(Buffer.concat(chunks).toString()).not.toContain('u1999');
    expect(readFileSync(log, 'utf8')).toContain('u1999');
  });
});
