import { describe, expect, it } from 'vitest';
import { flagsFromHeaders, isValidKeyword, parseFlagList, type MessageFlags } from '../../src/message/flags.js';
import type { HeaderField } from '../../src/message/headers.js';

const keep = { keepDeletedFlag: true };
const drop = { keepDeletedFlag: false };

const h = (...pairs: [string, string][]): HeaderField[] => pairs.map(([name, value]) => ({ name, value }));
const none: MessageFlags = { flags: [], invalidKeywords: [], markedDeleted: false };

describe('flagsFromHeaders', () => {
  it('gives nothing for a message without flag headers', () => {
    expect(flagsFromHeaders(h(['subject', 'x']), drop)).toEqual(none);
  });

  it.each<[string, string, string[]]>([
    ['status', 'R', ['\\Seen']],
    ['status', 'RO', ['\\Seen']],
    ['status', 'ro', ['\\Seen']],
    ['status', 'O', []],
    ['status', '', []],
    ['x-status', 'A', ['\\Answered']],
    ['x-status', 'F', ['\\Flagged']],
    ['x-status', 'T', ['\\Draft']],
    ['x-status', 'aft', ['\\Answered', '\\Flagged', '\\Draft']],
    ['x-status', 'TFA', ['\\Answered', '\\Flagged', '\\Draft']],
    ['x-mozilla-status', '0001', ['\\Seen']],
    ['x-mozilla-status', '0002', ['\\Answered']],
    ['x-mozilla-status', '0004', ['\\Flagged']],
    ['x-mozilla-status', '0007', ['\\Seen', '\\Answered', '\\Flagged']],
    ['x-mozilla-status', '1001', ['\\Seen', '$Forwarded']],
    ['x-mozilla-status', '8000', []],
    ['x-mozilla-status', '0000', []],
    ['x-mozilla-status', '000F', ['\\Seen', '\\Answered', '\\Flagged']],
    ['x-mozilla-status', '100f', ['\\Seen', '\\Answered', '\\Flagged', '$Forwarded']],
    ['x-mozilla-status', 'zzzz', []],
    ['x-mozilla-status', '0x01', []],
    ['x-mozilla-status', '1', []],
    ['x-mozilla-status', '00001', []],
  ])('%s: %j → %j', (name, value, flags) => {
    expect(flagsFromHeaders(h([name, value]), drop).flags).toEqual(flags);
  });

  it('orders system flags canonically before keywords', () => {
    const result = flagsFromHeaders(h(['x-keywords', 'work'], ['x-status', 'F'], ['status', 'RO']), drop);
    expect(result.flags).toEqual(['\\Seen', '\\Flagged', 'work']);
  });

  it('takes the union of all flag headers, including repeated ones', () => {
    const result = flagsFromHeaders(
      h(['status', 'O'], ['x-mozilla-status', '0002'], ['status', 'R'], ['x-status', 'F'], ['x-keywords', 'a'], ['x-keywords', 'b']),
      drop,
    );
    expect(result.flags).toEqual(['\\Seen', '\\Answered', '\\Flagged', 'a', 'b']);
  });

  it('reads X-Status D as deleted: marked only, or \\Deleted when kept', () => {
    expect(flagsFromHeaders(h(['x-status', 'D']), drop)).toEqual({ ...none, markedDeleted: true });
    expect(flagsFromHeaders(h(['x-status', 'd']), keep)).toEqual({ flags: ['\\Deleted'], invalidKeywords: [], markedDeleted: true });
  });

  it('reads X-Mozilla-Status 0x0008 as deleted: marked only, or \\Deleted when kept', () => {
    expect(flagsFromHeaders(h(['x-mozilla-status', '0009']), drop)).toEqual({
      flags: ['\\Seen'],
      invalidKeywords: [],
      markedDeleted: true,
    });
    expect(flagsFromHeaders(h(['x-mozilla-status', '0009']), keep)).toEqual({
      flags: ['\\Seen', '\\Deleted'],
      invalidKeywords: [],
      markedDeleted: true,
    });
  });

  it('splits X-Keywords and X-Mozilla-Keys on spaces and commas', () => {
    const result = flagsFromHeaders(h(['x-keywords', ' $Label1, work,,urgent\tlater '], ['x-mozilla-keys', 'todo    $label2']), drop);
    expect(result.flags).toEqual(['$Label1', 'work', 'urgent', 'later', 'todo', '$label2']);
    expect(result.invalidKeywords).toEqual([]);
  });

  it('ignores Mozilla padding (X-Mozilla-Keys is often just spaces)', () => {
    expect(flagsFromHeaders(h(['x-mozilla-keys', ' '.repeat(80)]), drop)).toEqual(none);
  });

  it('drops keywords that are not IMAP atoms, and system-flag look-alikes', () => {
    const result = flagsFromHeaders(h(['x-keywords', 'ok (bad) \\Seen wild* per%cent "q" br]ace {lit} caf\u00e9 ctl\u0001 ok2']), drop);
    expect(result.flags).toEqual(['ok', 'ok2']);
    expect(result.invalidKeywords).toEqual(['(bad)', '\\Seen', 'wild*', 'per%cent', '"q"', 'br]ace', '{lit}', 'caf\u00e9', 'ctl\u0001']);
  });

  it('de-duplicates keywords case-insensitively, keeping the first spelling', () => {
    const result = flagsFromHeaders(
      h(['x-mozilla-status', '1000'], ['x-keywords', '$forwarded Work'], ['x-mozilla-keys', 'work $Forwarded']),
      drop,
    );
    expect(result.flags).toEqual(['$Forwarded', 'Work']);
  });

  it('de-duplicates invalid keywords too', () => {
    expect(flagsFromHeaders(h(['x-keywords', 'a* a*'], ['x-mozilla-keys', 'a*']), drop).invalidKeywords).toEqual(['a*']);
  });

  it('matches header names case-insensitively', () => {
    expect(flagsFromHeaders(h(['X-Status', 'A'], ['STATUS', 'R']), drop).flags).toEqual(['\\Seen', '\\Answered']);
  });

  it('does not add a system flag twice', () => {
    const result = flagsFromHeaders(h(['status', 'R'], ['x-mozilla-status', '0001'], ['status', 'RR']), drop);
    expect(result.flags).toEqual(['\\Seen']);
  });
});

