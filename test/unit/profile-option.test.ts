import { describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';

describe('--profile', () => {
  it('takes only the known providers (exit 2 otherwise)', async () => {
    const r = await runCli(['migrate', 'pop3://a@127.0.0.1:1', 'imap://b@127.0.0.1:1', '--profile', 'outlook']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("'outlook'");
    expect(r.stderr).toMatch(/auto, gmail, m365, yahoo, zoho, generic/);
  });

  it('is listed in help under speed, and completes its values', async () => {
    const help = await runCli(['migrate', '--help']);
    expect(help.stdout).toMatch(/Speed and memory:[\s\S]*--profile <provider>/);
    const bash = await runCli(['completion', 'bash']);
    expect(bash.stdout).toContain('auto gmail m365 yahoo zoho generic');
  });

  it('is read from POPLIFT_PROFILE, and refused there when unknown', async () => {
    const r = await runCli(['migrate', 'pop3://a@127.0.0.1:1', 'imap://b@127.0.0.1:1'], { POPLIFT_PROFILE: 'hotmail' });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('hotmail');
  });
});
