/**
 * Getting poplift as a user does, from a copy of the repository without
 * dist/: `npm pack` and `npm install -g` of the tarball, and README's cron
 * recipe (the single-file executable, the password files, the crontab line)
 * run as written under cron's environment. Slow (two `npm ci`, a 130 MB
 * executable): one file, run once.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync, copyFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { readImapFolder } from '../helpers/mailboxes.js';
import { describeIntegration } from '../helpers/suite.js';
import { run as runPoplift } from '../../src/cli/main.js';
import { PassThrough } from 'node:stream';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
/** cron's environment: nothing but these (Debian's cron sets HOME, LOGNAME, PATH and SHELL). */
const CRON_PATH = '/usr/bin:/bin';

/** The body of the first fenced block in README's section `heading` whose text matches `pattern`. */
function readmeBlock(heading: string, pattern: RegExp): string {
  const section = README.slice(README.indexOf(`\n## ${heading}\n`));
  const end = section.indexOf('\n## ', 5);
  const blocks = [...section.slice(0, end === -1 ? undefined : end).matchAll(/```[a-z]*\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const block = blocks.find((b) => pattern.test(b));
  if (!block) throw new Error(`README section "${heading}" has no block matching ${pattern}`);
  return block;
}

/** A copy of the repository as a fresh clone has it: tracked (and new, not ignored) files, no dist/, no node_modules/. */
function cloneWorkingTree(into: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT })
    .toString()
    .split('\0')
    .filter(Boolean);
  for (const f of files) {
    if (!existsSync(join(ROOT, f))) continue;
    mkdirSync(dirname(join(into, f)), { recursive: true });
    copyFileSync(join(ROOT, f), join(into, f));
  }
}

function sh(script: string, options: { cwd: string; env: Record<string, string> }): { code: number; stdout: string; stderr: string } {
  const r = spawnSync('/bin/sh', ['-c', script], { ...options, encoding: 'utf8', timeout: 600_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describeIntegration('getting poplift: npm pack + npm install -g, and the README cron recipe under cron', () => {
  let oldIsp: Dovecot;
  let newHost: Dovecot;
  let alice: DovecotUser;
  let aliceNew: DovecotUser;
  const work = mkdtempSync(join(tmpdir(), 'poplift-install-'));
  const clone = join(work, 'clone');
  // The environment of a person building it (proxy, CAs, npm's settings and cache), with a Node >= 22.12 first on the PATH.
  const realHome = homedir();
  const buildEnv = {
    ...(process.env as Record<string, string>),
    PATH: `${dirname(process.execPath)}:${process.env.PATH ?? CRON_PATH}`,
    NPM_CONFIG_USERCONFIG: join(realHome, '.npmrc'),
    npm_config_cache: join(realHome, '.npm'),
  };

  beforeAll(async () => {
    // Two servers, as in README: the passwords are README's own.
    oldIsp = await startDovecot();
    newHost = await startDovecot();
    alice = oldIsp.addUser('alice', 'old-secret');
    aliceNew = newHost.addUser('alice', 'new-secret');
    for (let i = 1; i <= 30; i++) {
      oldIsp.deliver(
        alice,
        Buffer.from(
          `From: bob@old.example\r\nTo: alice@old.example\r\nSubject: note ${i}\r\nMessage-ID: <note${i}@old.example>\r\nDate: Mon, 1 Jun 2020 10:00:00 +0000\r\n\r\n${'text '.repeat(200 * i)}\r\n`,
        ),
      );
    }
    mkdirSync(clone, { recursive: true });
    cloneWorkingTree(clone);
  }, 120_000);
  afterAll(async () => {
    await oldIsp?.stop();
    await newHost?.stop();
  });

  /** README's example URLs, pointed at the test servers (loopback, random ports, a private CA). */
  const localServers = (line: string) =>
    line
      .replace('pop3s://alice@pop.old.example', `pop3s://alice@127.0.0.1:${oldIsp.ports.pop3s} --pop3-ca-file ${oldIsp.certPath}`)
      .replace('imaps://alice@imap.new.example', `imaps://alice@127.0.0.1:${newHost.ports.imaps} --imap-ca-file ${newHost.certPath}`);

  it('npm pack in an unbuilt clone ships dist (prepack); the installed poplift migrates', async () => {
    expect(existsSync(join(clone, 'dist'))).toBe(false);
    const ci = sh('npm ci --no-audit --no-fund', { cwd: clone, env: buildEnv });
    expect(ci.code, ci.stderr).toBe(0);
    const pack = sh('npm pack --silent', { cwd: clone, env: buildEnv });
    expect(pack.code, pack.stderr).toBe(0);
    const tarball = join(clone, pack.stdout.trim().split('\n').at(-1)!);
    const listing = execFileSync('tar', ['-tzf', tarball]).toString();
    expect(listing).toContain('package/dist/cli/main.js');
    expect(listing).toContain('package/bin/poplift.js');
    const prefix = join(work, 'prefix');
    const install = sh(`npm install -g --no-audit --no-fund --prefix '${prefix}' '${tarball}'`, { cwd: work, env: buildEnv });
    expect(install.code, install.stderr).toBe(0);
    const state = join(work, 'pack-state');
    const r = spawnSync(
      join(prefix, 'bin', 'poplift'),
      [
        'migrate',
        `pop3s://alice@127.0.0.1:${oldIsp.ports.pop3s}`,
        `imaps://alice@127.0.0.1:${newHost.ports.imaps}`,
        '--folder',
        'Packed',
        '--pop3-ca-file',
        oldIsp.certPath,
        '--imap-ca-file',
        newHost.certPath,
        '--state-dir',
        state,
        '--json',
      ],
      { encoding: 'utf8', env: { ...buildEnv, POPLIFT_POP3_PASSWORD: 'old-secret', POPLIFT_IMAP_PASSWORD: 'new-secret' } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'ok', found: 30 });
    expect(await readImapFolder(newHost, aliceNew, 'Packed')).toHaveLength(30);
  }, 300_000);

  it("README's cron recipe, as written: the executable, the password files, and the crontab line under cron's environment", async () => {
    const home = join(work, 'home');
    mkdirSync(home);
    // 1. The set-up block, verbatim, in the clone (it builds the single-file executable).
    const setup = readmeBlock('Running from cron', /npm run build:sea/);
    const built = sh(`set -e\n${setup}`, { cwd: clone, env: { ...buildEnv, HOME: home } });
    expect(built.code, built.stderr).toBe(0);
    const exe = join(home, '.local/bin/poplift');
    for (const f of ['pop3', 'imap']) expect(statSync(join(home, '.config/poplift', f)).mode & 0o777).toBe(0o600);

    const cronEnv = { HOME: home, LOGNAME: 'alice', PATH: CRON_PATH, SHELL: '/bin/sh' };
    // The machine's Node is not used: there is none on cron's PATH but Debian's 20, which poplift would refuse.
    const version = sh(`${exe} --version`, { cwd: home, env: cronEnv });
    expect(version).toMatchObject({
      code: 0,
      stdout: `${(JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string }).version}\n`,
      stderr: '',
    });

    // The memory settings bin/poplift.js restarts with apply inside the executable too: a password
    // command's parent is poplift, whose environment at exec time /proc shows.
    const tuned = sh(
      `${exe} migrate pop3s://a@127.0.0.1:9 imaps://b@127.0.0.1:9 --pop3-password-command 'tr "\\0" "\\n" < /proc/$PPID/environ | grep MALLOC_ARENA_MAX >&2; exit 1'`,
      { cwd: home, env: cronEnv },
    );
    expect(tuned.code).toBe(2);
    expect(tuned.stderr).toContain('The POP3 password command failed (1): MALLOC_ARENA_MAX=2');

    // 2. The crontab line: the command after the five time fields, as cron runs it.
    const crontab = readmeBlock('Running from cron', /^\*\/15 /m).trim();
    const command = localServers(crontab.replace(/^(\S+\s+){5}/, ''));
    const cron = () => sh(command, { cwd: home, env: cronEnv });
    const log = join(home, '.local/state/poplift/cron.log');

    const first = cron();
    expect(first.code, first.stderr).toBe(0);
    expect(first.stdout).toBe('');
    // Mail was moved: one line, so cron mails one line.
    expect(first.stderr).toMatch(
      /^pop3s:\/\/alice@127\.0\.0\.1:\d+ -> imaps:\/\/alice@127\.0\.0\.1:\d+ folder "Archive\/Old ISP": ok; found 30, appended 30, duplicates 0, failed 0, deleted from POP3 30; [\d.]+ (KB|MB) in [\d.]+ s\n$/,
    );
    expect(await readImapFolder(newHost, aliceNew, ['Archive', 'Old ISP'])).toHaveLength(30);
    expect(oldIsp.countInbox(alice)).toBe(0);

    // Nothing new: cron mails nothing.
    const quiet = cron();
    expect(quiet).toMatchObject({ code: 0, stdout: '', stderr: '' });

    // A failure reaches cron's mail (stderr) and the log.
    writeFileSync(join(home, '.config/poplift/pop3'), 'wrong\n');
    const refused = cron();
    expect(refused.code).toBe(3);
    expect(refused.stdout).toBe('');
    expect(refused.stderr).toMatch(/^poplift: POP3 server 127\.0\.0\.1:\d+ refused the login[^\n]*\n$/);

    const history = readFileSync(log, 'utf8').trimEnd().split('\n');
    for (const line of history) expect(line).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d /);
    expect(history.some((l) => /appended 30/.test(l))).toBe(true);
    expect(history.at(-1)).toMatch(/POP3 server .* refused the login/);
    expect(statSync(log).mode & 0o077).toBe(0);
  }, 600_000);

  it("the help's cron example is README's crontab line", async () => {
    const out = new PassThrough();
    let help = '';
    out.on('data', (c: Buffer) => (help += c.toString()));
    await runPoplift(['migrate', '--help'], { stdout: out, stderr: new PassThrough(), env: {} });
    expect(help).toContain(readmeBlock('Running from cron', /^\*\/15 /m).trim());
  });
});
