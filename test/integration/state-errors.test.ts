/**
 * The state directory failing under a run: read-only, full, a path no
 * directory can be made at. Each must end in one line saying what to do and
 * exit 2, never "unexpected error", and never hang. A read-only or full file
 * system is made for real, in a private mount namespace (unshare -m) where
 * the machine allows it.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readdirSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/child-run.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder, readPop3 } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';

const canUnshare = process.platform === 'linux' && spawnSync('unshare', ['-m', 'true']).status === 0;
const env = {
  PATH: process.env.PATH ?? '',
  POPLIFT_POP3_PASSWORD: 'p',
  POPLIFT_IMAP_PASSWORD: 'i',
  HOME: mkdtempSync(join(tmpdir(), 'poplift-state-errors-home-')),
};
// Port 1: nothing listens, and nothing should be reached before the state directory fails.
const migrate = ['migrate', 'pop3://alice@127.0.0.1:1', 'imap://bob@127.0.0.1:1', '--folder', 'X'];

function run(
  command: string,
  args: string[],
  timeoutMs = 20_000,
  extraEnv: Record<string, string> = {},
): Promise<{ code: number | string; stderr: string; ms: number }> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, { env: { ...env, ...extraEnv }, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal!, stderr, ms: Date.now() - t0 });
    });
  });
}

/** Runs poplift with a tmpfs at $D prepared by `setup` (shell), in a mount namespace of its own. */
function runWithMount(setup: string, args: string[], extraEnv: Record<string, string> = {}) {
  const d = mkdtempSync(join(tmpdir(), 'poplift-mnt-'));
  const script = `set -e; D=${JSON.stringify(d)}; ${setup}; exec "$0" "$@"`;
  return run('unshare', ['-m', 'sh', '-c', script, process.execPath, BIN, ...args.map((a) => a.replaceAll('$D', d))], 60_000, extraEnv);
}

describe('state directory errors: one line, exit 2', () => {
  it('--state-dir /proc/x fails at once instead of spinning', async () => {
    const r = await run(process.execPath, [BIN, ...migrate, '--state-dir', '/proc/x']);
    expect(r.code, r.stderr).toBe(2);
    expect(r.ms).toBeLessThan(10_000);
    expect(r.stderr).toBe(
      'poplift: Cannot use the state directory /proc/x (ENOENT): it does not exist and cannot be created there; choose another --state-dir.\n',
    );
  });

  it.skipIf(!canUnshare)('a read-only state directory (EROFS)', async () => {
    const r = await runWithMount('mount -t tmpfs -o size=1m tmpfs "$D"; mkdir -m 700 "$D/state"; mount -o remount,ro "$D"', [
      ...migrate,
      '--state-dir',
      '$D/state',
    ]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^poplift: Cannot create the lock .* \(EROFS\): the file system is read-only; choose a writable --state-dir\.$/m,
    );
  });

  it.skipIf(!canUnshare)('a full disk under the state directory (ENOSPC)', async () => {
    const r = await runWithMount(
      'mount -t tmpfs -o size=64k tmpfs "$D"; mkdir -m 700 "$D/state"; dd if=/dev/zero of="$D/fill" bs=4k 2>/dev/null || true',
      [...migrate, '--state-dir', '$D/state'],
    );
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(
      /^poplift: Cannot create the lock .* \(ENOSPC\): the disk \(or your quota\) is full; free some space and run poplift again \(what is done is kept\)\.$/m,
    );
  });
});

describe('a state directory poplift does not trust: one line, exit 2, nothing written or chmodded', () => {
  it('--state-dir naming a symbolic link to another directory', async () => {
    const target = mkdtempSync(join(tmpdir(), 'poplift-link-target-'));
    chmodSync(target, 0o755);
    const link = join(mkdtempSync(join(tmpdir(), 'poplift-link-')), 'state');
    symlinkSync(target, link);
    const r = await run(process.execPath, [BIN, ...migrate, '--state-dir', link]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toBe(
      `poplift: Cannot use the state directory ${link}: it is a symbolic link, which poplift does not follow there; name the directory itself with --state-dir.\n`,
    );
    expect(statSync(target).mode & 0o777).toBe(0o755);
    expect(readdirSync(target)).toEqual([]);
  });

  it.skipIf(process.getuid?.() !== 0)('run as root, a state directory another user owns (mode 0777)', async () => {
    const d = mkdtempSync(join(tmpdir(), 'poplift-foreign-'));
    chownSync(d, 65534, 65534);
    chmodSync(d, 0o777);
    const r = await run(process.execPath, [BIN, ...migrate, '--state-dir', d]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /^poplift: Cannot use the state directory .*: it belongs to another user \(uid 65534\), who could change its journals and locks; use a directory of your own \(--state-dir\)\.\n$/,
    );
    expect(statSync(d).mode & 0o777).toBe(0o777);
    expect(readdirSync(d)).toEqual([]);
  });
});

describeIntegration('state directory full in the middle of a run', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    alice = dovecot.addUser('alice', 'pw');
    bob = dovecot.addUser('bob', 'pw');
    for (let i = 1; i <= 5; i++) {
      dovecot.deliver(alice, Buffer.from(`From: a@x\r\nSubject: full ${i}\r\nMessage-ID: <full-${i}@x>\r\n\r\nBody ${i}\r\n`));
    }
  }, 60_000);
  afterAll(async () => {
    await dovecot?.stop();
  });

  it.skipIf(!canUnshare)('the journal cannot be written: one line, exit 2, nothing deleted; the next run finishes', async () => {
    const args = [
      'migrate',
      `pop3://alice@127.0.0.1:${dovecot.ports.pop3}`,
      `imap://bob@127.0.0.1:${dovecot.ports.imap}`,
      '--folder',
      'Full',
      '--delete',
      '--state-dir',
      '$D/state',
    ];
    const passwords = { POPLIFT_POP3_PASSWORD: 'pw', POPLIFT_IMAP_PASSWORD: 'pw' };
    // Full but for one page: room for the lock, none for the journal.
    const r = await runWithMount(
      'mount -t tmpfs -o size=64k tmpfs "$D"; mkdir -m 700 "$D/state"; dd if=/dev/zero of="$D/fill" bs=4k 2>/dev/null || true; truncate -s -4096 "$D/fill"',
      args,
      passwords,
    );
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(
      /^poplift: Cannot write the journal .* \(ENOSPC\): the disk \(or your quota\) is full; free some space and run poplift again \(what is done is kept\)\.$/m,
    );
    expect(r.stderr).not.toMatch(/unexpected error/);
    expect(await readPop3(dovecot, alice)).toHaveLength(5);
    const again = await run(
      process.execPath,
      [BIN, ...args.map((a) => a.replace('$D/state', mkdtempSync(join(tmpdir(), 'poplift-full-again-'))))],
      60_000,
      passwords,
    );
    expect(again.code, again.stderr).toBe(0);
    // Found on the destination by the next run, not uploaded twice.
    expect(await readImapFolder(dovecot, bob, 'Full')).toHaveLength(5);
  });
});
