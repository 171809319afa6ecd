/**
 * The state directory failing under a run: read-only, full, a path no
 * directory can be made at. Each must end in one line saying what to do and
 * exit 2, never "unexpected error", and never hang. A read-only or full file
 * system is made for real, in a private mount namespace (unshare -m) where
 * the machine allows it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/child-run.js';

const canUnshare = process.platform === 'linux' && spawnSync('unshare', ['-m', 'true']).status === 0;
const env = { PATH: process.env.PATH ?? '', POPLIFT_POP3_PASSWORD: 'p', POPLIFT_IMAP_PASSWORD: 'i', HOME: mkdtempSync(join(tmpdir(), 'poplift-state-errors-home-')) };
// Port 1: nothing listens, and nothing should be reached before the state directory fails.
const migrate = ['migrate', 'pop3://alice@127.0.0.1:1', 'imap://bob@127.0.0.1:1', '--folder', 'X'];

function run(command: string, args: string[], timeoutMs = 20_000): Promise<{ code: number | string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal!, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Runs poplift with a tmpfs at $D prepared by `setup` (shell), in a mount namespace of its own. */
function runWithMount(setup: string, args: string[]) {
  const d = mkdtempSync(join(tmpdir(), 'poplift-mnt-'));
  const script = `set -e; D=${JSON.stringify(d)}; ${setup}; exec "$0" "$@"`;
  return run('unshare', ['-m', 'sh', '-c', script, process.execPath, BIN, ...args.map((a) => a.replaceAll('$D', d))]);
}

describe('state directory errors: one line, exit 2', () => {
  it('--state-dir /proc/x fails at once instead of spinning', async () => {
    const r = await run(process.execPath, [BIN, ...migrate, '--state-dir', '/proc/x']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.ms).toBeLessThan(10_000);
    expect(r.stderr).toBe('poplift: Cannot use the state directory /proc/x (ENOENT): it does not exist and cannot be created there; choose another --state-dir.\n');
  });

  it.skipIf(!canUnshare)('a read-only state directory (EROFS)', async () => {
    const r = await runWithMount('mount -t tmpfs -o size=1m tmpfs "$D"; mkdir -m 700 "$D/state"; mount -o remount,ro "$D"', [...migrate, '--state-dir', '$D/state']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^poplift: Cannot create the lock .* \(EROFS\): the file system is read-only; choose a writable --state-dir\.$/m);
  });

  it.skipIf(!canUnshare)('a full disk under the state directory (ENOSPC)', async () => {
    const r = await runWithMount('mount -t tmpfs -o size=64k tmpfs "$D"; mkdir -m 700 "$D/state"; dd if=/dev/zero of="$D/fill" bs=4k 2>/dev/null || true', [...migrate, '--state-dir', '$D/state']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^poplift: Cannot create the lock .* \(ENOSPC\): the disk \(or your quota\) is full; free some space and run poplift again \(what is done is kept\)\.$/m);
  });
});
