import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';

async function help(args: string[]): Promise<string> {
  const out = new PassThrough();
  let text = '';
  out.on('data', (c: Buffer) => (text += c.toString()));
  const code = await run([...args, '--help'], { stdout: out, stderr: new PassThrough(), env: {} });
  expect(code).toBe(0);
  return text;
}

describe('--help', () => {
  it('lists migrate options by theme, with examples and exit codes', async () => {
    const text = await help(['migrate']);
    for (const heading of [
      'What to move:',
      'Passwords and logins:',
      'TLS:',
      'Cron, state and deleting:',
      'Speed and memory:',
      'Output:',
      'Examples:',
      'Exit codes:',
    ]) {
      expect(text).toContain(`\n${heading}\n`);
    }
    // Each option sits under its theme.
    const section = (heading: string) => text.slice(text.indexOf(`\n${heading}\n`)).split('\n\n')[0]!;
    expect(section('TLS:')).toContain('--pop3-ca-file');
    expect(section('Cron, state and deleting:')).toContain('--delete-every');
    expect(section('Cron, state and deleting:')).toMatch(/--recopy-missing +copy again messages copied earlier whose copy/);
    expect(section('What to move:')).toContain('--folder');
  });

  it('groups batch and verify options the same way', async () => {
    expect(await help(['batch'])).toMatch(/\nSpeed and memory:\n[\s\S]*--jobs/);
    // verify moves nothing: its options are what it checks.
    const verify = await help(['verify']);
    expect(verify).toMatch(/\nWhat to check:\n[\s\S]*--deep/);
    expect(verify).not.toContain('What to move:');
  });

  it('shows defaults as typed, not as quoted strings', async () => {
    const text = await help(['migrate']);
    expect(text).toMatch(/--timeout <seconds>[^(]*\(default:\s+60\)/);
    expect(text).toMatch(/--folder <path>[\s\S]*?\(default: INBOX\)/);
    expect(text).not.toMatch(/\(default: "/);
  });
});
