/**
 * The layering ARCHITECTURE.md describes, checked on the source itself:
 * which folder may import which, no import cycles, folders named by what
 * they hold.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '../../src');

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

/** Each source file (relative to src/) with the src files it imports at run time or for types. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    const targets: string[] = [];
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.{1,2}\/[^']+)'/g)) {
      targets.push(relative(SRC, resolve(dirname(file), m[1]!.replace(/\.js$/, '.ts'))));
    }
    graph.set(relative(SRC, file), targets);
  }
  return graph;
}

/** Folders (layers) each layer may import from; a file may always import its own folder. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  '.': [],
  message: ['.'],
  store: ['.', 'message'],
  state: ['.', 'message', 'store'],
  engine: ['.', 'message', 'store', 'state'],
  pop3: ['.', 'message', 'store'],
  imap: ['.', 'message', 'store'],
  oauth: ['.', 'state'],
  cli: ['.', 'message', 'store', 'state', 'engine', 'pop3', 'imap', 'oauth'],
};

/** Lines (from its first token to its last) of each top-level function, arrow function and class member of `file`. */
function functionLengths(file: string): Array<{ name: string; lines: number }> {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const lineOf = (pos: number) => source.getLineAndCharacterOfPosition(pos).line;
  const found: Array<{ name: string; lines: number }> = [];
  const add = (name: string, node: ts.Node) =>
    found.push({ name: `${relative(SRC, file)} ${name}`, lines: lineOf(node.getEnd()) - lineOf(node.getStart(source)) + 1 });
  const isFunction = (node: ts.Node | undefined) => node !== undefined && (ts.isArrowFunction(node) || ts.isFunctionExpression(node));
  for (const statement of source.statements) {
    if (ts.isFunctionDeclaration(statement)) add(statement.name?.text ?? 'default', statement);
    else if (ts.isVariableStatement(statement)) {
      for (const d of statement.declarationList.declarations) if (isFunction(d.initializer)) add(d.name.getText(source), d);
    } else if (ts.isClassDeclaration(statement)) {
      for (const member of statement.members) {
        const isMethod = ts.isMethodDeclaration(member) || ts.isConstructorDeclaration(member) || ts.isAccessor(member);
        if (isMethod || (ts.isPropertyDeclaration(member) && isFunction(member.initializer)))
          add(`${statement.name?.text ?? 'class'}.${member.name?.getText(source) ?? 'constructor'}`, member);
      }
    }
  }
  return found;
}

/**
 * Identifiers of `file` that name a protocol (POP3, IMAP). Texts are not
 * identifiers; nor are the public JSON fields `pop3` and `imap`, whose names
 * stay.
 */
