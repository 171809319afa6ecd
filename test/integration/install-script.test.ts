/**
 * scripts/install.sh as README gives it, on a machine like a stock Debian:
 * the node on the PATH is too old for poplift (the machine's /usr/bin/node),
 * HOME is empty. It must end with a plain `poplift` on the PATH that runs
 * without the clone. npm's cache and settings are the real ones, so no
 * package is fetched twice.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cloneWorkingTree, ROOT } from '../helpers/working-tree.js';

const VERSION = (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;
/** What a login shell on Debian has, with ~/.local/bin added as its ~/.profile does. */
const SYSTEM_PATH = '/usr/bin:/bin';

function run(command: string, args: string[], env: Record<string, string>, cwd: string) {
  const r = spawnSync(command, args, { cwd, env, encoding: 'utf8', timeout: 900_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

function nodeVersion(node: string): number[] {
  return spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim().split('.').map(Number);
}

const oldNode = '/usr/bin/node';
const machineNodeTooOld = existsSync(oldNode) && ((v) => v[0]! < 22 || (v[0] === 22 && v[1]! < 12))(nodeVersion(oldNode));

describe('scripts/install.sh: a plain poplift on the PATH of a machine whose node is too old', () => {
  const work = mkdtempSync(join(tmpdir(), 'poplift-install-sh-'));
  const clone = join(work, 'clone');
  const home = join(work, 'home');
  mkdirSync(home);
  const realHome = homedir();
  // A person's environment (proxy, CA certificates) without what npm and vitest set for this run.
  const personal = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(npm_|vitest|init_cwd$|node_options$|node_env$|poplift_)/i.test(k)),
  ) as Record<string, string>;
  const env = {
    ...personal,
    HOME: home,
    PATH: SYSTEM_PATH,
    // The real npm cache and settings: nothing fetched twice.
    npm_config_cache: join(realHome, '.npm'),
    NPM_CONFIG_USERCONFIG: join(realHome, '.npmrc'),
  };
  const userPath = `${home}/.local/bin:${SYSTEM_PATH}`;

  it.skipIf(!machineNodeTooOld)(
    `with ${oldNode} first on the PATH: installs a private Node, and poplift --version runs from anywhere, the clone gone; a second run updates in place`,
    () => {
      cloneWorkingTree(clone);
      chmodSync(join(clone, 'scripts/install.sh'), 0o755);
      const first = run(join(clone, 'scripts/install.sh'), [], env, clone);
      expect(first.code, first.stderr).toBe(0);
      expect(first.stderr).toMatch(/installing a private Node 24/);
      expect(first.stderr).toMatch(/installed poplift .* as .*\/\.local\/bin\/poplift/);
      const launcher = join(home, '.local/bin/poplift');
      expect(statSync(launcher).mode & 0o777).toBe(0o755);

      // Elsewhere, with the machine's node first on the PATH and the clone gone: plain `poplift`.
      const again = join(work, 'clone-2');
      cloneWorkingTree(again);
      rmSync(clone, { recursive: true });
      const version = run('/bin/sh', ['-c', 'command -v node && poplift --version'], { HOME: home, PATH: userPath }, home);
      expect(version).toMatchObject({ code: 0, stdout: `${oldNode}\n${VERSION}\n`, stderr: '' });
      // What it runs is the copy under ~/.local/share/poplift, whose dist has no executable and no maps.
      expect(readFileSync(launcher, 'utf8')).toContain(`${home}/.local/share/poplift/app/bin/poplift.js`);
      expect(existsSync(join(home, '.local/share/poplift/app/node_modules/commander'))).toBe(true);
      expect(existsSync(join(home, '.local/share/poplift/app/node_modules/vitest'))).toBe(false);

      // Idempotent: run again from another clone, the private Node is reused, poplift still runs.
      const second = run('/bin/sh', [join(again, 'scripts/install.sh')], env, home);
      expect(second.code, second.stderr).toBe(0);
      expect(second.stderr).toMatch(/using the private .*node \(v24\./);
      expect(second.stderr).not.toMatch(/installing a private Node/);
      expect(run('poplift', ['--version'], { HOME: home, PATH: userPath }, home)).toMatchObject({ code: 0, stdout: `${VERSION}\n` });
      // A usage error, to see poplift itself (not only its version) runs on the private Node.
      const usage = run('poplift', ['migrate'], { HOME: home, PATH: userPath }, home);
      expect(usage.code).toBe(2);
      expect(usage.stderr).toMatch(/^poplift: missing required argument/);
    },
    1_200_000,
  );

  it('without npm: one line saying what to install, exit 2, nothing installed', () => {
    const bare = join(work, 'bare');
    cloneWorkingTree(bare);
    // A PATH with the tools the script uses before its npm check, and no npm (nor node).
    const tools = join(work, 'tools');
    mkdirSync(tools);
    for (const t of ['dirname']) symlinkSync(`/usr/bin/${t}`, join(tools, t));
    const home2 = join(work, 'home-bare');
    mkdirSync(home2);
    copyFileSync('/bin/sh', join(tools, 'sh'));
    const r = run(join(tools, 'sh'), [join(bare, 'scripts/install.sh')], { HOME: home2, PATH: tools }, home2);
    expect(r).toMatchObject({ code: 2, stdout: '' });
    expect(r.stderr).toBe('install: npm is needed to build poplift; on Debian or Ubuntu: sudo apt-get install npm (then run this again)\n');
    expect(existsSync(join(home2, '.local'))).toBe(false);
  });
});
