import { describe, expect, it } from 'vitest';
import { tlsOptions, type ConnectionCliOptions } from '../../src/cli/connections.js';

/** Only the TLS options matter here; the rest of the CLI options are left unset. */
const cli = (o: Partial<ConnectionCliOptions>) => o as ConnectionCliOptions;

describe('tlsOptions', () => {
  it('asks for TLS 1.2 or newer on both sides, whatever Node defaults to', () => {
    for (const side of ['POP3', 'IMAP'] as const) {
      expect(tlsOptions(side, cli({}), () => undefined).minVersion).toBe('TLSv1.2');
      expect(tlsOptions(side, cli({ insecure: true }), () => undefined)).toMatchObject({
        minVersion: 'TLSv1.2',
        rejectUnauthorized: false,
      });
    }
  });
});
