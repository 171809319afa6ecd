/**
 * The junk folder of a server that cannot mark one (no SPECIAL-USE, RFC
 * 6154, and no Gmail XLIST): found by the names mail clients and servers
 * give it, at the top of the personal namespace. Only one folder may
 * answer: with "Junk" and "Spam" both there, which one the user's mail
 * client files spam into is not known, and nothing is routed.
 */

/** Names of the junk folder in mail clients and servers (Thunderbird, Outlook, Microsoft 365, Yahoo, Roundcube, SpamAssassin setups). */
const JUNK_NAMES = new Set(['junk', 'spam', 'junk e-mail', 'junk email', 'junk mail', 'bulk mail', 'spambox']);

export interface ListedFolder {
  path: string;
  delimiter: string | undefined;
}

/** The levels of the one top-level folder (under `prefix`, e.g. Courier's 'INBOX.') with a junk folder's name. */
export function junkFolderByName(folders: readonly ListedFolder[], prefix = ''): string[] | undefined {
  const found = folders.filter((f) => {
    const name = f.path.startsWith(prefix) ? f.path.slice(prefix.length) : f.path;
    if (f.delimiter && name.includes(f.delimiter)) return false;
    return JUNK_NAMES.has(name.toLowerCase());
  });
  if (found.length !== 1) return undefined;
  const only = found[0]!;
  return only.delimiter ? only.path.split(only.delimiter) : [only.path];
}
