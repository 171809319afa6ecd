import { spawn, type ChildProcess } from 'node:child_process';
import {
  appendFileSync,
  chmodSync,
  existsSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ExitCode, PopliftError } from '../../src/errors.js';
import { JournalWriter, loadJournal } from '../../src/state/journal.js';
import { MailboxLock, processStartTime } from '../../src/state/lock.js';
import { MachineLock } from '../../src/state/machine-lock.js';
import { canonicalAddress, mailboxIdentity } from '../../src/state/mailbox-identity.js';
import { ensureStateDirectory, stateDirectory, stateFsError, stateName } from '../../src/state/state-dir.js';

const dir = () => mkdtempSync(join(tmpdir(), 'poplift-state-test-'));

describe('state directory', () => {
  it('follows XDG_STATE_HOME, then HOME, unless given', () => {
    expect(stateDirectory(undefined, { XDG_STATE_HOME: '/x/state', HOME: '/home/a' })).toBe('/x/state/poplift');
    expect(stateDirectory(undefined, { HOME: '/home/a' })).toBe('/home/a/.local/state/poplift');
    expect(stateDirectory('/explicit', { XDG_STATE_HOME: '/x' })).toBe('/explicit');
  });
  it('is created 0700', () => {
    const d = join(dir(), 'nested', 'poplift');
    ensureStateDirectory(d);
    expect(statSync(d).mode & 0o777).toBe(0o700);
  });
  it('names files by a hash that does not reveal the account', () => {
    expect(stateName('alice@pop.example:995')).toMatch(/^[0-9a-f]{24}$/);
    expect(stateName('a', 'b')).not.toBe(stateName('a', 'c'));
  });
});

