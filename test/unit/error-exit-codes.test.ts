/**
 * The exit code of an error is its code's row in errors.ts's table. Every
 * `new PopliftError(...)` in src/ is read with the TypeScript parser: the
 * codes it may carry are resolved (a literal, a choice of literals,
 * `${side}_TLS`, Pop3ErrorCode.X), and an exit code still written at the
 * site (redundant, kept where other work edits the file) must be the row's.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { ErrorCode, ExitCode, PopliftError, errorCodeTable, exitCodeOf, type ErrorCodeValue } from '../../src/errors.js';
import { Pop3ErrorCode } from '../../src/pop3/pop3-errors.js';
import { runStatus } from '../../src/cli/json-result.js';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

interface ThrowSite {
  where: string;
  codes: string[];
  /** The ExitCode member written at the site, if any. */
  exitCode: string | undefined;
}

/** The codes an expression may evaluate to; undefined when it cannot be told from the text. */
function codesOf(node: ts.Expression): string[] | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return [node.text];
  if (ts.isParenthesizedExpression(node)) return codesOf(node.expression);
  if (ts.isConditionalExpression(node)) {
    const a = codesOf(node.whenTrue);
    const b = codesOf(node.whenFalse);
    return a && b ? [...a, ...b] : undefined;
  }
  if (ts.isPropertyAccessExpression(node)) {
    const table = node.expression.getText();
    const name = node.name.text;
    if (table === 'Pop3ErrorCode') return [Pop3ErrorCode[name as keyof typeof Pop3ErrorCode]];
    if (table === 'ErrorCode') return [ErrorCode[name as ErrorCodeValue]];
    return undefined;
  }
  // `${side}_TLS`: each side's.
  if (ts.isTemplateExpression(node) && node.head.text === '' && node.templateSpans.length === 1) {
    const tail = node.templateSpans[0]!.literal.text;
    return ['POP3', 'IMAP'].map((side) => side + tail);
  }
  return undefined;
}

function throwSites(): ThrowSite[] {
  const sites: ThrowSite[] = [];
  for (const file of sources(SRC)) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (node: ts.Node): void => {
      if (ts.isNewExpression(node) && node.expression.getText() === 'PopliftError') {
        const where = `${relative(SRC, file)}:${sf.getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
        const options = node.arguments?.[1];
        let codes: string[] | undefined;
        let exitCode: string | undefined;
        if (options && ts.isObjectLiteralExpression(options)) {
          for (const p of options.properties) {
            if (!ts.isPropertyAssignment(p)) continue;
            if (p.name.getText() === 'code') codes = codesOf(p.initializer);
            if (p.name.getText() === 'exitCode') exitCode = p.initializer.getText().replace(/^ExitCode\./, '');
          }
        }
        if (codes === undefined) throw new Error(`${where}: the code of this PopliftError cannot be read from the source`);
        sites.push({ where, codes, exitCode });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return sites;
}

describe('exit codes come from the error table', () => {
  const sites = throwSites();

  it('reads every PopliftError created in src/', () => {
    expect(sites.length).toBeGreaterThan(60);
  });

  it('gives every code used at a throw site a row', () => {
    const known = new Set<string>(errorCodeTable().map((r) => r.code));
    expect(sites.flatMap((s) => s.codes.filter((c) => !known.has(c)).map((c) => `${s.where} ${c}`))).toEqual([]);
  });

  it('has one exit code per code: an exit code written at a site is the one the row gives', () => {
    const seen = new Map<string, Set<string>>();
    for (const s of sites) {
      if (s.exitCode === undefined) continue;
      for (const code of s.codes) {
        if (!seen.has(code)) seen.set(code, new Set());
        seen.get(code)!.add(s.exitCode);
      }
    }
    const twice = [...seen].filter(([, exits]) => exits.size > 1).map(([code, exits]) => `${code}: ${[...exits].join(', ')}`);
    expect(twice).toEqual([]);
    const wrong = sites.flatMap((s) =>
      s.exitCode === undefined
        ? []
        : s.codes
            .filter((code) => ExitCode[s.exitCode as keyof typeof ExitCode] !== exitCodeOf(code as ErrorCodeValue))
            .map((code) => `${s.where}: ${code} written as ${s.exitCode}, its row says ${exitCodeOf(code as ErrorCodeValue)}`),
    );
    expect(wrong).toEqual([]);
  });

  it('makes the error exit as its row says, whatever a call site still passes', () => {
    for (const row of errorCodeTable()) {
      expect(new PopliftError('x', { code: row.code }).exitCode, row.code).toBe(row.exit);
      expect(new PopliftError('x', { code: row.code, exitCode: ExitCode.OK }).exitCode, row.code).toBe(row.exit);
    }
  });

  it('gives every row an exit code of a failure, a status in the JSON vocabulary and a next step', () => {
    for (const row of errorCodeTable()) {
      expect(row.exit, row.code).not.toBe(ExitCode.OK);
      expect(runStatus(row.exit), row.code).not.toBe('ok');
      expect(row.advice.length, row.code).toBeGreaterThan(5);
    }
  });
});
