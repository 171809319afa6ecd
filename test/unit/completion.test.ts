import { execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';

async function completion(shell: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  out.on('data', (c: Buffer) => (stdout += c.toString()));
  err.on('data', (c: Buffer) => (stderr += c.toString()));
  const code = await run(['completion', shell], { stdout: out, stderr: err, env: {} });
  return { code, stdout, stderr };
}

describe('poplift completion', () => {
  for (const shell of ['bash', 'zsh', 'fish']) {
    it(`${shell}: names every subcommand and their options`, async () => {
      const r = await completion(shell);
      expect(r.code).toBe(0);
      for (const command of ['migrate', 'batch', 'watch', 'status', 'verify', 'login', 'logout', 'completion'])
        expect(r.stdout).toContain(command);
      for (const option of ['folder', 'jobs', 'shard', 'skip-bad-rows', 'progress-interval', 'log-file', 'config', 'deep', 'dry-run']) {
        expect(r.stdout).toContain(option);
      }
      // Choices complete as values.
      expect(r.stdout).toMatch(/received date server/);
    });
  }

  it('bash: the script is valid bash and completes subcommands and choices', async () => {
    const { stdout } = await completion('bash');
    const dir = mkdtempSync(join(tmpdir(), 'poplift-completion-'));
    const script = join(dir, 'poplift.bash');
    writeFileSync(script, stdout);
    const complete = (words: string[]) =>
      execFileSync(
        'bash',
        [
          '-c',
          `source ${script}; COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _poplift_complete; printf '%s\\n' "\${COMPREPLY[@]}"`,
        ],
        { encoding: 'utf8' },
      )
        .trim()
        .split('\n');
    expect(complete(['poplift', ''])).toEqual([
      'migrate',
      'batch',
      'watch',
      'status',
      'verify',
      'login',
      'logout',
      'completion',
      'demo',
      '--help',
      '--version',
    ]);
    expect(complete(['poplift', 'b'])).toEqual(['batch']);
    expect(complete(['poplift', 'migrate', '--internal-date', ''])).toEqual(['received', 'date', 'server']);
    expect(complete(['poplift', 'batch', '--sk'])).toEqual(['--skip-bad-rows']);
    expect(complete(['poplift', 'migrate', '--reco'])).toEqual(['--recopy-missing']);
    expect(complete(['poplift', 'completion', ''])).toEqual(['bash', 'zsh', 'fish']);
  });

  it('refuses an unknown shell with exit 2', async () => {
    const r = await completion('tcsh');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
  });
});
