/**
 * Flags named in messages below src/cli/ are the CLI's: those written as
 * option('key') come from src/cli/option-hints.ts, and every flag there, and
 * every flag still written out in a string below src/cli/, must be an option
 * of a command, so that renaming an option cannot leave a message naming
 * one that no longer exists.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PassThrough } from 'node:stream';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../src/cli/main.js';
import { OPTION_FLAGS } from '../../src/cli/option-hints.js';
import { option, registerOptionFlags } from '../../src/option-hint.js';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

function cliOptions(): Set<string> {
  const program = buildProgram({ stdout: new PassThrough(), stderr: new PassThrough(), env: {} }, { code: 0, debug: false });
  const names = new Set<string>();
  for (const command of [program, ...program.commands]) {
    for (const o of command.options) if (o.long) names.add(o.long);
  }
  return names;
}

/** Flags (--word) in string literals and template text of src/ outside src/cli/: comments are not read. */
function writtenFlags(): Array<{ where: string; flag: string }> {
  const found: Array<{ where: string; flag: string }> = [];
  for (const file of sources(SRC)) {
    if (relative(SRC, file).startsWith('cli/')) continue;
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node) || ts.isTemplateLiteralToken(node)) {
        for (const m of node.text.matchAll(/(?<![\w-])--[a-z][a-z0-9-]*/g)) {
          found.push({ where: `${relative(SRC, file)}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`, flag: m[0] });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found;
}

describe('flags named below src/cli/', () => {
  const options = cliOptions();

  it('every flag of the hint table is an option of a command', () => {
    expect(options.size).toBeGreaterThan(40);
    expect(Object.values(OPTION_FLAGS).filter((flag) => !options.has(flag))).toEqual([]);
  });

  it('every flag still written out in a string is an option of a command (or one of Node)', () => {
    const node = new Set(['--expose-gc']);
    const unknown = writtenFlags().filter((f) => !options.has(f.flag) && !node.has(f.flag));
    expect(unknown.map((f) => `${f.where} ${f.flag}`)).toEqual([]);
  });

  it('renders a key as the flag the CLI registered, and as a neutral name without a CLI', () => {
    expect(option('timeout')).toBe('--timeout');
    registerOptionFlags({ ...OPTION_FLAGS, timeout: '--wait' });
    try {
      expect(option('timeout')).toBe('--wait');
    } finally {
      registerOptionFlags(OPTION_FLAGS);
    }
  });
});
