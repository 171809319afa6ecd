/**
 * Mailbox names on the wire. The APPEND channel writes its own commands, so
 * it must encode names exactly as the control connection (imapflow) does:
 * modified UTF-7 (RFC 3501 §5.1.3) unless the server enabled UTF8=ACCEPT.
 */

/** RFC 3501 §5.1.3: printable ASCII stays, '&' becomes '&-', other runs become &base64(UTF-16BE)-. */
export function encodeModifiedUtf7(name: string): string {
  let out = '';
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    const bytes = Buffer.alloc(pending.length * 2);
    pending.forEach((unit, i) => bytes.writeUInt16BE(unit, i * 2));
    out += '&' + bytes.toString('base64').replace(/=+$/, '').replace(/\//g, ',') + '-';
    pending = [];
  };
  for (let i = 0; i < name.length; i++) {
    const unit = name.charCodeAt(i);
    if (unit >= 0x20 && unit <= 0x7e) {
      flush();
      out += unit === 0x26 ? '&-' : name.charAt(i);
    } else {
      pending.push(unit);
    }
  }
  flush();
  return out;
}

/**
 * An IMAP atom or quoted string. Throws for text a quoted string cannot carry;
 * the message leaves the text out, since it may be a password (LOGIN).
 */
export function imapAstring(text: string): string {
  if (/^[A-Za-z0-9!#$&'+,\-./:;<=>?@^_`|~]+$/.test(text) && text.toUpperCase() !== 'NIL') return text;
  if (/[\r\n\0]/.test(text)) throw new Error('an IMAP quoted string cannot carry a line break or NUL');
  return '"' + text.replace(/[\\"]/g, (c) => '\\' + c) + '"';
}