describe('journal', () => {
  it('records outcomes, is 0600, and reloads them', () => {
    const path = join(dir(), 'j.journal');
    const w = new JournalWriter(path);
    w.add({ t: 'appended', uidl: 'u1', key: 'mid:a@b', size: 10, uid: 5, uidValidity: '77' });
    w.add({ t: 'confirmed' });
    w.add({ t: 'duplicate', uidl: 'u2', key: 'mid:c@d', size: 11, sizeDiffers: true });
    w.add({ t: 'failed', uidl: 'u3', reason: 'NO' });
    w.add({ t: 'folder', uidValidity: '77', uidNext: 6, at: 'now' });
    w.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const s = loadJournal(path);
    expect(s.done.get('u1')).toMatchObject({ outcome: 'appended', uid: 5, uidValidity: '77' });
    expect(s.done.get('u2')).toMatchObject({ outcome: 'duplicate', sizeDiffers: true });
    expect(s.done.has('u3')).toBe(false);
    expect(s.folder).toEqual({ uidValidity: '77', uidNext: 6 });
    expect(s.badLines).toBe(0);
  });

  it('trusts an upload only once a later confirmation proved it, and never one recorded missing', () => {
    const path = join(dir(), 'j.journal');
    const w = new JournalWriter(path);
    w.add({ t: 'appended', uidl: 'u1', key: 'k1', size: 1 });
    w.add({ t: 'appended', uidl: 'u2', key: 'k2', size: 2 });
    w.add({ t: 'missing', uidl: 'u2' });
    w.add({ t: 'confirmed' });
    w.add({ t: 'appended', uidl: 'u3', key: 'k3', size: 3 });
    w.close();
    const s = loadJournal(path);
    expect([...s.done.keys()]).toEqual(['u1']);
  });

  it('tolerates a torn last line and does not let it swallow the next entry', () => {
    const path = join(dir(), 'j.journal');
    writeFileSync(
      path,
      `${JSON.stringify({ t: 'appended', uidl: 'u1', key: 'k1', size: 1 })}\n{"t":"confirmed"}\n{"t":"appended","uidl":"u2","ke`,
    );
    expect(loadJournal(path).done.size).toBe(1);
    expect(loadJournal(path).badLines).toBe(0);
    const w = new JournalWriter(path);
    w.add({ t: 'appended', uidl: 'u3', key: 'k3', size: 3 });
    w.add({ t: 'confirmed' });
    w.close();
    const s = loadJournal(path);
    expect([...s.done.keys()]).toEqual(['u1', 'u3']);
    // The torn line is now in the middle: counted, not fatal.
    expect(s.badLines).toBe(1);
  });

  it('forgets deleted messages', () => {
    const path = join(dir(), 'j.journal');
    appendFileSync(
      path,
      `${JSON.stringify({ t: 'appended', uidl: 'u1', key: 'k', size: 1 })}\n${JSON.stringify({ t: 'deleted', uidl: 'u1' })}\n`,
    );
    const s = loadJournal(path);
    expect(s.done.has('u1')).toBe(false);
    expect(s.deleted.has('u1')).toBe(true);
  });

  it('skips a line that parses but is no entry (null, a number, an array) like a torn line', () => {
    const path = join(dir(), 'j.journal');
    const ok = (uidl: string) => JSON.stringify({ t: 'appended', uidl, key: 'k', size: 1 });
    writeFileSync(path, `${ok('u1')}\nnull\n42\n[1]\n"text"\n${ok('u2')}\n{"t":"confirmed"}\nnull\n`);
    const s = loadJournal(path);
    expect([...s.done.keys()]).toEqual(['u1', 'u2']);
    // The four in the middle are counted (their messages are checked again); a bad last line is taken as torn.
    expect(s.badLines).toBe(4);
  });

  it('a directory where the journal should be: one line saying what to do, exit 2', () => {
    const path = join(dir(), 'j.journal');
    mkdirSync(path);
    const fail = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        return err as PopliftError;
      }
      throw new Error('no error');
    };
    for (const err of [
      fail(() => loadJournal(path)),
      fail(() => {
        const w = new JournalWriter(path);
        w.add({ t: 'deleted', uidl: 'u' });
        w.flush();
      }),
    ]) {
      expect(err).toBeInstanceOf(PopliftError);
      expect(err.exitCode).toBe(ExitCode.USAGE);
      expect(err.message).toMatch(
        new RegExp(
          `journal ${path} in the state directory \\(EISDIR\\): a directory is in the way; remove it or choose another --state-dir\\.$`,
        ),
      );
    }
  });

  it('a full disk while writing the journal: one line saying to free space, exit 2', () => {
    const w = new JournalWriter('/dev/full');
    w.add({ t: 'deleted', uidl: 'u' });
    let err: unknown;
    try {
      w.flush();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PopliftError);
    expect((err as PopliftError).exitCode).toBe(ExitCode.USAGE);
    expect((err as Error).message).toMatch(/\(ENOSPC\): the disk \(or your quota\) is full; free some space and run poplift again/);
  });

  it('maps EFBIG, EROFS and EACCES to what to do', () => {
    const e = (code: string) => Object.assign(new Error(code), { code });
    expect(stateFsError(e('EFBIG'), '/s/j', 'write the journal').message).toMatch(/\(EFBIG\): the disk \(or your quota\) is full/);
    expect(stateFsError(e('EROFS'), '/s/j', 'write the journal').message).toMatch(
      /\(EROFS\): the file system is read-only; choose a writable --state-dir/,
    );
    expect(stateFsError(e('EACCES'), '/s/j', 'write the journal').message).toMatch(/\(EACCES\): permission denied/);
    expect(stateFsError(e('EROFS'), '/s/j', 'write the journal').exitCode).toBe(ExitCode.USAGE);
  });

  it('treats a missing journal as empty', () => {
    expect(loadJournal(join(dir(), 'none')).done.size).toBe(0);
  });
});

/** The error a call throws (it must throw one). */
function thrown(f: () => unknown): PopliftError {
  try {
    f();
  } catch (err) {
    return err as PopliftError;
  }
  throw new Error('no error');
}

