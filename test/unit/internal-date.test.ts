import { describe, expect, it } from 'vitest';
import type { HeaderField } from '../../src/message/headers.js';
import { internalDate, parseMailDate, receivedDate } from '../../src/message/internal-date.js';

const iso = (d: Date | undefined): string | undefined => d?.toISOString();

describe('parseMailDate: real-world dates', () => {
  it.each<[string, string, string]>([
    ['RFC 5322, Mutt', 'Tue, 1 Jul 2003 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['Sendmail, zone comment', 'Tue, 01 Jul 2003 10:52:37 +0200 (CEST)', '2003-07-01T08:52:37.000Z'],
    ['Pine, double space before day', 'Tue,  1 Jul 2003 10:52:37 -0700 (PDT)', '2003-07-01T17:52:37.000Z'],
    ['qmail Received, -0000', '1 Jul 2003 08:52:37 -0000', '2003-07-01T08:52:37.000Z'],
    ['no weekday, +0000', '1 Jul 2003 08:52:37 +0000', '2003-07-01T08:52:37.000Z'],
    ['GMT', 'Tue, 1 Jul 2003 10:52:37 GMT', '2003-07-01T10:52:37.000Z'],
    ['UT', 'Tue, 1 Jul 2003 10:52:37 UT', '2003-07-01T10:52:37.000Z'],
    ['Z', 'Tue, 1 Jul 2003 10:52:37 Z', '2003-07-01T10:52:37.000Z'],
    ['LISTSERV, EST', 'Tue, 1 Jul 2003 10:52:37 EST', '2003-07-01T15:52:37.000Z'],
    ['EDT', 'Tue, 1 Jul 2003 10:52:37 EDT', '2003-07-01T14:52:37.000Z'],
    ['CDT', 'Tue, 1 Jul 2003 10:52:37 CDT', '2003-07-01T15:52:37.000Z'],
    ['MST', 'Tue, 1 Jul 2003 10:52:37 MST', '2003-07-01T17:52:37.000Z'],
    ['PDT', 'Tue, 1 Jul 2003 10:52:37 PDT', '2003-07-01T17:52:37.000Z'],
    ['CET', 'Tue, 1 Jul 2003 10:52:37 CET', '2003-07-01T09:52:37.000Z'],
    ['CEST', 'Tue, 1 Jul 2003 10:52:37 CEST', '2003-07-01T08:52:37.000Z'],
    ['BST', 'Tue, 1 Jul 2003 10:52:37 BST', '2003-07-01T09:52:37.000Z'],
    ['JST', 'Tue, 1 Jul 2003 10:52:37 JST', '2003-07-01T01:52:37.000Z'],
    ['old sendmail, MET DST comment', 'Tue, 1 Jul 2003 10:52:37 +0200 (MET DST)', '2003-07-01T08:52:37.000Z'],
    ['MET DST without parentheses', 'Tue, 1 Jul 2003 10:52:37 MET DST', '2003-07-01T09:52:37.000Z'],
    ['Majordomo, -0400 (EDT)', 'Tue, 1 Jul 2003 10:52:37 -0400 (EDT)', '2003-07-01T14:52:37.000Z'],
    ['old Eudora, two-digit year and PDT', 'Mon, 12 Jun 95 14:23:11 PDT', '1995-06-12T21:23:11.000Z'],
    ['two-digit year 00, one-digit hour', 'Wed, 5 Jan 00 9:05:03 +0100', '2000-01-05T08:05:03.000Z'],
    ['two-digit year 49 is 2049', '1 Jan 49 00:00:00 +0000', '2049-01-01T00:00:00.000Z'],
    ['two-digit year 50 is 1950', '1 Jan 50 00:00:00 +0000', '1950-01-01T00:00:00.000Z'],
    ['Y2K bug, three-digit year', 'Sat, 1 Jan 100 10:00:00 -0500', '2000-01-01T15:00:00.000Z'],
    ['Outlook Express', 'Thu, 16 Dec 1999 15:19:54 +0100', '1999-12-16T14:19:54.000Z'],
    ['Outlook, no seconds', 'Mon, 3 Jan 2005 15:23 +0100', '2005-01-03T14:23:00.000Z'],
    ['asctime', 'Tue Jul  1 10:52:37 2003', '2003-07-01T10:52:37.000Z'],
    ['date(1), zone before year', 'Tue Jul 01 10:52:37 CEST 2003', '2003-07-01T08:52:37.000Z'],
    ['ISO-ish with space', '2003-07-01 10:52:37', '2003-07-01T10:52:37.000Z'],
    ['ISO 8601 Z', '2003-07-01T10:52:37Z', '2003-07-01T10:52:37.000Z'],
    ['ISO 8601 with offset', '2003-07-01T10:52:37+02:00', '2003-07-01T08:52:37.000Z'],
    ['ISO-ish with RFC zone', '2003-07-01 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['ISO slashes', '2003/07/01 10:52:37 -0100', '2003-07-01T11:52:37.000Z'],
    ['full lower-case names', 'tuesday, 1 july 2003 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['upper case', 'TUE, 01 JUL 2003 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['no comma after weekday', 'Tue 1 Jul 2003 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['no space after comma', 'Tue,1 Jul 2003 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['dotted month abbreviation and weekday', 'Tue., 1 Jul. 2003 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['Sept', 'Mon, 1 Sept 2003 10:52:37 +0200', '2003-09-01T08:52:37.000Z'],
    ['dots in time', 'Tue, 1 Jul 2003 10.52.37 +0200', '2003-07-01T08:52:37.000Z'],
    ['zone with colon', 'Tue, 1 Jul 2003 10:52:37 +02:00', '2003-07-01T08:52:37.000Z'],
    ['bare hour zone', 'Tue, 1 Jul 2003 10:52:37 +2', '2003-07-01T08:52:37.000Z'],
    ['India +0530', 'Tue, 1 Jul 2003 10:52:37 +0530', '2003-07-01T05:22:37.000Z'],
    ['Newfoundland -0330', 'Tue, 1 Jul 2003 10:52:37 -0330', '2003-07-01T14:22:37.000Z'],
    ['GMT+0200 (web mailer)', 'Tue, 1 Jul 2003 10:52:37 GMT+0200', '2003-07-01T08:52:37.000Z'],
    ['UTC-5', 'Tue, 1 Jul 2003 10:52:37 UTC-5', '2003-07-01T15:52:37.000Z'],
    ['unknown zone name is +0000', 'Tue, 1 Jul 2003 10:52:37 XYZ', '2003-07-01T10:52:37.000Z'],
    ['military zone is +0000', 'Tue, 1 Jul 2003 10:52:37 A', '2003-07-01T10:52:37.000Z'],
    ['missing zone is +0000', 'Tue, 1 Jul 2003 10:52:37', '2003-07-01T10:52:37.000Z'],
    ['extra whitespace', '  Tue,   1   Jul\t2003   10:52:37   +0200  ', '2003-07-01T08:52:37.000Z'],
    ['long zone comment', 'Tue, 1 Jul 2003 10:52:37 +0200 (Central European Summer Time)', '2003-07-01T08:52:37.000Z'],
    ['comments anywhere', '(sent) Tue, 1 (day) Jul 2003 10:52:37 (time) +0200 (W. Europe (nested))', '2003-07-01T08:52:37.000Z'],
    ['leap day crossing into March', 'Tue, 29 Feb 2000 23:59:59 -0100', '2000-03-01T00:59:59.000Z'],
    ['crossing into the next year', 'Wed, 31 Dec 2003 23:30:00 -0800', '2004-01-01T07:30:00.000Z'],
    ['previous day in UTC', 'Mon, 30 Jun 2003 22:52:37 -1000', '2003-07-01T08:52:37.000Z'],
    ['spam: wrong weekday is ignored', 'Fri, 1 Jul 2003 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['spam: two zones, first wins', 'Tue, 1 Jul 2003 10:52:37 +0200 +0500', '2003-07-01T08:52:37.000Z'],
    ['spam: PM', 'Tue, 1 Jul 2003 10:52:37 PM +0200', '2003-07-01T20:52:37.000Z'],
    ['spam: 12 AM', 'Tue, 1 Jul 2003 12:05:00 AM -0000', '2003-07-01T00:05:00.000Z'],
    ['spam: US month-day order', 'Jul 1 2003 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['VMS hyphenated date', '1-JUL-2003 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
    ['fractional seconds', 'Tue, 1 Jul 2003 10:52:37.123 +0200', '2003-07-01T08:52:37.000Z'],
    ['date only', '1 Jul 2003', '2003-07-01T00:00:00.000Z'],
    ['leap second clamped', 'Wed, 31 Dec 2008 23:59:60 +0000', '2008-12-31T23:59:59.000Z'],
    ['folded header line', 'Tue, 1 Jul 2003\r\n 10:52:37 +0200', '2003-07-01T08:52:37.000Z'],
  ])('%s: %j', (_name, text, expected) => {
    expect(iso(parseMailDate(text))).toBe(expected);
  });
});

describe('parseMailDate: rejections', () => {
  it.each<[string, string]>([
    ['empty', ''],
    ['blank', '   '],
    ['words', 'not a date'],
    ['only a comment', '(Tue, 1 Jul 2003 10:52:37 +0200)'],
    ['day 32', 'Tue, 32 Jul 2003 10:52:37 +0200'],
    ['day 0', 'Tue, 0 Jul 2003 10:52:37 +0200'],
    ['30 February', 'Sun, 30 Feb 2003 10:00:00 +0000'],
    ['29 February of a common year', 'Sat, 29 Feb 2003 10:00:00 +0000'],
    ['29 February 1900 (not a leap year)', 'Thu, 29 Feb 1900 10:00:00 +0000'],
    ['month 13 (ISO)', '2003-13-01 10:00:00'],
    ['month 0 (ISO)', '2003-00-01 10:00:00'],
    ['unknown month name', 'Tue, 1 Foo 2003 10:52:37 +0200'],
    ['numeric month', '1 7 2003 10:52:37'],
    ['hour 25', 'Tue, 1 Jul 2003 25:00:00 +0200'],
    ['hour 24', 'Tue, 1 Jul 2003 24:00:00 +0200'],
    ['minute 60', 'Tue, 1 Jul 2003 10:60:00 +0200'],
    ['second 61', 'Tue, 1 Jul 2003 10:52:61 +0200'],
    ['PM with hour 13', 'Tue, 1 Jul 2003 13:00:00 PM'],
    ['zone hours 99', 'Tue, 1 Jul 2003 10:52:37 +9999'],
    ['zone minutes 60', 'Tue, 1 Jul 2003 10:52:37 +0160'],
    ['spam: +-0800', 'Tue, 1 Jul 2003 10:52:37 +-0800'],
    ['five-digit zone', 'Tue, 1 Jul 2003 10:52:37 +02000'],
    ['missing year', 'Tue, 1 Jul 10:52:37 +0200'],
    ['missing day', 'Jul 2003 10:52:37 +0200'],
    ['missing month', 'Tue, 1 2003 10:52:37 +0200'],
    ['two years', '1 Jul 2003 2004 10:52:37'],
    ['two months', '1 Jul Aug 2003 10:52:37'],
    ['two times', '1 Jul 2003 10:52:37 11:00:00'],
    ['six-digit number', '123456 Jul 2003'],
    ['year before 1900', '1 Jul 1850 10:00:00 +0000'],
    ['garbage words after the date', 'Tue, 1 Jul 2003 10:52:37 +0200 buy cheap stuff'],
    ['email address', 'someone@example.com'],
    ['German numeric date', '01.07.2003 10:52:37'],
    ['US numeric date', '07/01/2003 10:52:37 AM'],
    ['control bytes', '\u0000\u00ff\u0001'],
    ['3 digits of year and day', '100 Jul 2003'],
  ])('%s: %j', (_name, text) => {
    expect(parseMailDate(text)).toBeUndefined();
  });

  it('never throws and stays fast on a huge hostile value', () => {
    const hostile = `${'('.repeat(50_000)}${'1 '.repeat(50_000)}${':'.repeat(50_000)}`;
    const start = performance.now();
    expect(parseMailDate(hostile)).toBeUndefined();
    expect(parseMailDate('9'.repeat(100_000))).toBeUndefined();
    expect(parseMailDate(`1 Jul 2003 ${'1:'.repeat(50_000)}`)).toBeUndefined();
    expect(performance.now() - start).toBeLessThan(1000);
  });
});

describe('receivedDate', () => {
  it.each<[string, string, string]>([
    [
      'Postfix, unfolded',
      'from mail.example.com (mail.example.com [192.0.2.1]) by mx.example.net (Postfix) with ESMTP id 3F2A81C0 for <b@example.net>; Tue,  1 Jul 2003 10:52:37 +0200 (CEST)',
      '2003-07-01T08:52:37.000Z',
    ],
    ['qmail', '(qmail 12345 invoked by uid 0); 1 Jul 2003 08:52:37 -0000', '2003-07-01T08:52:37.000Z'],
    [
      'Sendmail',
      'from host.example.org (host.example.org [198.51.100.7]) by mx.example.net (8.12.9/8.12.9) with ESMTP id h618qbA01234; Tue, 1 Jul 2003 10:52:37 +0200',
      '2003-07-01T08:52:37.000Z',
    ],
    [
      'Exchange 2003',
      'from EXCH01.corp.example.com ([10.0.0.1]) by EXCH02.corp.example.com with Microsoft SMTPSVC(5.0.2195.6713); Tue, 1 Jul 2003 10:52:37 +0200',
      '2003-07-01T08:52:37.000Z',
    ],
    [
      'Exchange 2010',
      'from EX1.example.com (10.0.0.1) by EX2.example.com (10.0.0.2) with Microsoft SMTP Server (TLS) id 14.3.123.3; Tue, 1 Jul 2003 10:52:37 +0200',
      '2003-07-01T08:52:37.000Z',
    ],
    ['Gmail', 'by 10.112.0.1 with SMTP id abc123; Tue, 1 Jul 2003 01:52:37 -0700 (PDT)', '2003-07-01T08:52:37.000Z'],
    [
      'semicolons before the last one',
      'from x (helo=a;b) by y with esmtp (Exim 4.20) id 19XA-0001-00; Tue, 01 Jul 2003 10:52:37 +0200',
      '2003-07-01T08:52:37.000Z',
    ],
  ])('%s', (_name, value, expected) => {
    expect(iso(receivedDate(value))).toBe(expected);
  });

  it('gives undefined without a semicolon or with a bad date', () => {
    expect(receivedDate('from x by y with SMTP id 1')).toBeUndefined();
    expect(receivedDate('from x by y; yesterday')).toBeUndefined();
    expect(receivedDate('from x by y; Tue, 1 Jul 2003 10:52:37 +0200; trailing')).toBeUndefined();
  });
});

describe('internalDate', () => {
  const h = (...pairs: [string, string][]): HeaderField[] => pairs.map(([name, value]) => ({ name, value }));
  const top = ['received', 'from b by c; Tue, 1 Jul 2003 10:00:05 +0000'] as [string, string];
  const lower = ['received', 'from a by b; Tue, 1 Jul 2003 10:00:02 +0000'] as [string, string];
  const date = ['date', 'Tue, 1 Jul 2003 10:00:00 +0000'] as [string, string];

  it("'received' uses the topmost Received header", () => {
    expect(internalDate(h(top, lower, date), 'received')).toEqual({
      date: new Date('2003-07-01T10:00:05Z'),
      source: 'received',
    });
  });

  it("'received' falls back to Date when the topmost Received has no usable date, without trying lower ones", () => {
    const broken = ['received', 'from b by c with SMTP'] as [string, string];
    expect(internalDate(h(broken, lower, date), 'received')).toEqual({ date: new Date('2003-07-01T10:00:00Z'), source: 'date' });
    expect(internalDate(h(date), 'received')).toEqual({ date: new Date('2003-07-01T10:00:00Z'), source: 'date' });
  });

  it("'received' falls back to the server when nothing parses", () => {
    expect(internalDate(h(['date', 'garbage']), 'received')).toEqual({ date: undefined, source: 'server' });
    expect(internalDate([], 'received')).toEqual({ date: undefined, source: 'server' });
  });

  it("'date' uses Date first, then the topmost Received, then the server", () => {
    expect(internalDate(h(top, lower, date), 'date')).toEqual({ date: new Date('2003-07-01T10:00:00Z'), source: 'date' });
    expect(internalDate(h(top, lower, ['date', 'never']), 'date')).toEqual({
      date: new Date('2003-07-01T10:00:05Z'),
      source: 'received',
    });
    expect(internalDate(h(['subject', 'x']), 'date')).toEqual({ date: undefined, source: 'server' });
  });

  it("'date' uses the first Date header", () => {
    expect(internalDate(h(date, ['date', 'Wed, 2 Jul 2003 10:00:00 +0000']), 'date').date).toEqual(new Date('2003-07-01T10:00:00Z'));
  });

  it("'server' always leaves the date to the server", () => {
    expect(internalDate(h(top, date), 'server')).toEqual({ date: undefined, source: 'server' });
  });
});
