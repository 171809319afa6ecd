/**
 * The Containerfile, read as a builder reads it (no container engine runs
 * here): known instructions, a build stage and a run stage, sources that
 * exist and are not left out of the build context, npm scripts that exist,
 * and a final image that runs as an unprivileged user.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from '../helpers/working-tree.js';

const INSTRUCTIONS = new Set([
  'FROM',
  'RUN',
  'CMD',
  'LABEL',
  'EXPOSE',
  'ENV',
  'ADD',
  'COPY',
  'ENTRYPOINT',
  'VOLUME',
  'USER',
  'WORKDIR',
  'ARG',
  'ONBUILD',
  'STOPSIGNAL',
  'HEALTHCHECK',
  'SHELL',
]);

function instructions(text: string): Array<{ op: string; args: string }> {
  const logical = text
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n')
    .replace(/\\\n/g, ' ')
    .split('\n')
    .filter((l) => l.trim() !== '');
  return logical.map((l) => {
    const m = /^(\S+)\s+(.*)$/.exec(l.trim());
    if (!m) throw new Error(`not an instruction: ${l}`);
    return { op: m[1]!, args: m[2]! };
  });
}

it('Containerfile: two stages, existing sources and scripts, a non-root user, an exec-form entry point', () => {
  const steps = instructions(readFileSync(join(ROOT, 'Containerfile'), 'utf8'));
  for (const s of steps) expect(INSTRUCTIONS.has(s.op), s.op).toBe(true);
  const froms = steps.filter((s) => s.op === 'FROM').map((s) => s.args);
  expect(froms).toEqual(['debian:12-slim AS build', 'debian:12-slim']);

  const ignored = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '' && !l.startsWith('#'));
  const scripts = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
  const stages = new Set<string>();
  for (const s of steps) {
    const stage = s.op === 'FROM' ? / AS (\S+)$/i.exec(s.args)?.[1] : undefined;
    if (stage !== undefined) stages.add(stage);
    if (s.op === 'COPY') {
      const from = /--from=(\S+)/.exec(s.args)?.[1];
      if (from !== undefined) {
        expect(stages.has(from), from).toBe(true);
        continue;
      }
      const sources = s.args.split(/\s+/).slice(0, -1);
      for (const src of sources) {
        expect(existsSync(join(ROOT, src)), src).toBe(true);
        expect(ignored.includes(src.replace(/\/$/, '')), `${src} is in .dockerignore`).toBe(false);
      }
    }
    if (s.op === 'RUN') for (const m of s.args.matchAll(/npm run (\S+)/g)) expect(scripts[m[1]!], m[1]).toBeDefined();
  }
  const last = steps.slice(steps.map((s) => s.op).lastIndexOf('FROM'));
  const user = last.filter((s) => s.op === 'USER').at(-1)?.args;
  expect(user).toBeDefined();
  expect(['root', '0']).not.toContain(user);
  expect(last.find((s) => s.op === 'COPY')?.args).toBe('--from=build /src/dist/sea/poplift /usr/local/bin/poplift');
  const entry = last.find((s) => s.op === 'ENTRYPOINT')!.args;
  expect(JSON.parse(entry)).toEqual(['/usr/local/bin/poplift']);
});
