import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import {
  classifyResponseLine,
  parseResponseLine,
  planForSignal,
  runLaterError,
  runLaterReason,
  type ServerSignal,
} from '../../src/imap/server-responses.js';

describe('parsing a response line', () => {
  it('splits status, code and text for IMAP and POP3', () => {
    expect(parseResponseLine('A12 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)\r\n')).toEqual({
      status: 'NO',
      code: 'OVERQUOTA',
      text: 'Quota exceeded (mailbox for user is full)',
    });
    expect(parseResponseLine('* BYE [OVERQUOTA] Account exceeded command or bandwidth limits.')).toMatchObject({
      status: 'BYE',
      code: 'OVERQUOTA',
    });
    expect(parseResponseLine('-ERR [SYS/TEMP] try later')).toEqual({ status: '-ERR', code: 'SYS/TEMP', text: 'try later' });
    expect(parseResponseLine('+OK')).toEqual({ status: '+OK', text: '' });
    expect(parseResponseLine('A3 OK [APPENDUID 1 5] done')).toEqual({ status: 'OK', code: 'APPENDUID', text: 'done' });
    expect(parseResponseLine('* 3 EXISTS')).toBeUndefined();
    expect(parseResponseLine('+ go ahead')).toBeUndefined();
  });
});

describe("the providers' own answers", () => {
  it.each<[string, string, Partial<ServerSignal>]>([
    // Microsoft 365, as NO and as BAD (imapsync FAQ, client trackers).
    [
      'm365 NO',
      '1069 NO Request is throttled. Suggested Backoff Time: 299609 milliseconds',
      { kind: 'throttle', waitMs: 299_609, refused: true },
    ],
    [
      'm365 BAD',
      'A7 BAD Request is throttled. Suggested Backoff Time: 89117 milliseconds',
      { kind: 'throttle', waitMs: 89_117, refused: true },
    ],
    // Gmail marks a command it slowed down, and still carries it out.
    ['gmail OK [THROTTLED]', 'A00000002 OK Success [THROTTLED]', { kind: 'throttle', waitMs: 0, refused: false }],
    ['throttled without a time', 'A1 NO [THROTTLED] slow down', { kind: 'throttle', waitMs: 5_000, refused: true }],
    ['gmail bandwidth', '* BYE [OVERQUOTA] Account exceeded command or bandwidth limits.', { kind: 'daily-quota' }],
    ['gmail bandwidth as NO', 'A5 NO [OVERQUOTA] Account exceeded command or bandwidth limits. (Failure)', { kind: 'daily-quota' }],
    ['gmail connections', 'A1 NO [ALERT] Too many simultaneous connections. (Failure)', { kind: 'too-many-connections' }],
    [
      'dovecot connections at login',
      'a1 NO [LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=3)',
      { kind: 'too-many-connections' },
    ],
    [
      'dovecot connections',
      '* BYE Maximum number of connections from user+IP exceeded (mail_max_userip_connections=3)',
      { kind: 'too-many-connections' },
    ],
    [
      'dovecot pop3 connections',
      '-ERR [IN-USE] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=3)',
      { kind: 'too-many-connections' },
    ],
    ['dovecot storage', 'A9 NO [OVERQUOTA] Quota exceeded (mailbox for user is full)', { kind: 'over-quota' }],
    ['storage without a code', 'A9 NO Mailbox is full', { kind: 'over-quota' }],
    [
      'pop3 login delay',
      '-ERR [LOGIN-DELAY] Please wait before logging in again',
      { kind: 'temporary', code: 'LOGIN-DELAY', waitMs: 300_000 },
    ],
    ['pop3 in use', '-ERR [IN-USE] Mailbox locked by another session', { kind: 'temporary', code: 'IN-USE', waitMs: undefined }],
    ['pop3 sys/temp', '-ERR [SYS/TEMP] System busy, try again later', { kind: 'temporary', code: 'SYS/TEMP' }],
    ['imap unavailable', 'A2 NO [UNAVAILABLE] Backend down', { kind: 'temporary', code: 'UNAVAILABLE' }],
  ])('%s', (_name, line, expected) => {
    expect(classifyResponseLine(line, { loginDelaySeconds: 300 })).toMatchObject(expected);
  });

  it.each([
    'A1 OK APPEND completed',
    'A1 NO [TRYCREATE] Mailbox does not exist',
    'A1 NO [AUTHENTICATIONFAILED] Invalid credentials (Failure)',
    '-ERR [AUTH] Authentication failed.',
    '-ERR [SYS/PERM] Your account is not enabled for POP access.',
    'A1 BAD [CLIENTBUG] Invalid message',
    '+OK Gpop ready for requests',
  ])('an ordinary answer is no signal: %s', (line) => {
    expect(classifyResponseLine(line)).toBeUndefined();
  });

  it('a LOGIN-DELAY refusal without the CAPA figure names no wait', () => {
    expect(classifyResponseLine('-ERR [LOGIN-DELAY] wait')).toMatchObject({ kind: 'temporary', waitMs: undefined });
  });
});