function protocolNames(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if (ts.isIdentifier(node) && /pop3|imap/i.test(node.text)) {
      const field = (ts.isPropertySignature(node.parent) || ts.isPropertyAssignment(node.parent)) && /^(pop3|imap)$/.test(node.text);
      if (!field) found.push(`${relative(SRC, file)}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1} ${node.text}`);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

/** Folders whose files are held to 500 lines (the others join once they are split). */
const SPLIT_FOLDERS = ['engine'];

/** Lines of `file`, as wc -l counts them. */
function lineCount(file: string): number {
  return readFileSync(file, 'utf8').split('\n').length - 1;
}

const layerOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

describe('source layout', () => {
  const graph = importGraph();

  it('has one folder per layer, none of them named target', () => {
    const folders = new Set([...graph.keys()].map(layerOf));
    expect([...folders].sort()).toEqual(Object.keys(MAY_IMPORT).sort());
  });

  it('lets each layer import only the layers below it: the engine knows no driver', () => {
    const breaches: string[] = [];
    for (const [file, targets] of graph) {
      const allowed = new Set([layerOf(file), ...MAY_IMPORT[layerOf(file)]!]);
      for (const target of targets) if (!allowed.has(layerOf(target))) breaches.push(`${file} -> ${target}`);
    }
    expect(breaches).toEqual([]);
  });

  it('has no import cycle', () => {
    const cycles: string[] = [];
    const state = new Map<string, 'visiting' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'visiting') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' -> '));
        return;
      }
      state.set(file, 'visiting');
      for (const target of graph.get(file) ?? []) visit(target, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of graph.keys()) visit(file, []);
    expect(cycles).toEqual([]);
  });

  // The engine is read step by step: a run's state is one object, each step a function of its own.
  it('has no function over 80 lines in src/engine/, and no file over 500 lines in the folders split so far', () => {
    const long = sources(join(SRC, 'engine'))
      .flatMap(functionLengths)
      .filter((f) => f.lines > 80);
    expect(long.map((f) => `${f.name}: ${f.lines} lines`)).toEqual([]);
    const big = SPLIT_FOLDERS.flatMap((folder) => sources(join(SRC, folder))).filter((file) => lineCount(file) > 500);
    expect(big.map((file) => `${relative(SRC, file)}: ${lineCount(file)} lines`)).toEqual([]);
  });

  it('names the sides source and destination in src/engine/, never by protocol', () => {
    expect(sources(join(SRC, 'engine')).flatMap(protocolNames)).toEqual([]);
  });
});

/** Files that import a package (value or type), relative to src/. */
function importersOf(pkg: string): string[] {
  return sources(SRC)
    .filter((file) => new RegExp(`(?:from|import)\\s*\\(?\\s*'${pkg}'`).test(readFileSync(file, 'utf8')))
    .map((file) => relative(SRC, file))
    .sort();
}

describe('third-party internals', () => {
  // imapflow's private members poplift relies on (imapflow-adapter.ts) and those next to them.
  const IMAPFLOW_PRIVATE =
    /\.(?:run|exec|folders|socket|commands|requestTagMap|requestQueue|runInternal|preCheck|writeSocket|bytesRead)\b|\bas unknown as\b/;

  it('imports imapflow only in the adapter and the files that use its public API', () => {
    expect(importersOf('imapflow')).toEqual([
      'imap/folder-commands.ts',
      'imap/folder-flags.ts',
      'imap/imap-control-connection.ts',
      'imap/imap-target.ts',
      'imap/imapflow-adapter.ts',
    ]);
  });

  it("touches imapflow's private members only in imapflow-adapter.ts", () => {
    const breaches: string[] = [];
    for (const file of importersOf('imapflow')) {
      if (file === 'imap/imapflow-adapter.ts') continue;
      readFileSync(join(SRC, file), 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (IMAPFLOW_PRIVATE.test(line.replace(/\/\/.*$|^\s*\*.*$/, ''))) breaches.push(`${file}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(breaches).toEqual([]);
  });

  it('finds a reach into imapflow where the check looks for one', () => {
    const adapter = readFileSync(join(SRC, 'imap/imapflow-adapter.ts'), 'utf8');
    for (const member of ['run', 'exec', 'folders', 'socket', 'commands']) expect(adapter).toMatch(new RegExp(`\\.${member}\\b`));
    expect(adapter).toMatch(IMAPFLOW_PRIVATE);
  });

  it("imports node-pop3, and touches its private members (named with '_'), only in node-pop3-socket.ts", () => {
    expect(importersOf('node-pop3')).toEqual(['pop3/node-pop3-socket.ts']);
    const breaches = sources(SRC)
      .filter(
        (file) =>
          relative(SRC, file) !== 'pop3/node-pop3-socket.ts' &&
          /\._(?:socket|connect|command|pushStream|updateStream|stream)\b/.test(readFileSync(file, 'utf8')),
      )
      .map((file) => relative(SRC, file));
    expect(breaches).toEqual([]);
    expect(readFileSync(join(SRC, 'pop3/node-pop3-socket.ts'), 'utf8')).toMatch(/\._socket\b/);
  });
});
