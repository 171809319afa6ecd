import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addMigrateOptions, byteSize, parseRunLimits, rateLimit } from '../../src/cli/options.js';
import { PopliftError } from '../../src/errors.js';
import { UploadBudget } from '../../src/imap/upload-budget.js';

describe('--max-bytes-per-run and --rate values', () => {
  it.each([
    ['500M', 500 * 1024 ** 2],
    ['2G', 2 * 1024 ** 3],
    ['1.5GB', 1.5 * 1024 ** 3],
    ['300k', 300 * 1024],
    ['12345', 12345],
    [' 64 MiB ', 64 * 1024 ** 2],
  ])('size %s is %d octets', (text, bytes) => {
    expect(byteSize(text, '--max-bytes-per-run')).toBe(bytes);
  });

  it.each(['', '0', '-5M', 'lots', '5T', 'M', '1e9'])('refuses size %j with a usage error naming the option', (text) => {
    try {
      byteSize(text, '--max-bytes-per-run');
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PopliftError);
      expect((err as PopliftError).exitCode).toBe(2);
      expect((err as Error).message).toBe(`--max-bytes-per-run must be a size such as 500M or 2G, not '${text}'.`);
    }
  });

  it('a rate is octets or messages per second', () => {
    expect(rateLimit('2M')).toEqual({ bytesPerSecond: 2 * 1024 ** 2 });
    expect(rateLimit('2M/s')).toEqual({ bytesPerSecond: 2 * 1024 ** 2 });
    expect(rateLimit('4msg')).toEqual({ messagesPerSecond: 4 });
    expect(rateLimit('0.5msg/s')).toEqual({ messagesPerSecond: 0.5 });
    for (const bad of ['fast', '0msg', '0', '-1M', '4 msgs per minute']) {
      expect(() => rateLimit(bad)).toThrow(/--rate must be octets per second such as 2M \(or 2M\/s\), or messages per second such as 4msg/);
    }
  });

  it('parses both options from a migrate command line', () => {
    const command = addMigrateOptions(new Command().exitOverride(), '');
    command.parse(['--max-bytes-per-run', '450M', '--rate', '4msg/s'], { from: 'user' });
    expect(parseRunLimits(command.opts<{ maxBytesPerRun?: string; rate?: string }>())).toEqual({
      maxBytesPerRun: 450 * 1024 ** 2,
      rate: { messagesPerSecond: 4 },
    });
    expect(parseRunLimits({})).toEqual({ maxBytesPerRun: undefined, rate: undefined });
  });
});

describe('UploadBudget', () => {
  it('admits messages until the next would pass --max-bytes-per-run', () => {
    const budget = new UploadBudget({ maxBytesPerRun: 1000, rate: undefined });
    expect(budget.admits(5000)).toBe(true); // the first message always goes
    budget.take(400, 0);
    expect(budget.admits(600)).toBe(true);
    budget.take(600, 0);
    expect(budget.admits(1)).toBe(false);
    expect(budget.uploaded).toEqual({ bytes: 1000, messages: 2 });
    expect(new UploadBudget({ maxBytesPerRun: 450 * 1024 ** 2, rate: undefined }).stopReason()).toBe(
      '--max-bytes-per-run reached (450 MiB uploaded in this run): what is done is recorded; run again to go on.',
    );
  });

  it('without limits it never waits or refuses', () => {
    const budget = new UploadBudget({ maxBytesPerRun: undefined, rate: undefined });
    for (let i = 0; i < 5; i++) {
      expect(budget.admits(1e9)).toBe(true);
      expect(budget.take(1e9, 0)).toBe(0);
    }
  });

  it('spaces uploads by octets per second', () => {
    const budget = new UploadBudget({ maxBytesPerRun: undefined, rate: { bytesPerSecond: 1000 } });
    expect(budget.take(500, 0)).toBe(0);
    expect(budget.take(500, 100)).toBe(400); // the first took 500 ms
    expect(budget.take(1000, 5000)).toBe(0); // idle time is not banked beyond now
    expect(budget.take(1, 5000)).toBe(1000);
  });

  it('spaces uploads by messages per second, a batch counting all its messages', () => {
    const budget = new UploadBudget({ maxBytesPerRun: undefined, rate: { messagesPerSecond: 4 } });
    expect(budget.take(10, 0)).toBe(0);
    expect(budget.take(10, 0)).toBe(250);
    expect(budget.take(100, 0, 8)).toBe(500);
    expect(budget.take(1, 0)).toBe(2500);
  });
});
