import { describe, expect, it } from 'vitest';
import { isLoopback, parseServerUrl, redactUrl } from '../../src/cli/server-url.js';

describe('isLoopback: where plain text may go without --allow-plaintext', () => {
  it.each(['localhost', 'LOCALHOST', '127.0.0.1', '127.0.0.2', '127.255.255.254', '::1'])('%s is loopback', (host) => {
    expect(isLoopback(host)).toBe(true);
  });

  // A name is only a name: 127.mail.example may resolve to any address.
  it.each(['127.mail.example', '127.0.0.1.attacker.example', '127.', 'mail.example', '192.0.2.7', '::ffff:10.0.0.1', 'localhost.example'])(
    '%s is not loopback',
    (host) => {
      expect(isLoopback(host)).toBe(false);
    },
  );
});

describe('server URLs keep passwords out of messages', () => {
  it('reads a password from the URL, and redacts it', () => {
    const url = parseServerUrl('imaps://bob:s%40cret@imap.example:993', 'IMAP');
    expect(url.password).toBe('s@cret');
    expect(redactUrl('imaps://bob:s%40cret@imap.example:993')).toBe('imaps://bob:****@imap.example:993');
  });

  it('a bad URL error does not repeat the password', () => {
    expect(() => parseServerUrl('imaps://bob:Zq9-secret@imap.example/INBOX', 'IMAP')).toThrow(/^(?!.*Zq9-secret)/s);
  });
});

describe('international host names', () => {
  it.each([
    ['pop3s://alice@bücher.example', 'POP3', 'xn--bcher-kva.example'],
    ['imap://alice@mail.bücher.example:143', 'IMAP', 'mail.xn--bcher-kva.example'],
    ['imaps://alice@MAIL.Example.ORG', 'IMAP', 'mail.example.org'],
    ['pop3://alice@b%C3%BCcher.example', 'POP3', 'xn--bcher-kva.example'],
    ['pop3://alice@127.0.0.1:1110', 'POP3', '127.0.0.1'],
    ['imaps://alice@[::1]:993', 'IMAP', '::1'],
  ] as const)('%s (%s side) reaches DNS as %s', (text, side, host) => {
    expect(parseServerUrl(text, side).host.toLowerCase()).toBe(host);
  });

  it('an invalid international name is a usage error', () => {
    expect(() => parseServerUrl('pop3://alice@xn--a.example', 'POP3')).not.toThrow();
    expect(() => parseServerUrl('pop3://alice@bü\u0000cher.example', 'POP3')).toThrow();
  });
});

describe('a password in a URL is never printed, whatever else is wrong with the URL (issue 20 item 10)', () => {
  const SECRET = 'Zq9';
  const urls = [
    `pop3s://u:pa#ss${SECRET}@host`,
    `pop3s://u:pa?ss${SECRET}@host`,
    `pop3s://u:pa/ss${SECRET}@host`,
    `pop3s://u:pa@ss${SECRET}@host/x`,
    `u:pa${SECRET}@host`,
    `pop3s:u:pa${SECRET}@host`,
    `pop3s://u:${SECRET}pa@ss@host:99999`,
    `pop3s://u:${SECRET}pa%zz@host`,
    `pop3s://u:${SECRET}`,
    `pop3s://u:${SECRET}x/y`,
    `imaps://u:${SECRET}@host`,
    `pop3s://u:${SECRET}@`,
    `pop3s://:${SECRET}@host`,
    `pop3s://u:${SECRET}@host/INBOX`,
  ];
  it.each(urls)('%s', (text) => {
    let message = '';
    try {
      parseServerUrl(text, 'POP3');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).not.toBe('');
    expect(message).not.toContain(SECRET);
    expect(message).not.toMatch(/pa[#?/@]ss/);
    expect(message).toMatch(/POPLIFT_POP3_PASSWORD/);
    expect(message).toMatch(/--pop3-password-file/);
    expect(message).toMatch(/percent-encode/);
  });

  it.each(urls)('redactUrl(%s) keeps no part of the password', (text) => {
    expect(redactUrl(text)).not.toContain(SECRET);
  });

  it("an '@' in a password is read as part of it: the host follows the last '@'", () => {
    expect(parseServerUrl(`pop3s://u:pa@ss${SECRET}@host`, 'POP3').password).toBe(`pa@ss${SECRET}`);
  });

  it('a password with reserved characters, percent-encoded, is read back exactly', () => {
    expect(parseServerUrl('pop3s://u:p%23a%3Fs%2Fs%40w%3A@host', 'POP3').password).toBe('p#a?s/s@w:');
  });

  it('a URL without a password still gets the plain form in its error', () => {
    expect(() => parseServerUrl('pop3s://host', 'POP3')).toThrow(/No user name/);
  });
});
