import { describe, expect, it } from 'vitest';
import {
  PROFILES,
  describeProfile,
  detectProfile,
  isProfileChoice,
  oversizeReason,
  resolveProfile,
  uploadConnectionCount,
  uploadSizeLimit,
} from '../../src/imap/provider-profile.js';

// Capability lists as the servers sent them (protocol logs in client trackers).
const GMAIL_PRELOGIN =
  'IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID XLIST CHILDREN X-GM-EXT-1 XYZZY SASL-IR AUTH=XOAUTH2 AUTH=PLAIN AUTH=PLAIN-CLIENTTOKEN AUTH=OAUTHBEARER AUTH=XOAUTH'.split(
    ' ',
  );
const M365 = 'IMAP4 IMAP4rev1 AUTH=PLAIN AUTH=XOAUTH2 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+'.split(' ');
const YAHOO =
  'IMAP4rev1 ID MOVE NAMESPACE X-ID-ACLID UIDPLUS LITERAL+ CHILDREN XAPPLEPUSHSERVICE XYMHIGHESTMODSEQ AUTH=PLAIN AUTH=LOGIN AUTH=XOAUTH2'.split(
    ' ',
  );
const DOVECOT = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN'.split(' ');

describe('provider detection', () => {
  it.each([
    ['imap.gmail.com', 'gmail'],
    ['pop.gmail.com', 'gmail'],
    ['IMAP.GMAIL.COM.', 'gmail'],
    ['imap.googlemail.com', 'gmail'],
    ['outlook.office365.com', 'm365'],
    ['outlook.office.com', 'm365'],
    ['imap-mail.outlook.com', 'm365'],
    ['imap.mail.yahoo.com', 'yahoo'],
    ['pop.mail.yahoo.com', 'yahoo'],
    ['imap.zoho.com', 'zoho'],
    ['imap.zoho.eu', 'zoho'],
    ['imappro.zoho.com', 'zoho'],
    ['poppro.zoho.in', 'zoho'],
    ['mail.example.com', 'generic'],
    ['imap.gmail.com.evil.example', 'generic'],
    ['gmail.com', 'generic'],
  ])('host %s is %s', (host, name) => {
    expect(detectProfile({ host }).profile.name).toBe(name);
  });

  it('recognises a provider behind another host name by its capabilities and greeting', () => {
    expect(detectProfile({ host: '127.0.0.1', capabilities: GMAIL_PRELOGIN })).toMatchObject({
      profile: { name: 'gmail' },
      reason: 'capability X-GM-EXT-1',
    });
    expect(detectProfile({ host: '127.0.0.1', capabilities: YAHOO }).profile.name).toBe('yahoo');
    expect(
      detectProfile({ capabilities: ['USER', 'RESP-CODES', 'EXPIRE 0', 'LOGIN-DELAY 300', 'TOP', 'UIDL', 'X-GOOGLE-RICO'] }).profile.name,
    ).toBe('gmail');
    expect(
      detectProfile({ capabilities: M365, greeting: 'The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADEAMAB=]' }).profile.name,
    ).toBe('m365');
    expect(detectProfile({ greeting: 'Gpop ready for requests from 192.0.2.1 a1mb1234' }).profile.name).toBe('gmail');
    expect(detectProfile({ greeting: 'Gimap ready for requests from 192.0.2.1 x2mb241876667wmk' }).profile.name).toBe('gmail');
    expect(detectProfile({ host: '127.0.0.1', capabilities: DOVECOT, greeting: 'Dovecot (Debian) ready.' }).profile.name).toBe('generic');
  });

  it('the host name wins over the rest, and --profile over everything', () => {
    expect(detectProfile({ host: 'imap.zoho.com', capabilities: GMAIL_PRELOGIN }).profile.name).toBe('zoho');
    const forced = resolveProfile('m365', { host: 'imap.gmail.com' });
    expect(forced.profile.name).toBe('m365');
    expect(describeProfile(forced)).toBe('Microsoft 365 (set by --profile)');
    expect(resolveProfile('auto', { host: 'imap.gmail.com' }).profile.name).toBe('gmail');
    expect(describeProfile(resolveProfile(undefined, { host: 'imap.gmail.com' }))).toBe('Gmail (host name imap.gmail.com)');
  });

  it('accepts only known profile names', () => {
    for (const name of ['auto', 'gmail', 'm365', 'yahoo', 'zoho', 'generic']) expect(isProfileChoice(name)).toBe(true);
    for (const name of ['Gmail', 'outlook', '', 'o365']) expect(isProfileChoice(name)).toBe(false);
  });
});

describe('what a profile says', () => {
  it('Gmail: 15 connections (8 used), 35651584-octet uploads, drops a second copy of a Message-ID', () => {
    const g = PROFILES.gmail;
    expect([g.maxConnections, g.uploadConnections, g.appendLimit, g.dropsDuplicateMessageId, g.labelNameRules, g.pop3Window]).toEqual([
      15,
      8,
      35_651_584,
      true,
      true,
      250,
    ]);
  });

  it('Microsoft 365: \\Flagged by STORE after APPEND, Files reserved, about 20 connections', () => {
    const m = PROFILES.m365;
    expect([m.flaggedNeedsStore, m.reservedTopLevelNames, m.maxConnections]).toEqual([true, ['Files'], 20]);
  });

  it("upload size: the server's APPENDLIMIT first, then the provider's known cap", () => {
    expect(uploadSizeLimit(PROFILES.zoho, undefined)).toBe(20_971_520);
    expect(uploadSizeLimit(PROFILES.zoho, 10_000_000)).toBe(10_000_000);
    expect(uploadSizeLimit(PROFILES.generic, undefined)).toBeUndefined();
    expect(uploadSizeLimit(PROFILES.m365, undefined)).toBe(35 * 1024 * 1024);
  });

  it('a message over the limit gets a failure reason naming whose limit it is', () => {
    expect(oversizeReason(PROFILES.gmail, undefined, 35_651_584)).toBeUndefined();
    expect(oversizeReason(PROFILES.gmail, undefined, 35_651_585)).toBe(
      "35651585 octets is over Gmail's upload limit of 35651584 octets; not uploaded",
    );
    expect(oversizeReason(PROFILES.generic, 1000, 1001)).toBe("1001 octets is over the server's APPENDLIMIT of 1000 octets; not uploaded");
    expect(oversizeReason(PROFILES.generic, undefined, 1e12)).toBeUndefined();
  });

  it('upload connections: the profile default, never at or over the cap', () => {
    expect(uploadConnectionCount(PROFILES.gmail, undefined)).toBe(8);
    expect(uploadConnectionCount(PROFILES.gmail, 40)).toBe(14);
    expect(uploadConnectionCount(PROFILES.zoho, undefined)).toBe(2);
    expect(uploadConnectionCount(PROFILES.zoho, 5)).toBe(2);
    expect(uploadConnectionCount(PROFILES.generic, 12)).toBe(12);
    expect(uploadConnectionCount(PROFILES.generic, 0)).toBe(1);
  });
});
