import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { addRunLimitOptions, byteSize, parseRunLimits, rateLimit } from '../../src/cli/options.js';
import { PopliftError } from '../../src/errors.js';

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

  it('parses both options from a command line', () => {
    const command = addRunLimitOptions(new Command().exitOverride());
    command.parse(['--max-bytes-per-run', '450M', '--rate', '4msg/s'], { from: 'user' });
    expect(parseRunLimits(command.opts())).toEqual({ maxBytesPerRun: 450 * 1024 ** 2, rate: { messagesPerSecond: 4 } });
    expect(parseRunLimits({})).toEqual({ maxBytesPerRun: undefined, rate: undefined });
  });
});
