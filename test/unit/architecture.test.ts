/**
 * The layering ARCHITECTURE.md describes, checked on the source itself:
 * which folder may import which, no import cycles, folders named by what
 * they hold.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
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
});
