import { describe, expect, it } from 'vitest';
import {
  oauthBearerResponse,
  oauthErrorAcknowledgement,
  oauthErrorStatus,
  oauthResponse,
  plainResponse,
  sanitiseOAuthStatus,
  xoauth2Response,
} from '../../src/sasl.js';

const decoded = (b64: string): string => Buffer.from(b64, 'base64').toString('utf8');

describe('SASL initial responses', () => {
  it('PLAIN is RFC 4616 §4 example: empty authzid, NUL, authcid, NUL, password', () => {
    expect(plainResponse('tim', 'tanstaaftanstaaf')).toBe('AHRpbQB0YW5zdGFhZnRhbnN0YWFm');
  });

  it("XOAUTH2 is Google's documented example byte for byte", () => {
    expect(xoauth2Response('someuser@example.com', 'ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg')).toBe(
      'dXNlcj1zb21ldXNlckBleGFtcGxlLmNvbQFhdXRoPUJlYXJlciB5YTI5LnZGOWRmdDRxbVRjMk52YjNSbGNrQmhkSFJoZG1semRHRXVZMjl0Q2cBAQ==',
    );
  });

  it('OAUTHBEARER is the RFC 7628 §4.1 message without the optional host and port', () => {
    expect(decoded(oauthBearerResponse('user@example.com', 'vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg=='))).toBe(
      'n,a=user@example.com,\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01',
    );
  });

  it('OAUTHBEARER escapes "=" and "," in the user as RFC 5801 saslname', () => {
    expect(decoded(oauthBearerResponse('a=b,c', 't'))).toBe('n,a=a=3Db=2Cc,\x01auth=Bearer t\x01\x01');
  });

  it('oauthResponse picks the mechanism', () => {
    expect(oauthResponse('OAUTHBEARER', 'u', 't')).toBe(oauthBearerResponse('u', 't'));
    expect(oauthResponse('XOAUTH2', 'u', 't')).toBe(xoauth2Response('u', 't'));
  });
});

describe('OAuth error challenge', () => {
  it('is acknowledged with a lone %x01 for OAUTHBEARER (RFC 7628 §3.2.3) and an empty response for XOAUTH2', () => {
    expect(oauthErrorAcknowledgement('OAUTHBEARER')).toBe('AQ==');
    expect(decoded(oauthErrorAcknowledgement('OAUTHBEARER'))).toBe('\x01');
    expect(oauthErrorAcknowledgement('XOAUTH2')).toBe('');
  });

  it('yields the status of the RFC 7628 §4.3 example', () => {
    const challenge =
      'eyJzdGF0dXMiOiJpbnZhbGlkX3Rva2VuIiwic2NvcGUiOiJleGFtcGxlX3Njb3BlIiwib3BlbmlkLWNvbmZpZ3VyYXRpb24iOiJodHRwczovL2V4YW1wbGUuY29tLy53ZWxsLWtub3duL29wZW5pZC1jb25maWd1cmF0aW9uIn0=';
    expect(oauthErrorStatus(challenge)).toBe('invalid_token');
  });

  it("yields Google's numeric XOAUTH2 status as text", () => {
    const challenge = Buffer.from('{"status":"401","schemes":"bearer","scope":"https://mail.google.com/"}').toString('base64');
    expect(oauthErrorStatus(challenge)).toBe('401');
    expect(oauthErrorStatus(Buffer.from('{"status":400}').toString('base64'))).toBe('400');
  });

  it('yields nothing for a challenge that is not a JSON object with a status', () => {
    expect(oauthErrorStatus('not base64 json')).toBeUndefined();
    expect(oauthErrorStatus(Buffer.from('[1]').toString('base64'))).toBeUndefined();
    expect(oauthErrorStatus(Buffer.from('null').toString('base64'))).toBeUndefined();
    expect(oauthErrorStatus(Buffer.from('{"status":{"x":1}}').toString('base64'))).toBeUndefined();
    expect(oauthErrorStatus('')).toBeUndefined();
  });

  it('sanitises the status: printable ASCII only, at most 80 characters', () => {
    expect(sanitiseOAuthStatus('bad\r\n\x1b[31mtoken\u00e9')).toBe('bad[31mtoken');
    expect(sanitiseOAuthStatus('x'.repeat(500))).toBe('x'.repeat(80));
    expect(sanitiseOAuthStatus(403)).toBe('403');
    expect(sanitiseOAuthStatus('\u00e9\r\n')).toBeUndefined();
    expect(sanitiseOAuthStatus(undefined)).toBeUndefined();
    expect(sanitiseOAuthStatus({ status: 'x' })).toBeUndefined();
    expect(oauthErrorStatus(Buffer.from(JSON.stringify({ status: 'invalid\ntoken' })).toString('base64'))).toBe('invalidtoken');
  });
});
