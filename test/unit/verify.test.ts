import { afterEach, describe, expect, it } from 'vitest';
import { formatVerifyReport } from '../../src/cli/verify-output.js';
import type { VerifyReport } from '../../src/engine/verify.js';
import { foldCrRuns } from '../../src/message/cr-runs.js';
import { messageKeys, prepareMessage } from '../../src/message/prepared-message.js';
import { readableHeader } from '../../src/message/display.js';
import { Pop3Session } from '../../src/pop3/pop3-session.js';
import { UID_SET_OCTETS, uidSet, uidSets } from '../../src/imap/imap-target.js';
import { mulberry32, startScriptedPop3, type ScriptedPop3 } from '../helpers/scripted-pop3.js';

describe('foldCrRuns', () => {
  const reference = (b: Buffer) => Buffer.from(b.toString('latin1').replace(/\r+\n/g, '\r\n'), 'latin1');

  it('returns the same buffer when there is no run of CRs before LF', () => {
    const m = Buffer.from('a\r\nb\rc\r\r d\n');
    expect(foldCrRuns(m)).toBe(m);
  });

  it('folds every run before LF to one CR, at the start, the end and in between', () => {
    expect(foldCrRuns(Buffer.from('\r\r\nx\r\r\r\ny\r\r\n')).toString('latin1')).toBe('\r\nx\r\ny\r\n');
    expect(foldCrRuns(Buffer.from('a\r\rb\r\r\r\r\n\r\r\n')).toString('latin1')).toBe('a\r\rb\r\n\r\n');
  });

  it('agrees with a regular expression on random CR/LF soup', () => {
    const rand = mulberry32(5);
    const alphabet = ['\r', '\r', '\n', 'a', '\0'];
    for (let round = 0; round < 500; round++) {
      const text = Array.from({ length: Math.floor(rand() * 40) }, () => alphabet[Math.floor(rand() * alphabet.length)]).join('');
      const b = Buffer.from(text, 'latin1');
      expect(foldCrRuns(b).equals(reference(b)), JSON.stringify(text)).toBe(true);
    }
  });
});

describe('messageKeys', () => {
  it('gives the key, alternative keys and sizes prepareMessage uses', () => {
    for (const text of [
      'Message-ID: <a@b>\r\n\r\nx\r\r\n',
      'From: a@example.org\r\nSubject: s\r\n\r\ncr\r\r\nend\r\r\r\n',
      'Subject: plain\r\n\r\nbody\r\n',
    ]) {
      const m = Buffer.from(text, 'latin1');
      const p = prepareMessage(m, { extraFlags: [], keepDeletedFlag: false, dateMode: 'received' });
      const k = messageKeys(m);
      expect({ key: k.key, altKeys: k.altKeys, altSizes: k.altSizes }).toEqual({ key: p.key, altKeys: p.altKeys, altSizes: p.altSizes });
    }
  });
});

describe('readableHeader', () => {
  it('reads raw 8-bit bytes as UTF-8 when they are, else as latin1', () => {
    expect(readableHeader(Buffer.from('Grüße ✓', 'utf8').toString('latin1'))).toBe('Grüße ✓');
    expect(readableHeader('caf\xe9')).toBe('café');
  });

  it('decodes RFC 2047 encoded-words, dropping the space between adjacent ones', () => {
    expect(readableHeader('=?UTF-8?B?R3LDvMOfZQ==?= =?utf-8?Q?_caf=C3=A9?= end')).toBe('Grüße café end');
    expect(readableHeader('=?iso-8859-1?q?caf=E9_au_lait?=')).toBe('café au lait');
    expect(readableHeader('=?utf-8*en?Q?hi?=')).toBe('hi');
  });

  it('leaves an encoded-word with an unknown charset as it is, and control characters for the output to neutralise', () => {
    expect(readableHeader('=?x-nonsense?Q?abc?=')).toBe('=?x-nonsense?Q?abc?=');
    expect(readableHeader('a\0b\x1bc\td')).toBe('a\0b\x1bc d');
    expect(readableHeader(undefined)).toBeUndefined();
  });
});

