import { describe, expect, it } from 'vitest';
import { describeFolderNameProblems, folderNameProblems } from '../../src/imap/folder-name-rules.js';
import { PROFILES } from '../../src/imap/provider-profile.js';

const generic = PROFILES.generic;

describe('folder names a server will refuse', () => {
  it("a '.' inside one level on a '.'-separator server is reported, with how to write levels", () => {
    const problems = folderNameProblems(['Archive.Old ISP'], { separator: '.', profile: generic });
    expect(problems).toHaveLength(1);
    expect(problems[0]!.reason).toContain("'.'");
    expect(describeFolderNameProblems(['Archive.Old ISP'], problems)).toBe(
      "the folder 'Archive.Old ISP' cannot be created: 'Archive.Old ISP' contains '.', which this server uses to separate folder levels " +
        "(poplift uses '/' for levels: write 'A/B' for a folder B inside A). Choose another --folder.",
    );
  });

  it('the same name is fine where the separator is /', () => {
    expect(folderNameProblems(['Archive.Old ISP'], { separator: '/', profile: generic })).toEqual([]);
    expect(folderNameProblems(['Archive', 'Old ISP'], { separator: '.', profile: generic })).toEqual([]);
    expect(describeFolderNameProblems(['x'], [])).toBeUndefined();
  });

  it('INBOX is never refused', () => {
    expect(folderNameProblems(['INBOX'], { separator: '.', profile: PROFILES.m365 })).toEqual([]);
  });

  it('a flat server cannot nest', () => {
    expect(folderNameProblems(['A', 'B'], { separator: '', profile: generic })[0]!.reason).toContain('no folder levels');
  });

  it.each([
    [[' Old ISP'], 'starts or ends with a space'],
    [['Old ISP '], 'starts or ends with a space'],
    [['Old  ISP'], 'two spaces in a row'],
    [['Archive', 'Old^ISP'], "contains '^'"],
  ])('Gmail refuses %j', (levels, reason) => {
    const problems = folderNameProblems(levels, { separator: '/', profile: PROFILES.gmail });
    expect(problems.map((p) => p.reason).join()).toContain(reason);
    // Other servers take the same names.
    expect(folderNameProblems(levels, { separator: '/', profile: generic })).toEqual([]);
  });

  it('Microsoft 365 reserves Files at the top level only', () => {
    expect(folderNameProblems(['files'], { separator: '/', profile: PROFILES.m365 })[0]!.reason).toBe(
      'is a name Microsoft 365 reserves for its own use',
    );
    expect(folderNameProblems(['Archive', 'Files'], { separator: '/', profile: PROFILES.m365 })).toEqual([]);
    expect(folderNameProblems(['Files'], { separator: '/', profile: generic })).toEqual([]);
  });

  it('reports every problem of every level', () => {
    const problems = folderNameProblems(['Files.x', ' a^'], {
      separator: '.',
      profile: { ...PROFILES.gmail, reservedTopLevelNames: ['Files.x'] },
    });
    expect(problems.map((p) => p.level)).toEqual(['Files.x', 'Files.x', ' a^', ' a^']);
  });
});
