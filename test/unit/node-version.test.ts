import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { expect, it } from 'vitest';
import { BIN } from '../helpers/child-run.js';

// Debian 12's own node is 20: exactly the Node a cron job or a `#!/usr/bin/env node` finds first.
const OLD_NODE = '/usr/bin/node';

it('refuses to run on a Node older than 22.12, in one line that says how to get a supported one (exit 2)', () => {
  expect(existsSync(OLD_NODE)).toBe(true);
  const version = spawnSync(OLD_NODE, ['--version'], { encoding: 'utf8' }).stdout.trim();
  const [major, minor] = version.slice(1).split('.').map(Number) as [number, number];
  expect(major < 22 || (major === 22 && minor < 12), `${OLD_NODE} is ${version}`).toBe(true);
  for (const args of [['--version'], ['migrate', 'pop3s://a@x', 'imaps://a@y']]) {
    const r = spawnSync(OLD_NODE, [BIN, ...args], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trimEnd().split('\n');
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toContain(version);
    expect(lines[0]).toMatch(/^poplift: needs Node\.js 22\.12 or newer/);
    expect(lines[0]).toMatch(/single-file executable|nodejs\.org/);
  }
});