describe('uidSet', () => {
  it('writes runs as ranges', () => {
    expect(uidSet([1, 2, 3, 7, 9, 10])).toBe('1:3,7,9:10');
    expect(uidSet([5])).toBe('5');
  });

  it('splits a long set into sets that keep each command line under 8,000 octets (RFC 7162 section 4)', () => {
    // Every other UID of 3,000 ten-digit UIDs: no runs to compress, 11 octets a UID.
    const uids = Array.from({ length: 3000 }, (_, i) => 4_000_000_000 + 2 * i);
    const sets = uidSets(uids);
    expect(sets.length).toBeGreaterThan(1);
    // Room for the tag, "UID FETCH " and the longest item list poplift sends.
    expect(UID_SET_OCTETS).toBeLessThanOrEqual(7_900);
    for (const set of sets) expect(Buffer.byteLength(set)).toBeLessThanOrEqual(UID_SET_OCTETS);
    expect(sets.join(',').split(',').map(Number)).toEqual(uids);
    // Runs stay compressed, and a short set is one command.
    expect(uidSets([1, 2, 3, 7, 9, 10])).toEqual(['1:3,7,9:10']);
    expect(uidSets([])).toEqual([]);
  });
});

describe('Pop3Session top, topMany and rset', () => {
  const messages = [1, 2, 3, 4].map((i) => Buffer.from(`Subject: m${i}\r\nMessage-ID: <m${i}@x>\r\n\r\nline 1\r\n.dot\r\nline 3\r\n`));
  const servers: ScriptedPop3[] = [];
  const sessions: Pop3Session[] = [];
  afterEach(async () => {
    for (const s of sessions.splice(0)) s.close();
    for (const s of servers.splice(0)) await s.close();
  });
  const connect = async (capa: string[]) => {
    const server = await startScriptedPop3({ capa, messages });
    servers.push(server);
    const session = await Pop3Session.connect({
      host: '127.0.0.1',
      port: server.port,
      tls: false,
      user: 'alice',
      password: 'secret',
      timeoutMs: 5000,
    });
    sessions.push(session);
    return { server, session };
  };

  it('TOP n 0 returns the header section; TOP n 2 adds two body lines, dot-unstuffed', async () => {
    const { session } = await connect(['TOP', 'UIDL', 'USER']);
    expect((await session.top(2, 0)).toString()).toBe('Subject: m2\r\nMessage-ID: <m2@x>\r\n\r\n');
    expect((await session.top(2, 2)).toString()).toBe('Subject: m2\r\nMessage-ID: <m2@x>\r\n\r\nline 1\r\n.dot\r\n');
    await expect(session.top(1, -1)).rejects.toThrow(RangeError);
  });

  it('topMany pipelines TOPs, delivers in order and passes a -ERR to onError', async () => {
    const { server, session } = await connect(['TOP', 'UIDL', 'USER', 'PIPELINING']);
    await session.list();
    const delivered: string[] = [];
    const failed: number[] = [];
    await session.topMany([1, 2, 9, 4], 0, (n, head) => void delivered.push(`${n}:${head.toString().split('\r\n')[0]}`), {
      onError: (n) => failed.push(n),
    });
    expect(delivered).toEqual(['1:Subject: m1', '2:Subject: m2', '4:Subject: m4']);
    expect(failed).toEqual([9]);
    expect(server.log.filter((l) => l.startsWith('TOP'))).toEqual(['TOP 1 0', 'TOP 2 0', 'TOP 9 0', 'TOP 4 0']);
  });

  it('rset forgets the DELEs of the session, so QUIT commits none', async () => {
    const { server, session } = await connect(['TOP', 'UIDL', 'USER']);
    await session.dele(1);
    await session.rset();
    await session.quit();
    expect(server.committedDeletes).toEqual([]);
  });
});

