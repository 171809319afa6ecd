/**
 * The batch file: CSV with a header row, or a JSON array of objects with the
 * same keys. Columns pop3_url, imap_url and folder, optional
 * pop3_password_file / imap_password_file, and per-row overrides of migrate
 * options (delete, dry_run, flags, mark_seen, ...). Each row remembers the
 * line it starts on, so errors can name it.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { usageError } from '../errors.js';
import { parseBoolean } from './config.js';

export interface RawRow {
  /** 1-based line of the file where the row starts. */
  line: number;
  values: Map<string, string | boolean | number>;
}

export interface BatchRow {
  /** 0-based position among the file's data rows (what --shard counts). */
  index: number;
  line: number;
  pop3Url: string;
  imapUrl: string;
  /** Migrate options set by this row, by commander attribute name (e.g. dryRun). */
  overrides: Record<string, string | boolean>;
}

/** How a row column maps to a migrate option: its attribute name and whether it is a yes/no. */
export interface ColumnSpec {
  attribute: string;
  boolean: boolean;
  choices: readonly string[] | undefined;
}

/** Splits CSV text (RFC 4180: quotes, doubled quotes, line breaks inside quotes) into records with their first line. */
export function parseCsv(text: string): Array<{ line: number; fields: string[] }> {
  const records: Array<{ line: number; fields: string[] }> = [];
  let fields: string[] = [];
  let field = '';
  let quoted = false;
  let line = 1;
  let recordLine = 1;
  let sawAny = false;
  const endRecord = () => {
    fields.push(field);
    const blank = fields.length === 1 && fields[0]!.trim() === '';
    const comment = !blank && fields[0]!.trimStart().startsWith('#');
    if (!blank && !comment) records.push({ line: recordLine, fields });
    fields = [];
    field = '';
    sawAny = false;
  };
  const body = text.startsWith('\ufeff') ? text.slice(1) : text;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (!sawAny) {
      recordLine = line;
      sawAny = true;
    }
    if (quoted) {
      if (c === '"') {
        if (body[i + 1] === '"') {
          field += '"';
          i++;
        } else quoted = false;
      } else {
        if (c === '\n') line++;
        field += c;
      }
      continue;
    }
    if (c === '"' && field.trim() === '') {
      field = '';
      quoted = true;
    } else if (c === ',') {
      fields.push(field);
      field = '';
    } else if (c === '\r' && body[i + 1] === '\n') {
      continue;
    } else if (c === '\n') {
      endRecord();
      line++;
    } else field += c;
  }
  if (quoted) throw usageError(`The batch file has an unclosed quote starting on line ${recordLine}.`);
  if (sawAny) endRecord();
  return records;
}

/** Where each top-level element of a JSON array starts (1-based line). */
function jsonElementLines(text: string): number[] {
  const lines: number[] = [];
  let depth = 0;
  let inString = false;
  let line = 1;
  let expectElement = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '\n') line++;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (/\s/.test(c)) continue;
    if (depth === 1 && expectElement && c !== ']') {
      lines.push(line);
      expectElement = false;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth++;
      if (depth === 1) expectElement = true;
    } else if (c === ']' || c === '}') depth--;
    else if (c === ',' && depth === 1) expectElement = true;
  }
  return lines;
}

/** Reads a batch file into raw rows; a file that cannot be read or parsed at all is a usage error. */
export function readBatchFile(path: string): RawRow[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw usageError(`Cannot read the batch file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}.`);
  }
  if (/^\ufeff?\s*\{/.test(text)) {
    throw usageError(`The batch file ${path} is a JSON object; it must be a JSON array of objects, one per mailbox: wrap it in [ ].`);
  }
  if (/^\s*\[/.test(text)) {
    let data: unknown;
    try {
      data = JSON.parse(text);
    } catch (err) {
      throw usageError(`The batch file ${path} is not valid JSON: ${(err as Error).message}.`);
    }
    if (!Array.isArray(data)) throw usageError(`The batch file ${path} must be a JSON array of objects.`);
    if (data.length === 0) throw usageError(`The batch file ${path} is an empty array: it needs one object per mailbox.`);
    const lines = jsonElementLines(text);
    return data.map((entry, i) => {
      const values = new Map<string, string | boolean | number>();
      const line = lines[i] ?? 0;
      if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
        values.set('\0not-an-object', true);
      } else {
        const keys = new Set<string>();
        for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
          if (keys.has(k.toLowerCase())) values.set('\0duplicate-key', k.toLowerCase());
          keys.add(k.toLowerCase());
          if (v === null || v === undefined) continue;
          values.set(k, typeof v === 'string' || typeof v === 'boolean' || typeof v === 'number' ? v : JSON.stringify(v));
        }
      }
      return { line, values };
    });
  }
  const records = parseCsv(text);
  if (records.length === 0)
    throw usageError(`The batch file ${path} is empty: it needs a header row (pop3_url,imap_url,folder,...) and one row per mailbox.`);
  const header = records[0]!.fields.map((h) => h.trim());
  // Column names are matched without regard to case, so 'folder' and 'Folder' are one column.
  const seen = new Map<string, number>();
  header.forEach((h, i) => {
    const first = seen.get(h.toLowerCase());
    if (first !== undefined && h !== '') {
      throw usageError(
        `The batch file ${path} names the column '${h.toLowerCase()}' twice in its header (columns ${first + 1} and ${i + 1}); keep one.`,
      );
    }
    seen.set(h.toLowerCase(), i);
  });
  if (records.length === 1) {
    throw usageError(`The batch file ${path} has a header row but no mailbox rows: add one row per mailbox below it.`);
  }
  const rows: RawRow[] = [];
  for (const r of records.slice(1)) {
    const values = new Map<string, string | boolean | number>();
    if (r.fields.length > header.length) values.set('\0extra-fields', r.fields.length);
    header.forEach((h, i) => {
      const v = (r.fields[i] ?? '').trim();
      if (v !== '') values.set(h, v);
    });
    rows.push({ line: r.line, values });
  }
  return rows;
}

