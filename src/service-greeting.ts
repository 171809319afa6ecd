/**
 * What answered on a port, told by the first bytes it sent, when it is not
 * the mail service the user named: a wrong port is the usual cause of a
 * connection that gets no greeting, or one in the wrong words, and the user
 * should hear at once what to use instead. Shared by both protocols.
 */

export type MailService = 'POP3' | 'IMAP';

const SCHEMES: Record<MailService, { tls: string; usual: string }> = {
  POP3: { tls: 'pop3s', usual: 'usually 995 for pop3s://, 110 for pop3://' },
  IMAP: { tls: 'imaps', usual: 'usually 993 for imaps://, 143 for imap://' },
};

/** How each service greets (RFC 1939: "+OK"; RFC 9051: "* OK", "* PREAUTH" or "* BYE"). */
const GREETINGS: Record<MailService, RegExp> = {
  POP3: /^\+OK\b/i,
  IMAP: /^\* (OK|PREAUTH|BYE)\b/i,
};

/**
 * What the first bytes `first` a server sent on `port` say it is, with what
 * to use instead, when `wanted` was asked for; undefined when they say
 * nothing recognisable.
 */
export function recogniseService(first: Buffer, port: number, wanted: MailService): string | undefined {
  const { tls, usual } = SCHEMES[wanted];
  // A TLS record (alert or handshake, version 3.x): the port wants TLS from the first byte.
  if (first.length >= 2 && (first[0] === 0x15 || first[0] === 0x16) && first[1] === 0x03) {
    return `port ${port} speaks TLS from the first byte: use ${tls}://`;
  }
  const text = first.toString('latin1');
  const other: MailService = wanted === 'POP3' ? 'IMAP' : 'POP3';
  if (GREETINGS[other].test(text)) {
    const words = other === 'POP3' ? '"+OK"' : '"* OK"';
    return `it greets like ${other === 'IMAP' ? 'an IMAP' : 'a POP3'} server (${words}): give it as the ${other} URL, and the ${wanted} server's port (${usual}) here`;
  }
  if (/^220[ -]/.test(text)) return `it greets like an SMTP server ("220"): use the ${wanted} port (${usual})`;
  if (/^SSH-/.test(text)) return `it is an SSH server: use the ${wanted} port (${usual})`;
  if (/^HTTP\//.test(text)) return `it is a web server: use the ${wanted} port (${usual})`;
  return undefined;
}
