/**
 * What `npm pack` ships: what runs (bin/, the compiled JavaScript), the
 * licence and the changelog, and nothing a build leaves beside it: not the
 * single-file executable of `npm run build:sea` (dist/sea/, 124 MiB), not
 * source maps of sources the package does not hold. Packed from a copy
 * with a stand-in dist/, so no build is needed.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

it('npm pack after build:sea lists no dist/sea file and no source map, and stays under 1 MB', () => {
  const dir = mkdtempSync(join(tmpdir(), 'poplift-pack-'));
  for (const f of ['package.json', 'bin/poplift.js', 'README.md', 'LICENSE', 'CHANGELOG.md']) {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(dir, f));
  }
  const put = (f: string, content: string | Buffer) => {
    mkdirSync(dirname(join(dir, f)), { recursive: true });
    writeFileSync(join(dir, f), content);
  };
  put('dist/cli/main.js', 'export {};\n');
  put('dist/cli/main.js.map', '{}\n');
  put('dist/errors.js', 'export {};\n');
  // What build:sea leaves: the executable (random bytes, so that compression cannot hide it).
  put('dist/sea/poplift', randomBytes(3 * 1024 * 1024));
  put('dist/sea/sea-config.json', '{}\n');
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: dir, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  const [pack] = JSON.parse(r.stdout) as Array<{ size: number; files: Array<{ path: string }> }>;
  const files = pack!.files.map((f) => f.path).sort();
  expect(files).toEqual(['CHANGELOG.md', 'LICENSE', 'README.md', 'bin/poplift.js', 'dist/cli/main.js', 'dist/errors.js', 'package.json']);
  expect(pack!.size).toBeLessThan(1_000_000);
});
