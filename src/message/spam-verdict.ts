/**
 * What the source's spam filter said of a message, read from the verdict
 * header fields filters write into it. An IMAP APPEND bypasses the
 * destination's own filter, so this verdict is the only one a copied message
 * gets (see --junk).
 *
 * Only verdicts count, never scores: a score's threshold belongs to the
 * filter that computed it (`X-Spam-Level`, `X-Spam-Score`, `X-Rspamd-Score`
 * are ignored). The fields read, and what makes each one a spam verdict:
 *
 * | field | written by | spam when |
 * | --- | --- | --- |
 * | X-Spam-Flag | SpamAssassin, Amavis, MDaemon, cPanel | `YES` |
 * | X-Spam-Status | SpamAssassin, Amavis, rspamd's milter headers | `Yes` before `,` or the end |
 * | X-Spam | rspamd's milter headers | `Yes` (or `True`) |
 * | X-Barracuda-Spam-Flag | Barracuda | `YES` |
 * | X-Barracuda-Spam-Status | Barracuda | `Yes` before `,` or the end |
 * | X-Forefront-Antispam-Report | Microsoft 365 / Outlook.com | `SFV:SPM` (filtered as spam) or `SFV:SKS` (marked spam by a rule) |
 * | X-MS-Exchange-Organization-SCL | Exchange | a spam confidence level of 5 to 9 |
 * | X-YahooFilteredBulk | Yahoo | present (Yahoo filed it as bulk) |
 *
 * Spoofing: any sender can write these fields into a message before it
 * reaches the source's filter. So a spam verdict in any field wins over any
 * number of fields that say "no": a sender can only send their own message
 * to the junk folder, never take a message out of it, since the source's
 * filter adds its own "yes" whatever else the message carries. No position
 * rule (such as "only above the first Received") is applied: filters differ
 * in where they insert their fields (some above the receiving server's
 * Received, some below it), so such a rule would drop real verdicts while
 * guarding only against a sender filing their own mail as spam.
 * Fields are read from the message's own header section only: a forwarded
 * message's headers are in the body (message/rfc822) and never count.
 */
import type { HeaderField } from './headers.js';
import { headerBlock, parseHeaders } from './headers.js';

/** The first word of a value (up to WSP, ',' or ';'), upper-cased; 8-bit bytes match nothing. */
function firstWord(value: string): string {
  const m = /^[^\s,;]*/.exec(value);
  return (m?.[0] ?? '').toUpperCase();
}

const YES = new Set(['YES']);
const YES_OR_TRUE = new Set(['YES', 'TRUE']);

/** Which fields carry a verdict, and whether a value is a spam verdict. */
const VERDICTS: ReadonlyMap<string, (value: string) => boolean> = new Map([
  ['x-spam-flag', (v: string) => YES.has(firstWord(v))],
  ['x-spam-status', (v: string) => YES.has(firstWord(v))],
  ['x-spam', (v: string) => YES_OR_TRUE.has(firstWord(v))],
  ['x-barracuda-spam-flag', (v: string) => YES.has(firstWord(v))],
  ['x-barracuda-spam-status', (v: string) => YES.has(firstWord(v))],
  ['x-forefront-antispam-report', (v: string) => /(?:^|;)\s*SFV\s*:\s*(?:SPM|SKS)\s*(?:;|$)/i.test(v)],
  [
    'x-ms-exchange-organization-scl',
    (v: string) => {
      const m = /^\s*(-?\d+)\s*$/.exec(v);
      return m !== null && Number(m[1]) >= 5 && Number(m[1]) <= 9;
    },
  ],
  ['x-yahoofilteredbulk', () => true],
]);

/** The verdict field that marks the message as spam, or undefined when none does. */
export function spamVerdictField(fields: readonly HeaderField[]): HeaderField | undefined {
  for (const field of fields) {
    const isSpam = VERDICTS.get(field.name);
    if (isSpam?.(field.value)) return field;
  }
  return undefined;
}

/** Whether the source's spam filter marked this message (whole, or its header section) as spam. */
export function markedAsSpam(message: Buffer): boolean {
  return spamVerdictField(parseHeaders(headerBlock(message))) !== undefined;
}
