import { describe, expect, it } from 'vitest';
import { recogniseService } from '../../src/service-greeting.js';

describe('recogniseService', () => {
  const tlsAlert = Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]);
  it.each([
    ['POP3', tlsAlert, 'port 995 speaks TLS from the first byte: use pop3s://'],
    ['IMAP', tlsAlert, 'port 995 speaks TLS from the first byte: use imaps://'],
    [
      'POP3',
      Buffer.from('* OK [CAPABILITY IMAP4rev1] ready\r\n'),
      'it greets like an IMAP server ("* OK"): give it as the IMAP URL, and the POP3 server\'s port (usually 995 for pop3s://, 110 for pop3://) here',
    ],
    [
      'IMAP',
      Buffer.from('+OK POP3 ready\r\n'),
      'it greets like a POP3 server ("+OK"): give it as the POP3 URL, and the IMAP server\'s port (usually 993 for imaps://, 143 for imap://) here',
    ],
    [
      'IMAP',
      Buffer.from('220 mx.example ESMTP\r\n'),
      'it greets like an SMTP server ("220"): use the IMAP port (usually 993 for imaps://, 143 for imap://)',
    ],
    ['POP3', Buffer.from('SSH-2.0-OpenSSH_9.2\r\n'), 'it is an SSH server: use the POP3 port (usually 995 for pop3s://, 110 for pop3://)'],
    [
      'IMAP',
      Buffer.from('HTTP/1.1 400 Bad Request\r\n'),
      'it is a web server: use the IMAP port (usually 993 for imaps://, 143 for imap://)',
    ],
  ] as const)('%s: %j', (wanted, first, said) => {
    expect(recogniseService(first, 995, wanted)).toBe(said);
  });

  it('says nothing of its own protocol or of words it does not know', () => {
    expect(recogniseService(Buffer.from('+OK ready\r\n'), 110, 'POP3')).toBeUndefined();
    expect(recogniseService(Buffer.from('* OK ready\r\n'), 143, 'IMAP')).toBeUndefined();
    expect(recogniseService(Buffer.from('hello\r\n'), 143, 'IMAP')).toBeUndefined();
  });
});
