import { chmodSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { exitCodeOf, type ErrorCodeValue } from '../../src/errors.js';
import { startChild } from '../helpers/child-run.js';
import { runCli, testStateHome, type CliResult } from '../helpers/cli.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { describeIntegration } from '../helpers/suite.js';

/** One line on stderr, no stack trace, naming the side. */
function expectOneLine(r: CliResult, side: 'POP3' | 'IMAP' | undefined, pattern: RegExp): void {
  const lines = r.stderr.trimEnd().split('\n');
  expect(lines, r.stderr).toHaveLength(1);
  expect(lines[0]).toMatch(/^poplift: /);
  if (side) expect(lines[0]).toContain(side);
  expect(lines[0]).toMatch(pattern);
  expect(r.stderr).not.toMatch(/\n\s+at /);
  expect(r.stdout).toBe('');
}

describeIntegration('migrate: bad input gives its exit code and one clear line', () => {
  let dovecot: Dovecot;
  let alice: DovecotUser;
  let bob: DovecotUser;
  let closedPort: number;
  let holder: Server;

  beforeAll(async () => {
    dovecot = await startDovecot();
    alice = dovecot.addUser('alice');
    bob = dovecot.addUser('bob');
    dovecot.deliver(alice, Buffer.from('Subject: x\r\nMessage-ID: <x@example.org>\r\n\r\nbody\r\n'));
    // A port that was free a moment ago and is now closed: bind, read the number, close.
    holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
    closedPort = (holder.address() as { port: number }).port;
    await new Promise<void>((r) => holder.close(() => r()));
  });
  afterAll(async () => {
    await dovecot?.stop();
  });

  const pop3 = () => `pop3s://alice@127.0.0.1:${dovecot.ports.pop3s}`;
  const imap = () => `imaps://bob@127.0.0.1:${dovecot.ports.imaps}`;
  const env = (o: Partial<Record<'pop3' | 'imap', string>> = {}) => ({
    POPLIFT_POP3_PASSWORD: o.pop3 ?? alice.password,
    POPLIFT_IMAP_PASSWORD: o.imap ?? bob.password,
  });
  const trust = () => ['--ca-file', dovecot.certPath];

  it('a run that failed leaves no trace: no journal, no folder', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'poplift-traces-'));
    const bad = await runCli(
      ['migrate', pop3(), imap(), ...trust(), '--folder', 'Typo Folder', '--state-dir', stateDir],
      env({ pop3: 'wrong' }),
    );
    expect(bad.code).toBe(3);
    const dns = await runCli(
      ['migrate', 'pop3s://alice@no-such-host.invalid', imap(), ...trust(), '--folder', 'Typo Folder', '--state-dir', stateDir],
      env(),
    );
    expect(dns.code).toBe(4);
    expect(readdirSync(stateDir).filter((f) => f.endsWith('.journal'))).toEqual([]);
    const folders = await runCli(['verify', pop3(), imap(), ...trust(), '--folder', 'Typo Folder'], env());
    expect(folders.stderr).toMatch(/does not exist/);
  });

  it('an IMAP URL on the wrong port says within seconds what answers there and what to use', async () => {
    for (const [url, said] of [
      [`imap://bob@127.0.0.1:${dovecot.ports.imaps}`, /sent no IMAP greeting: port \d+ speaks TLS from the first byte: use imaps:\/\//],
      [`imaps://bob@127.0.0.1:${dovecot.ports.pop3s}`, /sent no IMAP greeting: it greets like a POP3 server/],
    ] as const) {
      const started = Date.now();
      const r = await runCli(['migrate', pop3(), url, ...trust(), '--timeout', '30'], env());
      expect(r.code).toBe(4);
      expectOneLine(r, 'IMAP', said);
      expect(Date.now() - started).toBeLessThan(10_000);
    }
  });

  it('wrong POP3 password: exit 3', async () => {
    const r = await runCli(['migrate', pop3(), imap(), ...trust()], env({ pop3: 'wrong' }));
    expect(r.code).toBe(3);
    expectOneLine(r, 'POP3', /refused the login/);
    expect(r.stderr).not.toContain('wrong');
  });

  it('wrong IMAP password: exit 3', async () => {
    const r = await runCli(['migrate', pop3(), imap(), ...trust()], env({ imap: 'wrong' }));
    expect(r.code).toBe(3);
    expectOneLine(r, 'IMAP', /refused the login/);
  });

  it('closed POP3 port: exit 4', async () => {
    const r = await runCli(['migrate', `pop3s://alice@127.0.0.1:${closedPort}`, imap(), ...trust()], env());
    expect(r.code).toBe(4);
    expectOneLine(r, 'POP3', /refused the connection/);
  });

  it('closed IMAP port: exit 4', async () => {
    const r = await runCli(['migrate', pop3(), `imaps://bob@127.0.0.1:${closedPort}`, ...trust()], env());
    expect(r.code).toBe(4);
    expectOneLine(r, 'IMAP', /refused the connection/);
  });

  it('self-signed certificate without trust: exit 4 naming the problem', async () => {
    const r = await runCli(['migrate', pop3(), imap(), '--imap-ca-file', dovecot.certPath], env());
    expect(r.code).toBe(4);
    expectOneLine(r, 'POP3', /self-signed/);
    const r2 = await runCli(['migrate', pop3(), imap(), '--pop3-ca-file', dovecot.certPath], env());
    expect(r2.code).toBe(4);
    expectOneLine(r2, 'IMAP', /self-signed/);
  });

  it('bad URLs: exit 2', async () => {
    for (const [p, i, pattern] of [
      ['http://alice@host', imap(), /not a POP3 scheme/],
      [pop3(), 'pop3://bob@host', /not a IMAP scheme|not an IMAP scheme/],
      ['pop3s://host', imap(), /No user name/],
      ['not a url', imap(), /not a POP3 server URL/],
    ] as const) {
      const r = await runCli(['migrate', p, i], env());
      expect(r.code, `${p} ${i}`).toBe(2);
      expectOneLine(r, undefined, pattern);
    }
  });

  it('missing password with no terminal: exit 2, no prompt', async () => {
    const r = await runCli(['migrate', pop3(), imap(), ...trust()], { POPLIFT_IMAP_PASSWORD: bob.password });
    expect(r.code).toBe(2);
    expectOneLine(r, 'POP3', /POPLIFT_POP3_PASSWORD/);
  });

  it('a folder the account may not create: exit 2 naming the folder', async () => {
    chmodSync(bob.maildir, 0o555);
    try {
      const r = await runCli(['migrate', pop3(), imap(), ...trust(), '--folder', 'Forbidden/Sub'], env());
      expect(r.code).toBe(2);
      expectOneLine(r, 'IMAP', /Forbidden/);
    } finally {
      chmodSync(bob.maildir, 0o700);
    }
  });

  it('the built CLI exits as the error table says for the code it reports (spawned, --json)', async () => {
    chmodSync(bob.maildir, 0o555);
    try {
      const cases: Array<[string[], Record<string, string>, ErrorCodeValue]> = [
        [['migrate', pop3(), imap(), ...trust()], env({ imap: 'wrong' }), 'IMAP_AUTH'],
        [['migrate', `pop3s://alice@127.0.0.1:${closedPort}`, imap(), ...trust()], env(), 'POP3_CONNECT'],
        [['migrate', pop3(), imap(), ...trust(), '--folder', 'Forbidden/Sub'], env(), 'IMAP_FOLDER'],
        [['verify', pop3(), imap(), ...trust(), '--folder', 'Never/Made'], env(), 'IMAP_FOLDER_MISSING'],
        [['migrate', pop3(), imap(), '--no-such-option'], env(), 'USAGE'],
      ];
      for (const [args, vars, code] of cases) {
        const run = startChild([...args, '--json'], { ...vars, HOME: testStateHome, XDG_STATE_HOME: testStateHome });
        const exit = await run.done;
        const json = JSON.parse(run.stdout()) as { exitCode: number; error: { code: string; advice?: string } };
        expect([json.error.code, exit, json.exitCode], run.stderr()).toEqual([code, exitCodeOf(code), exitCodeOf(code)]);
      }
    } finally {
      chmodSync(bob.maildir, 0o700);
    }
  });

  it('unknown option: exit 2', async () => {
    const r = await runCli(['migrate', pop3(), imap(), '--no-such-option'], env());
    expect(r.code).toBe(2);
  });
});