describe('state directory and files: no links followed, nobody else’s directory', () => {
  it('a journal name that is a symbolic link is refused, and the file it points to is not touched', () => {
    const d = dir();
    const outside = join(dir(), 'outside.txt');
    writeFileSync(outside, 'precious\n');
    const path = join(d, 'j.journal');
    symlinkSync(outside, path);
    const w = new JournalWriter(path);
    w.add({ t: 'deleted', uidl: 'u' });
    const err = thrown(() => w.flush());
    expect(err).toBeInstanceOf(PopliftError);
    expect(err.code).toBe('STATE');
    expect(err.exitCode).toBe(ExitCode.USAGE);
    expect(err.message).toMatch(/journal .*j\.journal in the state directory \(ELOOP\): a symbolic link is in the way/);
    expect(readFileSync(outside, 'utf8')).toBe('precious\n');
    // Reading does not follow it either.
    expect(thrown(() => loadJournal(path)).code).toBe('STATE');
  });

  it('a --state-dir that is a symbolic link is refused, not followed, and its target keeps its mode', () => {
    const target = dir();
    chmodSync(target, 0o755);
    const link = join(dir(), 'state');
    symlinkSync(target, link);
    const err = thrown(() => ensureStateDirectory(link));
    expect(err.code).toBe('STATE');
    expect(err.exitCode).toBe(ExitCode.USAGE);
    expect(err.message).toBe(
      `Cannot use the state directory ${link}: it is a symbolic link, which poplift does not follow there; name the directory itself with --state-dir.`,
    );
    expect(statSync(target).mode & 0o777).toBe(0o755);
  });

  it.skipIf(process.getuid?.() !== 0)('a state directory another user owns is refused (as ssh refuses such a directory)', () => {
    const d = dir();
    chownSync(d, 65534, 65534);
    chmodSync(d, 0o777);
    const err = thrown(() => ensureStateDirectory(d));
    expect(err.code).toBe('STATE');
    expect(err.message).toBe(
      `Cannot use the state directory ${d}: it belongs to another user (uid 65534), who could change its journals and locks; use a directory of your own (--state-dir).`,
    );
    expect(statSync(d).mode & 0o777).toBe(0o777);
  });

  it('a state directory others can write to is refused, and not chmodded', () => {
    const d = dir();
    chmodSync(d, 0o777);
    const err = thrown(() => ensureStateDirectory(d));
    expect(err.code).toBe('STATE');
    expect(err.message).toBe(
      `Cannot use the state directory ${d}: other users can write to it (mode 777), so they could plant files and links in it; chmod 700 it or choose another --state-dir.`,
    );
    expect(statSync(d).mode & 0o777).toBe(0o777);
  });

  it('an existing directory of ours that others may only read is used as it is (poplift chmods only what it creates)', () => {
    const d = dir();
    chmodSync(d, 0o755);
    ensureStateDirectory(d);
    expect(statSync(d).mode & 0o777).toBe(0o755);
  });

  it('a lock claim that is a symbolic link is not read through', () => {
    const stem = join(dir(), 'm');
    const outside = join(dir(), 'outside.json');
    writeFileSync(outside, `${JSON.stringify({ pid: process.pid, host: hostname(), started: 'x', mailbox: 'm' })}\n`);
    symlinkSync(outside, `${stem}.1.lock`);
    const warnings: string[] = [];
    const lock = MailboxLock.acquire(stem, 'pop3://a@h', (m) => warnings.push(m));
    lock.release();
    expect(warnings.join('\n')).toMatch(/unreadable lock file/);
    expect(readFileSync(outside, 'utf8')).toMatch(/"pid"/);
  });
});

const LOCK_JS = fileURLToPath(new URL('../../dist/state/lock.js', import.meta.url));

