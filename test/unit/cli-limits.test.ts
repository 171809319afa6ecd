import { describe, expect, it } from 'vitest';
import { MAX_TIMEOUT_SECONDS, timeoutMs } from '../../src/cli/options.js';
import { runCli } from '../helpers/cli.js';

describe('--timeout beyond what a timer can hold', () => {
  it('is refused with a clear message instead of becoming 1 ms', () => {
    expect(timeoutMs('60')).toBe(60_000);
    expect(timeoutMs(String(MAX_TIMEOUT_SECONDS))).toBeLessThanOrEqual(2 ** 31 - 1);
    expect(() => timeoutMs('2147484')).toThrow(/at most 2147483 seconds \(about 24 days\)/);
    expect(() => timeoutMs('1e12')).toThrow(/at most/);
  });

  for (const command of ['migrate', 'verify']) {
    it(`${command} --timeout 3000000: exit 2 before connecting`, async () => {
      const r = await runCli([command, 'pop3://alice@127.0.0.1:1', 'imap://bob@127.0.0.1:1', '--folder', 'X', '--timeout', '3000000']);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(/--timeout must be at most 2147483 seconds/);
    });
  }
});
