import { describe, expect, it } from 'vitest';
import { markedAsSpam } from '../../src/message/spam-verdict.js';

const message = (head: string, body = 'Hello.\r\n') => Buffer.from(`${head}Subject: t\r\n\r\n${body}`, 'latin1');

describe('markedAsSpam', () => {
  it.each<[string, string]>([
    ['SpamAssassin flag', 'X-Spam-Flag: YES\r\n'],
    ['SpamAssassin flag, lower case name and value', 'x-spam-flag: yes\r\n'],
    ['SpamAssassin status', 'X-Spam-Status: Yes, score=7.9 required=5.0 tests=EMPTY_MESSAGE\r\n'],
    ['SpamAssassin status folded', 'X-Spam-Status: Yes,\r\n\tscore=7.9 required=5.0 tests=MISSING_DATE,\r\n\tNO_RELAYS\r\n'],
    ['status whose first line is only the verdict', 'X-Spam-Status:\r\n Yes, score=9\r\n'],
    ['rspamd', 'X-Spam: Yes\r\n'],
    ['rspamd, true', 'X-Spam: true\r\n'],
    ['Barracuda flag', 'X-Barracuda-Spam-Flag: YES\r\n'],
    ['Barracuda status', 'X-Barracuda-Spam-Status: Yes, SCORE=8.1 using global scores\r\n'],
    ['Microsoft 365 filter', 'X-Forefront-Antispam-Report: CIP:192.0.2.1;CTRY:;LANG:en;SCL:5;SRV:;IPV:NLI;SFV:SPM;H:mx;PTR:;CAT:SPM;\r\n'],
    ['Microsoft 365 rule', 'X-Forefront-Antispam-Report: SFV:SKS;SCL:9\r\n'],
    ['Exchange confidence level', 'X-MS-Exchange-Organization-SCL: 6\r\n'],
    ['Yahoo bulk', 'X-YahooFilteredBulk: 192.0.2.7\r\n'],
    ['name with spaces before the colon', 'X-Spam-Flag  : YES\r\n'],
    ['bare LF line ends', 'X-Spam-Flag: YES\n'],
  ])('%s is spam', (_what, head) => {
    expect(markedAsSpam(message(head))).toBe(true);
  });

  it.each<[string, string]>([
    ['no verdict at all', 'From: a@example.org\r\n'],
    ['SpamAssassin says no', 'X-Spam-Flag: NO\r\nX-Spam-Status: No, score=-1.0 required=5.0\r\n'],
    ["a score alone (the threshold is the filter's)", 'X-Spam-Level: **********\r\nX-Spam-Score: 12.5\r\nX-Rspamd-Score: 15\r\n'],
    ['rspamd says no', 'X-Spam: No\r\n'],
    ['a word that only starts with yes', 'X-Spam-Flag: YESTERDAY\r\nX-Spam-Status: Yesno\r\n'],
    ['Microsoft 365 not spam', 'X-Forefront-Antispam-Report: CIP:192.0.2.1;SCL:1;SFV:NSPM;H:mx;CAT:NONE;\r\n'],
    ['SPM elsewhere than the verdict', 'X-Forefront-Antispam-Report: CAT:SPM;SFV:NSPM;\r\n'],
    ['Exchange bypass and low levels', 'X-MS-Exchange-Organization-SCL: -1\r\n'],
    ['Exchange level 4', 'X-MS-Exchange-Organization-SCL: 4\r\n'],
    ['8-bit bytes in the value', 'X-Spam-Flag: \xd9ES\r\n'],
    [
      'other fields that merely mention spam',
      'Subject: YES this is spam\r\nX-Spam-Report: Yes\r\nX-Spam-Checker-Version: SpamAssassin\r\n',
    ],
  ])('%s is not spam', (_what, head) => {
    expect(markedAsSpam(message(head))).toBe(false);
  });

  it('a spam verdict wins over any field that says no, before or after it (a sender cannot unflag)', () => {
    expect(markedAsSpam(message('X-Spam-Flag: NO\r\nX-Spam-Status: No\r\nX-Spam-Flag: YES\r\n'))).toBe(true);
    expect(markedAsSpam(message('X-Spam-Flag: YES\r\nX-Spam-Flag: NO\r\nReceived: from x\r\n'))).toBe(true);
    expect(markedAsSpam(message('Received: from x\r\nX-Spam-Status: Yes, score=6\r\n'))).toBe(true);
  });

  it('reads the header section only: verdicts in the body or a forwarded message do not count', () => {
    const forwarded = 'Content-Type: message/rfc822\r\n\r\nX-Spam-Flag: YES\r\nX-Spam-Status: Yes\r\nSubject: old\r\n\r\nold body\r\n';
    expect(markedAsSpam(message('MIME-Version: 1.0\r\n', forwarded))).toBe(false);
    expect(markedAsSpam(message('', 'X-Spam-Flag: YES\r\n'))).toBe(false);
  });

  it('works on a header section alone (what TOP returns)', () => {
    expect(markedAsSpam(Buffer.from('X-Spam-Flag: YES\r\n\r\n'))).toBe(true);
    expect(markedAsSpam(Buffer.from('X-Spam-Flag: YES'))).toBe(true);
  });

  it('keeps the message bytes as they are', () => {
    const m = message('X-Spam-Flag: YES\r\n', 'caf\xe9\r\n');
    const copy = Buffer.from(m);
    markedAsSpam(m);
    expect(m.equals(copy)).toBe(true);
  });
});
