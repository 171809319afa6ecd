/**
 * README is the short way in and docs/ the reference: both are checked
 * against what the command line really accepts, and every link between
 * them must lead somewhere.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');
const DOCS = readdirSync(join(ROOT, 'docs'))
  .filter((name) => name.endsWith('.md'))
  .map((name) => `docs/${name}`);

async function helpOf(args: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const code = await run([...args, '--help'], { stdout: out, stderr: new PassThrough(), env: {} });
  expect(code).toBe(0);
  return text;
}

/** The commands `poplift --help` lists, each with the options its own help lists. */
async function commandOptions(): Promise<Map<string, Set<string>>> {
  const top = await helpOf([]);
  const commands = [...top.matchAll(/^ {2}([a-z]+)\b/gm)].map((m) => m[1]!).filter((c) => c !== 'help');
  const table = new Map<string, Set<string>>();
  for (const command of commands) {
    const help = await helpOf([command]);
    table.set(command, new Set([...help.matchAll(/(?<![\w-])--[a-z0-9][a-z0-9-]*/g)].map((m) => m[0])));
  }
  return table;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces made hyphens. */
function slug(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const withoutCode = markdown.replace(/^```[\s\S]*?^```/gm, '');
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1]!)));
}

/** Every `poplift <command> …` invocation in README's code blocks, continuation lines joined. */
function readmeInvocations(): string[] {
  const blocks = [...read('README.md').matchAll(/^```[a-z]*\n([\s\S]*?)^```/gm)].map((m) => m[1]!);
  return blocks
    .flatMap((block) => block.replace(/\\\n/g, ' ').split('\n'))
    .filter((line) => !line.trimStart().startsWith('#'))
    .flatMap((line) => [...line.matchAll(/(?:^|[\s/])poplift ([a-z]+)((?: [^|;&]*)?)/g)].map((m) => `${m[1]!}${m[2]!}`));
}

describe('README and docs/', () => {
  it('README fits on a few screens and starts with a contents list', () => {
    const readme = read('README.md');
    expect(readme.split('\n').length).toBeLessThanOrEqual(300);
    expect(readme).toMatch(/\n## Contents\n/);
  });

  it('every option of every command is documented in docs/usage.md', async () => {
    const usage = read('docs/usage.md');
    const missing: string[] = [];
    for (const [command, options] of await commandOptions())
      for (const option of options) if (option !== '--help' && !usage.includes(`\`${option}`)) missing.push(`${command} ${option}`);
    expect(missing).toEqual([]);
  });

  it("README's commands name real commands and options those commands accept", async () => {
    const table = await commandOptions();
    const invocations = readmeInvocations();
    expect(invocations.length).toBeGreaterThanOrEqual(4);
    const wrong: string[] = [];
    for (const invocation of invocations) {
      const [command = '', ...rest] = invocation.split(' ');
      const options = table.get(command);
      if (options === undefined) {
        wrong.push(`unknown command: ${invocation}`);
        continue;
      }
      for (const word of rest) {
        const option = /^--[a-z0-9-]+/.exec(word)?.[0];
        if (option !== undefined && !options.has(option)) wrong.push(`${command} has no ${option}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('every relative link in README, ARCHITECTURE and docs/ leads to a file and heading that exist', () => {
    const broken: string[] = [];
    for (const file of ['README.md', 'ARCHITECTURE.md', ...DOCS]) {
      const text = read(file).replace(/^```[\s\S]*?^```/gm, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const resolved = path === '' ? join(ROOT, file) : resolve(dirname(join(ROOT, file)), path);
        if (!existsSync(resolved)) {
          broken.push(`${file}: ${target!} (no such file)`);
          continue;
        }
        if (anchor !== undefined && resolved.endsWith('.md') && !anchorsOf(readFileSync(resolved, 'utf8')).has(anchor))
          broken.push(`${file}: ${target!} (no such heading)`);
      }
    }
    expect(broken).toEqual([]);
  });
});