describe('formatVerifyReport', () => {
  const base: VerifyReport = {
    pop3: 'pop3s://alice@pop.example:995',
    imap: 'imaps://alice@imap.example:993',
    folder: 'Archive/Old ISP',
    deep: true,
    read: 'RETR',
    folderExists: true,
    found: 3,
    folderMessages: 2,
    junkFolder: null,
    inJunk: 0,
    present: 1,
    missing: 1,
    altered: 1,
    problems: [
      {
        problem: 'missing',
        uidl: 'u1',
        number: 1,
        size: 10,
        key: 'mid:a@b',
        subject: 'Hello',
        date: 'Mon, 1 Jan 2001',
        copies: [],
        detail: 'No message with its key (mid:a@b) is in the folder.',
      },
      {
        problem: 'altered',
        uidl: 'u2',
        number: 2,
        size: 10,
        key: 'mid:c@d',
        subject: undefined,
        date: undefined,
        copies: [{ uid: 7, size: 10 }],
        detail: 'Same key and size as UID 7, but different bytes.',
      },
    ],
    notes: [
      {
        note: 'not-compared',
        uidl: 'u3',
        number: 3,
        subject: 'NUL',
        date: undefined,
        uid: 8,
        changes: [],
        detail: 'Not compared: it contains NUL bytes.',
      },
    ],
    serverChanged: 0,
    serverChanges: {},
    warnings: [],
    seconds: 1.25,
  };

  it('prints one line per problem and note, then the summary', () => {
    expect(formatVerifyReport(base).split('\n')).toEqual([
      'MISSING  UIDL u1  Mon, 1 Jan 2001  "Hello"  No message with its key (mid:a@b) is in the folder.',
      'ALTERED  UIDL u2  (no date)  (no subject)  Same key and size as UID 7, but different bytes.',
      'note  UIDL u3  (no date)  "NUL"  Not compared: it contains NUL bytes.',
      'verify pop3s://alice@pop.example:995 -> imaps://alice@imap.example:993 folder "Archive/Old ISP": 3 POP3 messages, 2 in the folder, 1 found by key, size and SHA-256; 1 missing, 1 altered; 1.3 s',
      '',
    ]);
  });

  it('counts altered copies in a plain verify too: a copy stored changed is named there', () => {
    const plain: VerifyReport = { ...base, deep: false, read: 'TOP', missing: 0, altered: 1, problems: [base.problems[1]!], notes: [] };
    expect(formatVerifyReport(plain)).toMatch(/; 0 missing, 1 altered; 1\.3 s\n$/);
  });

  it("counts the messages stored with the server's changes in the summary, by change, not one line each", () => {
    const changed = (n: number, changes: VerifyReport['notes'][number]['changes']) => ({
      note: 'server-changed' as const,
      uidl: `c${n}`,
      number: 10 + n,
      subject: undefined,
      date: undefined,
      uid: 20 + n,
      changes,
      detail: 'Stored with the server changes.',
    });
    const one: VerifyReport = {
      ...base,
      deep: false,
      read: 'TOP',
      found: 7,
      folderMessages: 7,
      present: 7,
      missing: 0,
      altered: 0,
      problems: [],
      notes: Array.from({ length: 7 }, (_, i) => changed(i, ['lineEnds'])),
      serverChanged: 7,
      serverChanges: { lineEnds: 7 },
    };
    expect(formatVerifyReport(one)).toBe(
      'verify pop3s://alice@pop.example:995 -> imaps://alice@imap.example:993 folder "Archive/Old ISP": 7 POP3 messages, 7 in the folder, 7 found by key and size, POP3 read with TOP; all there; stored with the server\'s changes: 7 (line ends rewritten); 1.3 s\n',
    );
    const two: VerifyReport = {
      ...one,
      notes: [changed(1, ['munge8bit']), changed(2, ['lineEnds', 'munge8bit'])],
      serverChanged: 2,
      serverChanges: { lineEnds: 1, munge8bit: 2 },
    };
    expect(formatVerifyReport(two)).toMatch(
      /; all there; stored with the server's changes: 2 \(line ends rewritten: 1, 8-bit header bytes replaced by X: 2\); 1\.3 s\n$/,
    );
  });
});
