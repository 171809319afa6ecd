import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

// Nothing listens here: every case below must fail before any connection is tried.
const URLS = ['pop3s://alice@127.0.0.1:9', 'imaps://alice@127.0.0.1:9'];
const dir = mkdtempSync(join(tmpdir(), 'poplift-usage-'));

describe('usage errors say exactly what is wrong, all at once', () => {
  it('a missing --ca-file names --ca-file and says the file does not exist', async () => {
    const r = await runCli(['migrate', ...URLS, '--ca-file', '/nonexistent.pem'], {
      POPLIFT_POP3_PASSWORD: 'p',
      POPLIFT_IMAP_PASSWORD: 'q',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('poplift: Cannot read the CA file /nonexistent.pem (--ca-file): it does not exist (ENOENT).\n');
  });

  it('a side-specific CA file is named as such', async () => {
    const r = await runCli(['migrate', ...URLS, '--imap-ca-file', '/nonexistent.pem'], {
      POPLIFT_POP3_PASSWORD: 'p',
      POPLIFT_IMAP_PASSWORD: 'q',
    });
    expect(r.stderr).toBe('poplift: Cannot read the IMAP CA file /nonexistent.pem (--imap-ca-file): it does not exist (ENOENT).\n');
  });

  it('missing password files are named with their option and the reason in words', async () => {
    const r = await runCli(['migrate', ...URLS, '--pop3-password-file', join(dir, 'nope'), '--imap-password-file', join(dir, 'nope2')]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain(
      `Cannot read the POP3 password file ${join(dir, 'nope')} (--pop3-password-file): it does not exist (ENOENT).`,
    );
    expect(r.stderr).toContain(
      `Cannot read the IMAP password file ${join(dir, 'nope2')} (--imap-password-file): it does not exist (ENOENT).`,
    );
  });

  it('both missing passwords are reported in one run', async () => {
    const r = await runCli(['migrate', ...URLS]);
    expect(r.code).toBe(2);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/No POP3 password: set POPLIFT_POP3_PASSWORD.*No IMAP password: set POPLIFT_IMAP_PASSWORD/);
  });

  it('a password in the URL and one in the environment: refused, not silently one of them', async () => {
    const r = await runCli(['migrate', 'pop3s://alice:inurl@127.0.0.1:9', URLS[1]!], {
      POPLIFT_POP3_PASSWORD: 'p',
      POPLIFT_IMAP_PASSWORD: 'q',
    });
    expect(r.code).toBe(2);
    expect(r.stderr).toBe(
      'poplift: The POP3 URL has a password and POPLIFT_POP3_PASSWORD gives one too: remove the password from the URL.\n',
    );
    expect(r.stderr).not.toContain('inurl');
    const file = join(dir, 'pw');
    writeFileSync(file, 'x\n');
    chmodSync(file, 0o600);
    const f = await runCli(['migrate', URLS[0]!, 'imaps://alice:inurl@127.0.0.1:9', '--imap-password-file', file], {
      POPLIFT_POP3_PASSWORD: 'p',
    });
    expect(f.stderr).toBe(
      'poplift: The IMAP URL has a password and --imap-password-file gives one too: remove the password from the URL.\n',
    );
  });

  it("a subcommand's usage error points at that subcommand's --help", async () => {
    for (const command of ['migrate', 'verify', 'batch']) {
      const r = await runCli([command, '--no-such-option']);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(`(run poplift ${command} --help for usage)`);
    }
  });

  it('no arguments at all: the usage on stderr and exit 2', async () => {
    const r = await runCli([]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^Usage: poplift /);
  });

  it('verify requires --folder: checking INBOX by default would report a migrated folder missing', async () => {
    const r = await runCli(['verify', ...URLS], { POPLIFT_POP3_PASSWORD: 'p', POPLIFT_IMAP_PASSWORD: 'q' });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/required option '--folder <path>' not specified/);
    expect(r.stderr).toContain('(run poplift verify --help for usage)');
  });
});

describe('--json on a usage error', () => {
  it('batch: the last JSON line is a summary event with status usage', async () => {
    const r = await runCli(['batch', join(dir, 'no-such-file.csv'), '--json']);
    expect(r.code).toBe(2);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({
      event: 'summary',
      schema: 2,
      command: 'batch',
      status: 'usage',
      exitCode: 2,
      error: { code: 'USAGE' },
    });
  });
  it('POPLIFT_JSON=1 counts as --json, also when commander refuses the command line', async () => {
    const r = await runCli(['migrate', 'pop3s://a@b'], { POPLIFT_JSON: '1' });
    expect(r.code).toBe(2);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'usage', exitCode: 2 });
  });
});

describe('a password in a server URL is never printed (issue 20 item 10)', () => {
  it.each(['migrate', 'verify'])(
    '%s with a URL cut short by a # in its password: usage error, no password on stderr or in --json',
    async (command) => {
      const args = [command, 'pop3s://u:pa#Zq9ss@127.0.0.1:9', URLS[1]!, ...(command === 'verify' ? ['--folder', 'X'] : []), '--json'];
      const r = await runCli(args, { POPLIFT_IMAP_PASSWORD: 'q' });
      expect(r.code).toBe(2);
      expect(r.stderr + r.stdout).not.toContain('Zq9');
      expect(r.stderr).toMatch(/^poplift: .*POPLIFT_POP3_PASSWORD.*--pop3-password-file.*percent-encode/);
      const json = JSON.parse(r.stdout) as { error: { code: string; message: string } };
      expect(json.error.code).toBe('USAGE');
      expect(json.error.message).toMatch(/POPLIFT_POP3_PASSWORD/);
    },
  );
});