/** Claim files of a lock stem. */
const claims = (stem: string) => readdirSync(dirname(stem)).filter((f) => f.startsWith(`${basename(stem)}.`) && f.endsWith('.lock'));

describe('mailbox lock', () => {
  it('is exclusive while held, 0600, and released', () => {
    const stem = join(dir(), 'm');
    const lock = MailboxLock.acquire(stem, 'pop3://a@h', () => undefined);
    expect(statSync(lock.path).mode & 0o777).toBe(0o600);
    expect(() => MailboxLock.acquire(stem, 'pop3://a@h', () => undefined)).toThrow(PopliftError);
    lock.release();
    expect(claims(stem)).toEqual([]);
    MailboxLock.acquire(stem, 'pop3://a@h', () => undefined).release();
    expect(readdirSync(dirname(stem))).toEqual([]);
  });

  it('held by this very process says so instead of naming it "another run"', () => {
    const stem = join(dir(), 'm');
    const lock = MailboxLock.acquire(stem, 'pop3://a@h', () => undefined);
    try {
      MailboxLock.acquire(stem, 'pop3://a@h', () => undefined);
      expect.unreachable();
    } catch (err) {
      expect((err as PopliftError).exitCode).toBe(ExitCode.LOCKED);
      expect((err as Error).message).toMatch(/This poplift process already holds the lock for pop3:\/\/a@h/);
      expect((err as Error).message).not.toMatch(/Another poplift run/);
    } finally {
      lock.release();
    }
  });

  it('names a live holder (PID and start time match) and exits 5', async () => {
    const stem = join(dir(), 'm');
    const child = spawn('sleep', ['30']);
    try {
      await new Promise((r) => child.once('spawn', r));
      const info = {
        pid: child.pid,
        pidStart: processStartTime(child.pid!),
        host: hostname(),
        started: '2026-01-01T00:00:00Z',
        mailbox: 'x',
      };
      writeFileSync(`${stem}.1.lock`, JSON.stringify(info));
      let err: unknown;
      try {
        MailboxLock.acquire(stem, 'pop3://a@h', () => undefined);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PopliftError);
      expect((err as PopliftError).exitCode).toBe(ExitCode.LOCKED);
      expect((err as PopliftError).message).toContain(`PID ${child.pid}`);
      expect(claims(stem)).toEqual(['m.1.lock']);
    } finally {
      child.kill();
    }
  });

  it('takes over a lock whose PID now belongs to another process (other start time)', async () => {
    const stem = join(dir(), 'm');
    const child = spawn('sleep', ['30']);
    try {
      await new Promise((r) => child.once('spawn', r));
      const start = processStartTime(child.pid!);
      expect(start).toMatch(/^\d+$/);
      // The lock's process had this PID but started earlier: the PID was reused by `sleep`.
      writeFileSync(
        `${stem}.1.lock`,
        JSON.stringify({ pid: child.pid, pidStart: String(Number(start) - 1000), host: hostname(), started: 'earlier', mailbox: 'x' }),
      );
      const warnings: string[] = [];
      const lock = MailboxLock.acquire(stem, 'pop3://a@h', (m) => warnings.push(m));
      expect(warnings.join('\n')).toMatch(new RegExp(`PID ${child.pid} now belongs to another process`));
      expect(JSON.parse(readFileSync(lock.path, 'utf8'))).toMatchObject({ pid: process.pid, pidStart: processStartTime(process.pid) });
      expect(claims(stem)).toEqual(['m.2.lock']);
      lock.release();
    } finally {
      child.kill();
    }
  });

  it('removes the temporary claim file of a process killed before it linked it', async () => {
    const stem = join(dir(), 'm');
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    writeFileSync(`${stem}.${child.pid}-0123abcd.tmp`, '{}');
    writeFileSync(`${stem}.${process.pid + 0}-other.txt`, 'not ours');
    MailboxLock.acquire(stem, 'pop3://a@h', () => undefined).release();
    expect(readdirSync(dirname(stem))).toEqual([`m.${process.pid}-other.txt`]);
  });

  it('takes over a lock whose process is gone, with a warning', async () => {
    const stem = join(dir(), 'm');
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    writeFileSync(`${stem}.3.lock`, JSON.stringify({ pid: child.pid, host: hostname(), started: 'earlier', mailbox: 'x' }));
    const warnings: string[] = [];
    const lock = MailboxLock.acquire(stem, 'pop3://a@h', (m) => warnings.push(m));
    expect(warnings[0]).toMatch(/no longer running/);
    expect((JSON.parse(readFileSync(lock.path, 'utf8')) as { pid: number }).pid).toBe(process.pid);
    expect(claims(stem)).toEqual(['m.4.lock']);
    lock.release();
  });

  it('two processes racing for a stale lock: exactly one wins, 100 times out of 100', async () => {
    const base = dir();
    const dead = spawn('true');
    await new Promise((r) => dead.once('exit', r));
    const rounds = 100;
    for (let r = 0; r < rounds; r++) {
      mkdirSync(join(base, `r${r}`));
      writeFileSync(join(base, `r${r}`, 'm.1.lock'), JSON.stringify({ pid: dead.pid, host: hostname(), started: 'earlier', mailbox: 'x' }));
    }
    // Each process starts round r at the same wall-clock moment and keeps what it wins, so a later
    // take-over cannot pass for a race won.
    const script = `
      const { MailboxLock } = await import(${JSON.stringify(LOCK_JS)});
      const [base, t0, rounds] = [process.argv[1], Number(process.argv[2]), Number(process.argv[3])];
      const out = [];
      for (let r = 0; r < rounds; r++) {
        while (Date.now() < t0 + r * 40) {}
        try { MailboxLock.acquire(base + '/r' + r + '/m', 'x', () => {}); out.push(r + ' won'); }
        catch (e) { out.push(r + ' ' + (e.code ?? e.message)); }
      }
      // Stay alive (holding what was won) until the test has both answers: a claim whose process has
      // exited may rightly be taken over by a racer that arrives late.
      console.log(out.join('\\n') + '\\nEND');
      process.stdin.resume();`;
    const t0 = Date.now() + 2000;
    const children: ChildProcess[] = [];
    const racer = () =>
      new Promise<string>((resolve, reject) => {
        const c = spawn(process.execPath, ['--input-type=module', '-e', script, base, String(t0), String(rounds)]);
        children.push(c);
        let out = '';
        let err = '';
        c.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (out.endsWith('END\n')) resolve(out.slice(0, -'END\n'.length));
        });
        c.stderr.on('data', (d: Buffer) => (err += d.toString()));
        c.once('exit', (code) => reject(new Error(`racer exited ${code} early: ${err}`)));
      });
    let a: string;
    let b: string;
    try {
      [a, b] = await Promise.all([racer(), racer()]);
    } finally {
      for (const c of children) c.kill();
    }
    const outcomes = new Map<string, string[]>();
    for (const line of `${a}\n${b}`.split('\n').filter(Boolean)) {
      const [round, result] = line.split(' ');
      outcomes.set(round!, [...(outcomes.get(round!) ?? []), result!]);
    }
    expect(outcomes.size).toBe(rounds);
    for (const [round, results] of outcomes) {
      expect(results.sort(), `round ${round}`).toEqual(['LOCKED', 'won']);
      expect(claims(join(base, `r${round}`, 'm')), `round ${round}`).toHaveLength(1);
    }
  }, 30_000);
});

