/**
 * `poplift demo` end to end, as a person runs it: its private Dovecot, a
 * migration, a re-run and verify, all labelled as the demo; afterwards no
 * server process of it is left and its directory is gone, also when it is
 * stopped with Ctrl-C (SIGINT to its process group, as a terminal sends it).
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { BIN } from '../helpers/child-run.js';
import { describeIntegration } from '../helpers/suite.js';

/** Processes of the demo's Dovecot: the master names its directory, the others carry the instance name (with the demo's PID). */
function demoProcesses(pid: number, dir: string): string[] {
  const found: string[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(`poplift-demo-${pid}/`) || (dir !== '' && cmd.includes(`${dir}/dovecot.conf`))) found.push(`${p}: ${cmd}`);
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

function startDemo() {
  // Its own process group, so that a SIGINT to the group reaches it and the poplift it runs, as Ctrl-C does.
  const child = spawn(process.execPath, [BIN, 'demo'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const done = new Promise<number>((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal === 'SIGINT' ? 130 : -1))));
  return { child, done, output: () => out };
}

/** The directory the demo says it started its Dovecot in. */
function demoDir(out: string): string {
  return /\) in (\/\S+poplift-demo-\w+)$/m.exec(out)?.[1] ?? '';
}

describeIntegration('poplift demo', () => {
  it('runs a migration, a re-run and verify on its private Dovecot, then leaves nothing behind', async () => {
    const demo = startDemo();
    const code = await demo.done;
    const out = demo.output();
    expect(code, out).toBe(0);
    expect(out).toMatch(/^poplift demo: a demonstration on private servers/m);
    expect(out).toMatch(/^poplift demo: 1\/3 migrate/m);
    expect(out).toMatch(/found 400, appended 400, duplicates skipped 0, failed 0/);
    expect(out).toMatch(/^poplift demo: 2\/3 run again/m);
    expect(out).toMatch(/found 405, appended 5, duplicates skipped 0, failed 0/);
    expect(out).toMatch(/^poplift demo: 3\/3 verify/m);
    expect(out).toMatch(/405 POP3 messages, 405 in the folder.*all there/);
    expect(out).toMatch(/^poplift demo: done/m);
    expect(out).not.toContain('demo-old-password');
    const dir = demoDir(out);
    expect(dir).not.toBe('');
    expect(existsSync(dir)).toBe(false);
    expect(demoProcesses(demo.child.pid!, dir)).toEqual([]);
  }, 120_000);

  it('Ctrl-C during the migration: exit 130, the servers stopped and the directory removed', async () => {
    const demo = startDemo();
    // Once poplift has started reading (the bar is not drawn without a terminal: its start line).
    for (let i = 0; i < 600 && !/poplift: started /.test(demo.output()); i++) await new Promise((r) => setTimeout(r, 50));
    expect(demo.output()).toMatch(/poplift: started /);
    expect(demoProcesses(demo.child.pid!, demoDir(demo.output())).length).toBeGreaterThan(1);
    process.kill(-demo.child.pid!, 'SIGINT');
    const code = await demo.done;
    const out = demo.output();
    expect(code, out).toBe(130);
    expect(out).toMatch(/^poplift demo: stopped the private Dovecot and removed its directory\.$/m);
    const dir = demoDir(out);
    expect(existsSync(dir)).toBe(false);
    expect(demoProcesses(demo.child.pid!, dir)).toEqual([]);
  }, 120_000);
});
