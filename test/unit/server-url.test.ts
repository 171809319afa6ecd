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
