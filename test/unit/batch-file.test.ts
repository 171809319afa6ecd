import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode, PopliftError } from '../../src/errors.js';
import { inShard, parseCsv, parseShard, readBatchFile, validateRow, type ColumnSpec } from '../../src/cli/batch-file.js';

const dir = mkdtempSync(join(tmpdir(), 'poplift-batchfile-'));

const columns = new Map<string, ColumnSpec>([
  ['folder', { attribute: 'folder', boolean: false, choices: undefined }],
  ['delete', { attribute: 'delete', boolean: true, choices: undefined }],
  ['dry_run', { attribute: 'dryRun', boolean: true, choices: undefined }],
  ['dedupe', { attribute: 'dedupe', boolean: false, choices: ['message-id', 'none'] }],
  ['pop3_password_file', { attribute: 'pop3PasswordFile', boolean: false, choices: undefined }],
]);

describe('batch file', () => {
  it("parses CSV with quotes, commas and line breaks inside quotes, and keeps each row's first line", () => {
    const records = parseCsv('a,b,c\r\n# a comment\n\n"x, y","multi\nline",z\n1,"say ""hi""",3');
    expect(records).toEqual([
      { line: 1, fields: ['a', 'b', 'c'] },
      { line: 4, fields: ['x, y', 'multi\nline', 'z'] },
      { line: 6, fields: ['1', 'say "hi"', '3'] },
    ]);
    expect(() => parseCsv('a\n"open')).toThrow(/unclosed quote starting on line 2/);
  });

  it('reads a CSV file into rows by header', () => {
    const path = join(dir, 'b.csv');
    writeFileSync(path, 'pop3_url,imap_url,folder,delete\npop3://a@h,imap://b@h,Old,yes\n\npop3://c@h,imap://d@h,,\n');
    const rows = readBatchFile(path);
    expect(rows.map((r) => [r.line, Object.fromEntries(r.values)])).toEqual([
      [2, { pop3_url: 'pop3://a@h', imap_url: 'imap://b@h', folder: 'Old', delete: 'yes' }],
      [4, { pop3_url: 'pop3://c@h', imap_url: 'imap://d@h' }],
    ]);
  });

  it('reads a JSON array and finds the line each object starts on', () => {
    const path = join(dir, 'b.json');
    writeFileSync(
      path,
      '[\n  {"pop3_url": "pop3://a@h", "imap_url": "imap://b@h", "delete": true},\n\n  {\n    "pop3_url": "pop3://c@h",\n    "imap_url": "imap://d@h", "note": "}{[,"\n  }\n]\n',
    );
    const rows = readBatchFile(path);
    expect(rows.map((r) => r.line)).toEqual([2, 4]);
    expect(rows[0]!.values.get('delete')).toBe(true);
  });

  it('validates rows: missing URLs, unknown columns, bad yes/no and choices, passwords, unreadable files', () => {
    const check = () => undefined;
    const row = (values: Record<string, string | boolean>) =>
      validateRow({ line: 7, values: new Map(Object.entries(values)) }, 3, columns, check);
    expect(row({ pop3_url: 'pop3://a@h', imap_url: 'imap://b@h', delete: 'no', dry_run: true, dedupe: 'none' }).row).toEqual({
      index: 3,
      line: 7,
      pop3Url: 'pop3://a@h',
      imapUrl: 'imap://b@h',
      overrides: { delete: false, dryRun: true, dedupe: 'none' },
    });
    expect(row({ pop3_url: 'pop3://a@h' }).problems).toEqual(['imap_url is missing']);
    expect(row({ pop3_url: 'p', imap_url: 'i', colour: 'x' }).problems).toEqual(['unknown column colour']);
    expect(row({ pop3_url: 'p', imap_url: 'i', imap_password: 'x' }).problems[0]).toMatch(/passwords cannot be given in the batch file/);
    expect(row({ pop3_url: 'p', imap_url: 'i', delete: 'maybe' }).problems).toEqual([
      "delete must be yes/no, true/false or 1/0, not 'maybe'",
    ]);
    expect(row({ pop3_url: 'p', imap_url: 'i', dedupe: 'md5' }).problems).toEqual(["dedupe must be one of message-id, none, not 'md5'"]);
    expect(row({ pop3_url: 'p', imap_url: 'i', pop3_password_file: join(dir, 'nope') }).problems[0]).toMatch(
      /cannot read pop3_password_file .*ENOENT/,
    );
    const failing = validateRow(
      {
        line: 2,
        values: new Map([
          ['pop3_url', 'ftp://x'],
          ['imap_url', 'i'],
          ['delete', 'x'],
        ]),
      },
      0,
      columns,
      () => {
        throw new Error('bad URL.');
      },
    );
    expect(failing.problems).toEqual(["delete must be yes/no, true/false or 1/0, not 'x'", 'bad URL']);
  });

  it('--shard K/N: the shards together take every row exactly once', () => {
    for (const n of [1, 2, 3, 5]) {
      const taken = new Map<number, number>();
      for (let k = 1; k <= n; k++) for (let i = 0; i < 17; i++) if (inShard(i, { k, n })) taken.set(i, (taken.get(i) ?? 0) + 1);
      expect([...taken.keys()].sort((a, b) => a - b)).toEqual([...Array(17).keys()]);
      expect([...taken.values()].every((c) => c === 1)).toBe(true);
    }
    expect(parseShard('2/4')).toEqual({ k: 2, n: 4 });
    for (const bad of ['0/2', '3/2', '1/0', 'x', '1-2']) expect(() => parseShard(bad)).toThrow(/--shard must be K\/N/);
  });
});

describe('batch file: files that hold no mailbox are refused (exit 2)', () => {
  const refused = (name: string, text: string): PopliftError => {
    const path = join(dir, name);
    writeFileSync(path, text);
    try {
      readBatchFile(path);
    } catch (err) {
      expect(err).toBeInstanceOf(PopliftError);
      expect((err as PopliftError).exitCode).toBe(ExitCode.USAGE);
      return err as PopliftError;
    }
    throw new Error(`${name} was accepted`);
  };
  it('a JSON object instead of an array', () => {
    expect(refused('object.json', '{"pop3_url": "pop3://a@h", "imap_url": "imap://b@h"}\n').message).toMatch(
      /object\.json is a JSON object; it must be a JSON array of objects, one per mailbox/,
    );
  });
  it('a CSV header without rows, and an empty JSON array', () => {
    expect(refused('header.csv', 'pop3_url,imap_url,folder\n').message).toMatch(/header\.csv has a header row but no mailbox rows/);
    expect(refused('empty.json', '[ ]\n').message).toMatch(/empty\.json is an empty array: it needs one object per mailbox/);
  });
  it('a header naming a column twice, by name', () => {
    expect(refused('twice.csv', 'pop3_url,imap_url,folder,Folder\npop3://a@h,imap://b@h,A,B\n').message).toMatch(
      /twice\.csv names the column 'folder' twice in its header \(columns 3 and 4\)/,
    );
  });
});

describe('batch file: a JSON object naming a key twice (in any case)', () => {
  it('is a bad row naming the key', () => {
    const path = join(dir, 'twice.json');
    writeFileSync(path, '[{"pop3_url": "pop3://a@h", "imap_url": "imap://b@h", "folder": "A", "Folder": "B"}]');
    const [raw] = readBatchFile(path);
    expect(validateRow(raw!, 0, columns, () => undefined).problems).toEqual(["the key 'folder' is given twice"]);
  });
});