const REQUIRED = ['pop3_url', 'imap_url'];

/**
 * Checks one raw row against the known columns. `check` validates the row's
 * complete option set (URLs, folder, numbers, flags) the way migrate would.
 */
export function validateRow(
  raw: RawRow,
  index: number,
  columns: Map<string, ColumnSpec>,
  check: (row: BatchRow) => void,
): { row?: BatchRow; problems: string[] } {
  const problems: string[] = [];
  if (raw.values.has('\0not-an-object')) return { problems: ['the entry is not an object'] };
  if (raw.values.has('\0extra-fields')) problems.push('the row has more fields than the header');
  if (raw.values.has('\0duplicate-key')) problems.push(`the key '${String(raw.values.get('\0duplicate-key'))}' is given twice`);
  for (const name of REQUIRED) if (!raw.values.has(name)) problems.push(`${name} is missing`);
  const overrides: Record<string, string | boolean> = {};
  for (const [name, value] of raw.values) {
    if (name.startsWith('\0') || REQUIRED.includes(name)) continue;
    const spec = columns.get(name.toLowerCase());
    if (!spec) {
      problems.push(
        /password$|^password/i.test(name)
          ? `${name}: passwords cannot be given in the batch file; use pop3_password_file / imap_password_file`
          : `unknown column ${name}`,
      );
      continue;
    }
    if (spec.boolean) {
      const b = parseBoolean(value);
      if (b === undefined) problems.push(`${name} must be yes/no, true/false or 1/0, not '${value}'`);
      else overrides[spec.attribute] = b;
    } else {
      const text = String(value);
      if (spec.choices && !spec.choices.includes(text)) problems.push(`${name} must be one of ${spec.choices.join(', ')}, not '${text}'`);
      else overrides[spec.attribute] = text;
    }
  }
  for (const attr of ['pop3PasswordFile', 'imapPasswordFile', 'pop3TokenFile', 'imapTokenFile']) {
    const file = overrides[attr];
    if (typeof file !== 'string') continue;
    try {
      accessSync(file, constants.R_OK);
    } catch (err) {
      problems.push(
        `cannot read ${attr.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)} ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`,
      );
    }
  }
  if (!raw.values.has('pop3_url') || !raw.values.has('imap_url')) return { problems };
  const row: BatchRow = {
    index,
    line: raw.line,
    pop3Url: String(raw.values.get('pop3_url')),
    imapUrl: String(raw.values.get('imap_url')),
    overrides,
  };
  try {
    // Checked even when a column was bad, so one pass reports everything wrong with the row.
    check(row);
  } catch (err) {
    problems.push((err as Error).message.replace(/\.$/, ''));
  }
  return problems.length > 0 ? { problems } : { row, problems };
}

/** Parses --shard K/N (1 <= K <= N). */
export function parseShard(text: string): { k: number; n: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  const k = m ? Number(m[1]) : NaN;
  const n = m ? Number(m[2]) : NaN;
  if (!m || n < 1 || k < 1 || k > n) throw usageError(`--shard must be K/N with 1 <= K <= N (e.g. 1/4), not '${text}'.`);
  return { k, n };
}

/** Whether a row index belongs to this shard: mod N equals K-1 (batch passes the first row of a group sharing a mailbox). */
export function inShard(index: number, shard: { k: number; n: number } | undefined): boolean {
  return shard === undefined || index % shard.n === shard.k - 1;
}