const MACHINE_LOCK_JS = fileURLToPath(new URL('../../dist/state/machine-lock.js', import.meta.url));

describe('machine-wide mailbox lock (abstract socket)', () => {
  const stem = () => `test-${process.pid}-${Math.random().toString(16).slice(2)}`;

  it.skipIf(process.platform !== 'linux')('held by this very process says so', async () => {
    const s = stem();
    // One name whichever Node binds it (see socketName).
    expect(MachineLock.socketName(s)).toHaveLength(108);
    const lock = await MachineLock.acquire(s, 'pop3://a@h');
    try {
      await expect(MachineLock.acquire(s, 'pop3://a@h')).rejects.toThrow(/This poplift process already holds the lock for pop3:\/\/a@h/);
    } finally {
      lock.release();
    }
    (await MachineLock.acquire(s, 'pop3://a@h')).release();
  });

  // The Node running the tests may sit where another user cannot run it; the machine's node can run the built module.
  const systemNode = existsSync('/usr/bin/node') ? '/usr/bin/node' : undefined;

  it.skipIf(process.platform !== 'linux' || process.getuid?.() !== 0 || systemNode === undefined)(
    'held by a process of another user, with another state directory: exit 5 naming its PID and lock file; free once it is killed',
    async () => {
      const s = stem();
      const script = `import(${JSON.stringify(MACHINE_LOCK_JS)}).then(async ({ MachineLock }) => {
        const lock = await MachineLock.acquire(${JSON.stringify(s)}, 'pop3://a@h');
        lock.holds('/elsewhere/state/x.1.lock');
        process.stdout.write('held\\n');
        setInterval(() => undefined, 1000);
      });`;
      const child = spawn(systemNode!, ['-e', script], { uid: 65534, gid: 65534, cwd: '/', stdio: ['ignore', 'pipe', 'inherit'] });
      try {
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (d: Buffer) => d.toString().includes('held') && resolve());
          child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
          child.once('error', reject);
        });
        const err = await MachineLock.acquire(s, 'pop3://a@h').then(
          () => undefined,
          (e: unknown) => e as PopliftError,
        );
        expect(err?.exitCode).toBe(ExitCode.LOCKED);
        expect(err?.message).toMatch(
          new RegExp(
            `^Another poplift run holds the lock for pop3://a@h: PID ${child.pid} on .*\\(lock file /elsewhere/state/x\\.1\\.lock\\)`,
          ),
        );
      } finally {
        child.kill('SIGKILL');
        await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(undefined) : child.once('exit', r)));
      }
      // The kernel freed the name with its holder: no stale lock to take over.
      (await MachineLock.acquire(s, 'pop3://a@h')).release();
    },
  );
});