describe('what to do about a signal', () => {
  const now = new Date('2026-11-29T06:00:00Z');
  const throttle = (waitMs: number): ServerSignal => ({ kind: 'throttle', waitMs, refused: true, text: 'Request is throttled.' });

  it('waits for short throttles, leaves long ones to the next run', () => {
    expect(planForSignal(throttle(30_000), { now })).toEqual({ action: 'wait', ms: 30_000 });
    expect(planForSignal(throttle(299_609), { now })).toEqual({ action: 'run-later', resumeAfter: new Date('2026-11-29T06:04:59.609Z') });
    expect(planForSignal(throttle(299_609), { now, maxWaitMs: 300_000 })).toEqual({ action: 'wait', ms: 299_609 });
  });

  it('stops waiting once the run has waited its total', () => {
    expect(planForSignal(throttle(60_000), { now, waitedMs: 590_000 })).toMatchObject({ action: 'run-later' });
    expect(planForSignal(throttle(60_000), { now, waitedMs: 500_000 })).toEqual({ action: 'wait', ms: 60_000 });
  });

  it('a daily quota ends the run for later, a full mailbox stops it, a connection too many is dropped', () => {
    expect(planForSignal({ kind: 'daily-quota', text: 'x' })).toEqual({ action: 'run-later', resumeAfter: undefined });
    expect(planForSignal({ kind: 'over-quota', text: 'x' })).toEqual({ action: 'stop' });
    expect(planForSignal({ kind: 'too-many-connections', text: 'x' })).toEqual({ action: 'fewer-connections' });
    expect(planForSignal({ kind: 'temporary', code: 'IN-USE', waitMs: undefined, text: 'x' }, { now })).toEqual({
      action: 'wait',
      ms: 30_000,
    });
    expect(planForSignal({ kind: 'temporary', code: 'LOGIN-DELAY', waitMs: 300_000, text: 'x' }, { now })).toMatchObject({
      action: 'run-later',
    });
  });

  it('a run stopped for later exits 6 with one line that says when to run again', () => {
    const signal = classifyResponseLine('* BYE [OVERQUOTA] Account exceeded command or bandwidth limits.')!;
    const err = runLaterError('IMAP', 'imap.gmail.com:993', signal, undefined);
    expect(err.exitCode).toBe(ExitCode.LATER);
    expect(ExitCode.LATER).toBe(6);
    expect(err.code).toBe('DAILY_QUOTA');
    expect(err.message).toBe(
      'daily quota reached (IMAP server imap.gmail.com:993: [OVERQUOTA] Account exceeded command or bandwidth limits.): what is done is recorded; run again in a few hours.',
    );
    expect(runLaterReason('IMAP', 'h:993', throttle(299_609), new Date('2026-11-29T06:04:59Z'))).toBe(
      'throttled for longer than a run waits (IMAP server h:993: Request is throttled.): what is done is recorded; run again after 2026-11-29 06:04 UTC.',
    );
    expect(runLaterError('IMAP', 'h:993', throttle(1), undefined).code).toBe('THROTTLED');
  });
});
