import { describe, expect, it } from 'vitest';
import { REDACTED, SecretRedactor } from '../../src/secrets-redaction.js';

const b64 = (text: string): string => Buffer.from(text, 'utf8').toString('base64');

describe('SecretRedactor', () => {
  const password = 'p@ss wörd"\\/+x';
  const redactor = SecretRedactor.forCredentials({ user: 'alice', password });

  it('removes the password as is, percent-encoded and as an IMAP quoted string', () => {
    for (const form of [password, encodeURIComponent(password), password.replace(/["\\]/g, '\\$&')]) {
      const out = redactor.redact(`NO bad password ${form} here`);
      expect(out).toBe(`NO bad password ${REDACTED} here`);
    }
    expect(redactor.redact(encodeURIComponent(password).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()))).toBe(REDACTED);
  });

  it('removes the SASL PLAIN blob, and the password inside any base64 blob at any alignment', () => {
    expect(redactor.redact(`NO ${b64(`\0alice\0${password}`)}`)).toBe(`NO ${REDACTED}`);
    for (const prefix of ['', 'a', 'ab', 'abc', '\0bob\0', 'authzid\0someone\0']) {
      const blob = b64(`${prefix}${password}trailing`);
      const out = redactor.redact(`NO [AUTHENTICATIONFAILED] ${blob}`);
      expect(out, prefix).toContain(REDACTED);
      // What is left of the blob no longer decodes to anything holding the password.
      const left = out
        .replace(/^NO \[AUTHENTICATIONFAILED\] /, '')
        .split(REDACTED)
        .join('');
      expect(Buffer.from(left, 'base64').toString('utf8')).not.toContain('wörd');
    }
  });

  it('removes an access token and the XOAUTH2/OAUTHBEARER blobs', () => {
    const token = 'ya29.a0AfH6SMB-secret-token';
    const r = SecretRedactor.forCredentials({ user: 'bob@example.com', accessToken: token });
    const xoauth2 = b64(`user=bob@example.com\x01auth=Bearer ${token}\x01\x01`);
    expect(r.redact(`-ERR ${xoauth2}`)).toBe(`-ERR ${REDACTED}`);
    expect(r.redact(`-ERR token ${token} expired`)).toBe(`-ERR token ${REDACTED} expired`);
  });

  it('redacts error messages in place, with their causes, and wraps trace functions', () => {
    const cause = Object.assign(new Error(`was ${password}`), { responseText: `x ${password}` });
    const err = new Error(`failed: ${password}`, { cause });
    redactor.redactError(err);
    expect(err.message).toBe(`failed: ${REDACTED}`);
    expect(err.stack).not.toContain(password);
    expect(cause.message).toBe(`was ${REDACTED}`);
    expect(cause.responseText).toBe(`x ${REDACTED}`);
    const lines: string[] = [];
    redactor.wrap((l) => lines.push(l))!(`S: ${password}`);
    expect(lines).toEqual([`S: ${REDACTED}`]);
    expect(redactor.wrap(undefined)).toBeUndefined();
  });
});
