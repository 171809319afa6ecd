import { describe, expect, it } from 'vitest';
import { migrateJson } from '../../src/cli/json-result.js';
import { emptySummary, summaryExitCode } from '../../src/engine/summary.js';
import { listingWindow } from '../../src/pop3/pop3-window.js';

describe('POP3 servers that list only a window of the mailbox', () => {
  it('recognises WildDuck by its greeting or its CAPA IMPLEMENTATION, and nothing else', () => {
    expect(listingWindow('WildDuck POP3 Server ready for requests from 127.0.0.1 abcdefg', undefined)).toMatchObject({
      server: 'WildDuck',
      limit: 250,
    });
    expect(listingWindow('Mail ready for requests from 10.0.0.1 x', 'WildDuck-v1.51.1')).toMatchObject({ server: 'WildDuck' });
    expect(listingWindow('WildDuck POP3 Server ready for requests from ::1 x', undefined)!.advice).toMatch(/IMAP/);
    for (const greeting of ['Dovecot ready.', 'Gpop ready for requests from 192.0.2.1 a1mb1234567', 'Solid POP3 server ready <1.2@vm>'])
      expect(listingWindow(greeting, undefined)).toBeUndefined();
    expect(listingWindow(undefined, 'Cyrus POP3 v3.6')).toBeUndefined();
  });

  it('a windowed listing makes the first run exit 1 and later ones 0; --json carries it, null otherwise', () => {
    const summary = emptySummary('pop3://a@h', 'imaps://b@h', 'X', false);
    expect(summaryExitCode(summary)).toBe(0);
    expect(migrateJson(summary, 0, undefined).window).toBeNull();
    const w = listingWindow('WildDuck POP3 Server ready for requests from 127.0.0.1 x', undefined)!;
    summary.window = { ...w, listed: 250, reportedBefore: false };
    expect(summaryExitCode(summary)).toBe(1);
    expect(migrateJson(summary, 1, undefined)).toMatchObject({ status: 'partial', window: { server: 'WildDuck', listed: 250 } });
    summary.window.reportedBefore = true;
    expect(summaryExitCode(summary)).toBe(0);
  });
});
