import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { errorCodeTable } from '../../src/errors.js';

describe('the error code table', () => {
  it('names each code once, and docs/usage.md documents every one with its exit code and advice', () => {
    const codes = errorCodeTable().map((e) => e.code);
    expect(new Set(codes).size).toBe(codes.length);
    const docs = readFileSync(new URL('../../docs/usage.md', import.meta.url), 'utf8');
    // The whole row: meaning, exit code, next step and whether poplift reconnects, as the table has them.
    for (const row of errorCodeTable()) {
      const cure = row.transient ? 'yes: poplift reconnects' : 'no';
      expect(docs, row.code).toContain(`| \`${row.code}\` | ${row.what} | ${row.exit} | ${row.advice} | ${cure} |`);
    }
  });

  it('is the only source of codes: every code a PopliftError is given in src/ is in it', () => {
    const codes = new Set<string>(errorCodeTable().map((e) => e.code));
    const root = fileURLToPath(new URL('../../src/', import.meta.url));
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((name) =>
        statSync(join(dir, name)).isDirectory() ? files(join(dir, name)) : name.endsWith('.ts') ? [join(dir, name)] : [],
      );
    // Node's own errno codes (ECONNRESET, ETIMEDOUT) on socket errors are not poplift's.
    const used = files(root)
      .flatMap((file) => [...readFileSync(file, 'utf8').matchAll(/\bcode: '([A-Z][A-Z0-9_]+)'/g)].map((m) => m[1]!))
      .filter((code) => !/^E[A-Z]+$/.test(code));
    expect(used.length).toBeGreaterThan(10);
    expect(used.filter((code) => !codes.has(code))).toEqual([]);
  });
});
