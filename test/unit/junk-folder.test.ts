import { describe, expect, it } from 'vitest';
import { junkFolderByName } from '../../src/imap/junk-folder.js';

const folders = (...paths: string[]) => paths.map((path) => ({ path, delimiter: '.' }));

describe('the junk folder by its name, on a server that marks none', () => {
  it('is the one top-level folder with a junk folder name, whatever its case', () => {
    expect(junkFolderByName(folders('INBOX', 'Sent', 'Junk E-mail', 'Archive.Spam'))).toEqual(['Junk E-mail']);
    expect(junkFolderByName(folders('INBOX', 'SPAM'))).toEqual(['SPAM']);
  });

  it('is found under the namespace prefix (Courier, Cyrus: INBOX.)', () => {
    expect(junkFolderByName(folders('INBOX', 'INBOX.Sent', 'INBOX.Junk'), 'INBOX.')).toEqual(['INBOX', 'Junk']);
  });

  it('is none when two folders could be it, or only a subfolder has the name', () => {
    expect(junkFolderByName(folders('INBOX', 'Junk', 'Spam'))).toBeUndefined();
    expect(junkFolderByName(folders('INBOX', 'Archive.Junk'))).toBeUndefined();
    expect(junkFolderByName(folders('INBOX', 'Junkyard', 'Spammers'))).toBeUndefined();
  });
});
