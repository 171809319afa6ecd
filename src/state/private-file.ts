/**
 * Small files of the state directory that only this user may read (sign-ins,
 * run histories): read without following a link, replaced whole by rename so
 * that a crash leaves the old content or the new, never a mix.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, fsyncSync, openSync, readSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { stateFsError } from './state-dir.js';

/** Larger than this is no file poplift wrote. */
const MAX_BYTES = 16 * 1024 * 1024;

/**
 * The content of `path` and its owner, opened without following a link;
 * undefined when it does not exist or is not a regular file. Other errors
 * (ELOOP for a link) are thrown as they are, for the caller to word.
 */
export function readNoFollow(path: string): { content: Buffer; uid: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return undefined;
    const chunks: Buffer[] = [];
    const chunk = Buffer.alloc(65536);
    let total = 0;
    for (let n = readSync(fd, chunk); n > 0; n = readSync(fd, chunk)) {
      total += n;
      if (total > MAX_BYTES) throw new Error(`${path} is larger than ${MAX_BYTES} bytes`);
      chunks.push(Buffer.from(chunk.subarray(0, n)));
    }
    return { content: Buffer.concat(chunks), uid: stat.uid };
  } finally {
    closeSync(fd);
  }
}

/** Replaces `path` whole with `text`, mode 0600, through a new file renamed over it. */
export function replaceFile(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    const fd = openSync(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    try {
      writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (err) {
    try {
      unlinkSync(temporary);
    } catch {
      // Nothing was created.
    }
    throw stateFsError(err, path, 'write');
  }
}
