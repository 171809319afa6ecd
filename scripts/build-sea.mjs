// npm run build:sea: builds dist/sea/poplift, a single-file executable for
// this platform (linux-x64 is the one tested): this Node with poplift
// bundled into it, so a host with no suitable Node (or none at all) runs it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'sea');
const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const [major, minor] = process.versions.node.split('.').map(Number);
if (major < 22 || (major === 22 && minor < 12)) {
  console.error(
    `build:sea: needs Node 22.12 or newer to build (the executable embeds the Node that builds it); this is ${process.version}.`,
  );
  process.exit(2);
}

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const bundle = join(out, 'poplift.cjs');
await build({
  entryPoints: [join(root, 'src', 'cli', 'sea-main.ts')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: `node${major}`,
  outfile: bundle,
  define: { POPLIFT_BUNDLED_VERSION: JSON.stringify(version) },
  logLevel: 'warning',
  // main.ts reads package.json through import.meta.url only when the version above is not defined.
  logOverride: { 'empty-import-meta': 'silent' },
});

const config = join(out, 'sea-config.json');
const blob = join(out, 'poplift.blob');
// The V8 flag bin/poplift.js restarts with (process-tuning.ts) is built in: a single executable takes no Node options on its command line.
writeFileSync(
  config,
  JSON.stringify({
    main: bundle,
    output: blob,
    disableExperimentalSEAWarning: true,
    useCodeCache: false,
    execArgv: ['--max-semi-space-size=1'],
  }),
);
execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });

const exe = join(out, 'poplift');
copyFileSync(process.execPath, exe);
chmodSync(exe, 0o755);
try {
  // postject's ELF library warns about note sections it does not know; only a failure is worth showing.
  execFileSync(
    process.execPath,
    [
      join(root, 'node_modules', 'postject', 'dist', 'cli.js'),
      exe,
      'NODE_SEA_BLOB',
      blob,
      '--sentinel-fuse',
      'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
} catch (err) {
  process.stderr.write(String(err.stderr ?? err.message));
  process.exit(1);
}
for (const f of [config, blob, bundle]) rmSync(f);
console.log(`build:sea: ${exe} (poplift ${version} on Node ${process.version}, ${process.platform}-${process.arch})`);
