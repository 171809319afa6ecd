import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { TUNED_MARKER, tunedLaunch, type ProcessFacts } from '../../src/cli/process-tuning.js';
import { BIN } from '../helpers/child-run.js';

const facts = (over: Partial<ProcessFacts> = {}): ProcessFacts => ({
  platform: 'linux',
  execPath: '/usr/bin/node',
  execArgv: [],
  argv: ['/usr/bin/node', '/opt/poplift/bin/poplift.js', 'migrate', 'pop3s://a@b', 'imaps://c@d'],
  env: { PATH: '/usr/bin', HOME: '/home/a' },
  ...over,
});

describe('tunedLaunch', () => {
  it('starts the same script with the same arguments, a small young generation and glibc settings', () => {
    const launch = tunedLaunch(facts({ execArgv: ['--enable-source-maps'] }))!;
    expect(launch.args).toEqual([
      '/usr/bin/node',
      '--enable-source-maps',
      '--max-semi-space-size=1',
      '/opt/poplift/bin/poplift.js',
      'migrate',
      'pop3s://a@b',
      'imaps://c@d',
    ]);
    expect(launch.env).toMatchObject({
      PATH: '/usr/bin',
      HOME: '/home/a',
      MALLOC_MMAP_THRESHOLD_: '262144',
      MALLOC_TRIM_THRESHOLD_: '1048576',
      MALLOC_ARENA_MAX: '2',
    });
    expect(launch.env[TUNED_MARKER]).toBe('MALLOC_MMAP_THRESHOLD_,MALLOC_TRIM_THRESHOLD_,MALLOC_ARENA_MAX');
  });

  it('in a single executable: no flag on the command line (it would reach poplift as an argument), the name it was started by, the glibc settings', () => {
    const sea = {
      execPath: '/usr/local/bin/poplift',
      execArgv: ['--max-semi-space-size=1'],
      argv: ['/usr/local/bin/poplift', 'poplift', 'migrate', 'pop3s://a@b', 'imaps://c@d'],
      sea: true,
    };
    const launch = tunedLaunch(facts(sea))!;
    expect(launch.args).toEqual(['poplift', 'migrate', 'pop3s://a@b', 'imaps://c@d']);
    expect(launch.env).toMatchObject({ MALLOC_ARENA_MAX: '2' });
    // Nothing to add: no restart.
    expect(
      tunedLaunch(facts({ ...sea, env: { MALLOC_MMAP_THRESHOLD_: '1', MALLOC_TRIM_THRESHOLD_: '1', MALLOC_ARENA_MAX: '1' } })),
    ).toBeUndefined();
  });

  it('never restarts a restarted process, nor one a debugger is attached to', () => {
    expect(tunedLaunch(facts({ env: { [TUNED_MARKER]: '' } }))).toBeUndefined();
    expect(tunedLaunch(facts({ execArgv: ['--inspect-brk=9229'] }))).toBeUndefined();
    expect(tunedLaunch(facts({ env: { NODE_OPTIONS: '--inspect=0' } }))).toBeUndefined();
  });

  it("keeps the user's own settings", () => {
    const launch = tunedLaunch(
      facts({ execArgv: ['--max_semi_space_size=4'], env: { MALLOC_ARENA_MAX: '1', NODE_OPTIONS: '--max-old-space-size=512' } }),
    )!;
    expect(launch.args).not.toContain('--max-semi-space-size=1');
    expect(launch.env.MALLOC_ARENA_MAX).toBe('1');
    expect(launch.env.NODE_OPTIONS).toBe('--max-old-space-size=512');
    expect(launch.env[TUNED_MARKER]).toBe('MALLOC_MMAP_THRESHOLD_,MALLOC_TRIM_THRESHOLD_');
    const fromNodeOptions = tunedLaunch(facts({ platform: 'darwin', env: { NODE_OPTIONS: '--trace-gc  --max-semi-space-size=8' } }));
    expect(fromNodeOptions).toBeUndefined();
  });

  it('sets no glibc variables off Linux', () => {
    const launch = tunedLaunch(facts({ platform: 'darwin' }))!;
    expect(launch.args).toContain('--max-semi-space-size=1');
    expect(Object.keys(launch.env).filter((k) => k.startsWith('MALLOC_'))).toEqual([]);
    expect(launch.env[TUNED_MARKER]).toBe('');
  });
});

describe('bin/poplift.js', () => {
  const canReplace = typeof (process as { execve?: unknown }).execve === 'function';

  it.runIf(canReplace)('replaces itself once with the tuned process: same PID, arguments, output and exit code', () => {
    const dir = mkdtempSync(join(tmpdir(), 'poplift-tuning-'));
    const probe = join(dir, 'probe.mjs');
    const out = join(dir, 'images.jsonl');
    // Runs at the start of every process image and records what that image was given.
    writeFileSync(
      probe,
      `import { appendFileSync } from 'node:fs';\n` +
        `appendFileSync(${JSON.stringify(out)}, JSON.stringify({ pid: process.pid, execArgv: process.execArgv, argv: process.argv.slice(2), arena: process.env.MALLOC_ARENA_MAX ?? null }) + '\\n');\n`,
    );
    const r = spawnSync(process.execPath, [BIN, 'migrate', 'not-a-url', 'imaps://b@c'], {
      env: { PATH: process.env.PATH ?? '', NODE_OPTIONS: `--import ${probe}`, HOME: dir, XDG_STATE_HOME: dir },
      encoding: 'utf8',
    });
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/POP3/);
    const images = readFileSync(out, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { pid: number; execArgv: string[]; argv: string[]; arena: string | null });
    expect(images).toHaveLength(2);
    expect(images[1]!.pid).toBe(images[0]!.pid);
    expect(images[0]!.execArgv).not.toContain('--max-semi-space-size=1');
    expect(images[1]!.execArgv).toContain('--max-semi-space-size=1');
    expect(images[1]!.argv).toEqual(['migrate', 'not-a-url', 'imaps://b@c']);
    if (process.platform === 'linux') expect(images[1]!.arena).toBe('2');
  });
});