describe('isValidKeyword', () => {
  it.each(['$Forwarded', 'work', 'Junk', 'NonJunk', '$MDNSent', 'a.b-c_d', "x!#&'+/:;<=>?@[^`|}~", 'A'])('accepts %j', (s) => {
    expect(isValidKeyword(s)).toBe(true);
  });

  it.each([
    '',
    ' ',
    'two words',
    '(a',
    'a)',
    '{',
    '%',
    '*',
    '"',
    '\\',
    ']',
    '\\Seen',
    'caf\u00e9',
    'tab\t',
    'nul\u0000',
    'del\u007f',
    'x\u0080',
  ])('rejects %j', (s) => {
    expect(isValidKeyword(s)).toBe(false);
  });
});

describe('parseFlagList', () => {
  it('accepts system flags in any case and returns them in canonical case', () => {
    expect(parseFlagList('\\seen \\ANSWERED \\Flagged \\draft \\DeLeTeD')).toEqual([
      '\\Seen',
      '\\Answered',
      '\\Flagged',
      '\\Draft',
      '\\Deleted',
    ]);
  });

  it('accepts keywords and keeps their order', () => {
    expect(parseFlagList('\\Seen $Imported  poplift\t$Label1')).toEqual(['\\Seen', '$Imported', 'poplift', '$Label1']);
  });

  it('returns nothing for an empty or blank list', () => {
    expect(parseFlagList('')).toEqual([]);
    expect(parseFlagList('   ')).toEqual([]);
  });

  it('removes duplicates, case-insensitively', () => {
    expect(parseFlagList('\\Seen \\seen $Imported $imported')).toEqual(['\\Seen', '$Imported']);
  });

  it.each(['\\Recent', '\\*', '\\Unknown', 'bad*', '(x)', 'caf\u00e9', '\\'])('rejects %j, naming it', (bad) => {
    expect(() => parseFlagList(`\\Seen ${bad}`)).toThrow(bad);
  });
});
