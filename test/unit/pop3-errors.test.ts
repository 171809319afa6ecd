import { describe, expect, it } from 'vitest';
import { ExitCode, connectFailure, isTlsError, tlsFailure } from '../../src/errors.js';
import { commandRefused, connectionLost, loginRefused } from '../../src/pop3/pop3-errors.js';

const S = 'pop.example.org:995';
const errno = (code: string): Error => Object.assign(new Error(code), { code });

describe('POP3 error messages', () => {
  it.each([
    ['ECONNREFUSED', /refused the connection \(ECONNREFUSED\): check the POP3 host and port/],
    ['ENOTFOUND', /host "pop\.example\.org" could not be resolved \(ENOTFOUND\)/],
    ['EAI_AGAIN', /could not be resolved \(EAI_AGAIN\)/],
    ['ETIMEDOUT', /did not accept the connection in time \(ETIMEDOUT\)/],
    ['EHOSTUNREACH', /is unreachable \(EHOSTUNREACH\)/],
    ['EWHATEVER', /Could not connect to POP3 server pop\.example\.org:995 \(EWHATEVER\)/],
  ])('%s before the greeting is a CONNECT failure', (code, words) => {
    const err = connectFailure('POP3', S, 'pop.example.org', errno(code));
    expect(err.exitCode).toBe(ExitCode.CONNECT);
    expect(err.code).toBe('POP3_CONNECT');
    expect(err.side).toBe('POP3');
    expect(err.server).toBe(S);
    expect(err.message).toMatch(words);
  });

  it.each([
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'self-signed'],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'self-signed'],
    ['CERT_HAS_EXPIRED', 'has expired'],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'does not match the host name "pop.example.org"'],
    ['UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'unknown authority'],
  ])('%s names the certificate problem and the options to fix it', (code, words) => {
    expect(isTlsError(errno(code))).toBe(true);
    const err = tlsFailure('POP3', S, 'pop.example.org', errno(code));
    expect(err.exitCode).toBe(ExitCode.CONNECT);
    expect(err.code).toBe('POP3_TLS');
    expect(err.message).toContain(words);
    expect(err.message).toContain('--pop3-ca-file');
    expect(err.message).toContain('--pop3-insecure');
  });

  it('a TLS protocol error points at the port', () => {
    expect(isTlsError(errno('ERR_SSL_WRONG_VERSION_NUMBER'))).toBe(true);
    expect(isTlsError(errno('ECONNRESET'))).toBe(false);
    expect(tlsFailure('POP3', S, 'h', errno('ERR_SSL_WRONG_VERSION_NUMBER')).message).toMatch(/usually port 995/);
  });

  it('login refusals: AUTH unless the response code says busy or temporary', () => {
    expect(loginRefused(S, 'alice', '[AUTH] Authentication failed.').exitCode).toBe(ExitCode.AUTH);
    expect(loginRefused(S, 'alice', '').code).toBe('POP3_AUTH');
    expect(loginRefused(S, 'alice', '[IN-USE] locked').code).toBe('POP3_IN_USE');
    expect(loginRefused(S, 'alice', '[SYS/TEMP] try later').code).toBe('POP3_UNAVAILABLE');
    expect(loginRefused(S, 'alice', '[SYS/TEMP] try later').exitCode).toBe(ExitCode.CONNECT);
  });

  // What real servers answer to a wrong password: each names the credentials, with or without [AUTH].
  it.each([
    ['[AUTH] Authentication failed.', 'Dovecot'],
    ['[AUTH] Invalid login', 'Cyrus'],
    ['Login failed.', 'Courier'],
    ['[AUTH] Bad login', 'GNU Mailutils'],
    ['Authentication failed (bad password?)', 'popa3d'],
    ['authentication failed', 'solid-pop3d'],
    ['authorization failed', 'qmail-pop3d'],
    ['[AUTH] Username and password not accepted.', 'Gmail'],
    ['Logon failure: unknown user name or bad password.', 'Exchange'],
    ['Invalid user name or password.', 'hMailServer'],
    ['Access denied', 'a terse server'],
    ['', 'a server that gives no reason'],
  ])('"%s" (%s) is a credential problem: exit 3, advice to check the password', (text) => {
    const err = loginRefused(S, 'alice', text);
    expect(err.code).toBe('POP3_AUTH');
    expect(err.exitCode).toBe(ExitCode.AUTH);
    expect(err.message).toMatch(/check the POP3 user name and password\.$/);
  });

  it.each([
    ['message is damaged', 'solid-pop3d, a message file without its final line end'],
    ['Server failure accessing /var/mail/alice', 'popa3d'],
    ['[SYS/PERM] Mailbox storage is unavailable', 'RFC 3206 permanent system error'],
    ['[SYS/PERM] Authentication failed', '[SYS/PERM] wins over the words'],
    ['[OUT-SYNC] Mailbox updated by other party or corrupted', 'GNU Mailutils'],
  ])('"%s" (%s) is the server\'s own problem: quoted, no password advice, exit 1', (text) => {
    const err = loginRefused(S, 'alice', text);
    expect(err.code).toBe('POP3_MAILDROP');
    expect(err.exitCode).toBe(ExitCode.PARTIAL);
    expect(err.side).toBe('POP3');
    expect(err.message).toContain(`"${text}"`);
    expect(err.message).toContain('alice');
    expect(err.message).not.toMatch(/password|user name/i);
  });

  it('[AUTH] makes any text a credential problem; [SYS/TEMP] and [IN-USE] stay transient whatever the words', () => {
    expect(loginRefused(S, 'alice', '[AUTH] message is damaged').code).toBe('POP3_AUTH');
    expect(loginRefused(S, 'alice', '[SYS/TEMP] Temporary authentication failure.').code).toBe('POP3_UNAVAILABLE');
    expect(loginRefused(S, 'alice', '[IN-USE] Bad login').code).toBe('POP3_IN_USE');
  });

  it('server text is quoted on one line, control characters shown as escapes', () => {
    const err = commandRefused(S, 'RETR 4', 'bad\r\nthing\x00');
    expect(err.code).toBe('POP3_ERR');
    expect(err.message).toBe(
      `POP3 server ${S} refused RETR 4 ("bad\\x0d\\x0athing\\x00"): the message stays on the server and is tried again on the next run.`,
    );
    expect(err.message).not.toMatch(/[\r\n]/);
  });

  it('a lost connection keeps the socket error as cause', () => {
    const cause = errno('ECONNRESET');
    const err = connectionLost(S, 'RETR 2', undefined, cause);
    expect(err.cause).toBe(cause);
    expect(err.exitCode).toBe(ExitCode.PARTIAL);
    expect(err.message).toMatch(/reset the connection \(ECONNRESET\) during RETR 2: run poplift again to continue\.$/);
  });
});
