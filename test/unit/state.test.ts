import { spawn } from 'node:child_process';
import { appendFileSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode, PopliftError } from '../../src/errors.js';
import { JournalWriter, loadJournal } from '../../src/state/journal.js';
import { MailboxLock } from '../../src/state/lock.js';
import { ensureStateDirectory, stateDirectory, stateName } from '../../src/state/state-dir.js';

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
    writeFileSync(path, `${JSON.stringify({ t: 'appended', uidl: 'u1', key: 'k1', size: 1 })}\n{"t":"confirmed"}\n{"t":"appended","uidl":"u2","ke`);
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
    appendFileSync(path, `${JSON.stringify({ t: 'appended', uidl: 'u1', key: 'k', size: 1 })}\n${JSON.stringify({ t: 'deleted', uidl: 'u1' })}\n`);
    const s = loadJournal(path);
    expect(s.done.has('u1')).toBe(false);
    expect(s.deleted.has('u1')).toBe(true);
  });

  it('treats a missing journal as empty', () => {
    expect(loadJournal(join(dir(), 'none')).done.size).toBe(0);
  });
});

describe('mailbox lock', () => {
  it('is exclusive while held, 0600, and released', () => {
    const path = join(dir(), 'm.lock');
    const lock = MailboxLock.acquire(path, 'pop3://a@h', () => undefined);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(() => MailboxLock.acquire(path, 'pop3://a@h', () => undefined)).toThrow(PopliftError);
    lock.release();
    MailboxLock.acquire(path, 'pop3://a@h', () => undefined).release();
  });

  it('names a live holder and exits 5', async () => {
    const path = join(dir(), 'm.lock');
    const child = spawn('sleep', ['30']);
    try {
      writeFileSync(path, JSON.stringify({ pid: child.pid, host: (await import('node:os')).hostname(), started: '2026-01-01T00:00:00Z', mailbox: 'x' }));
      let err: unknown;
      try {
        MailboxLock.acquire(path, 'pop3://a@h', () => undefined);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(PopliftError);
      expect((err as PopliftError).exitCode).toBe(ExitCode.LOCKED);
      expect((err as PopliftError).message).toContain(`PID ${child.pid}`);
    } finally {
      child.kill();
    }
  });

  it('takes over a lock whose process is gone, with a warning', async () => {
    const path = join(dir(), 'm.lock');
    const child = spawn('true');
    await new Promise((r) => child.once('exit', r));
    writeFileSync(path, JSON.stringify({ pid: child.pid, host: (await import('node:os')).hostname(), started: 'earlier', mailbox: 'x' }));
    const warnings: string[] = [];
    const lock = MailboxLock.acquire(path, 'pop3://a@h', (m) => warnings.push(m));
    expect(warnings[0]).toMatch(/no longer running/);
    expect(JSON.parse(readFileSync(path, 'utf8')).pid).toBe(process.pid);
    lock.release();
  });
});
