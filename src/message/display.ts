/**
 * Header values for people to read in a report (never for matching: the
 * dedup key works on the raw bytes, see identity-key.ts).
 */

const ENCODED_WORD = /=\?([^?\s]+)\?([BbQq])\?([^?\s]*)\?=/g;
/** Whitespace between two encoded-words is not part of the text (RFC 2047 §6.2). */
const BETWEEN_ENCODED_WORDS = /(=\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)[ \t]+(?==\?[^?\s]+\?[BbQq]\?[^?\s]*\?=)/g;

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeWord(word: string, charset: string, encoding: string, text: string): string {
  let bytes: Buffer;
  if (encoding.toUpperCase() === 'B') {
    bytes = Buffer.from(text, 'base64');
  } else {
    const latin1 = text.replace(/_/g, ' ').replace(/=([0-9A-Fa-f]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
    bytes = Buffer.from(latin1, 'latin1');
  }
  try {
    // RFC 2231 allows a language after '*': =?utf-8*en?Q?...?=
    return new TextDecoder(charset.split('*')[0]!.toLowerCase(), { fatal: true }).decode(bytes);
  } catch {
    return word;
  }
}

/**
 * `value` (an unfolded header value, one code unit per byte as headers.ts
 * gives it) as readable text: raw 8-bit bytes read as UTF-8 when they are
 * valid UTF-8, RFC 2047 encoded-words decoded when their charset is known
 * (left as they are otherwise), tabs as spaces. Control characters stay:
 * every output neutralises them (display-text.ts), and --json keeps them exact.
 */
export function readableHeader(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  let text = value;
  if (/[^\x00-\x7f]/.test(text)) {
    try {
      text = utf8.decode(Buffer.from(value, 'latin1'));
    } catch {
      text = value;
    }
  }
  if (text.includes('=?')) {
    text = text
      .replace(BETWEEN_ENCODED_WORDS, '$1')
      .replace(ENCODED_WORD, (word, charset: string, encoding: string, encoded: string) => decodeWord(word, charset, encoding, encoded));
  }
  return text.replace(/\t/g, ' ');
}