describe('mailbox identity (the lock key)', () => {
  it('is the same for localhost and 127.0.0.1, and differs by port and user', async () => {
    const a = await mailboxIdentity({ host: 'localhost', port: 110, user: 'alice' }, 5000);
    expect(await mailboxIdentity({ host: '127.0.0.1', port: 110, user: 'alice' }, 5000)).toBe(a);
    expect(await mailboxIdentity({ host: '::1', port: 110, user: 'Alice' }, 5000)).toBe(a);
    expect(await mailboxIdentity({ host: '127.0.0.1', port: 111, user: 'alice' }, 5000)).not.toBe(a);
    expect(await mailboxIdentity({ host: '127.0.0.1', port: 110, user: 'bob' }, 5000)).not.toBe(a);
  });
  it('picks one address whatever order a resolver returns', () => {
    expect(canonicalAddress(['192.0.2.9', '2001:db8::1', '192.0.2.10'])).toBe('192.0.2.9');
    expect(canonicalAddress(['2001:db8::1', '192.0.2.10', '192.0.2.9'])).toBe('192.0.2.9');
    expect(canonicalAddress(['::ffff:192.0.2.9'])).toBe('192.0.2.9');
    expect(canonicalAddress(['2001:db8::2', '2001:db8::1'])).toBe('2001:db8::1');
  });
  it('falls back to the name when it does not resolve', async () => {
    expect(await mailboxIdentity({ host: 'no-such-host.invalid', port: 110, user: 'a' }, 5000)).toContain('name:no-such-host.invalid');
  });
});
