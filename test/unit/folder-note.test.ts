import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { run } from '../../src/cli/main.js';

/** Runs migrate against a port nobody listens on, stderr a terminal or not. */
async function migrate(args: string[], tty: boolean): Promise<string> {
  const stderr = new PassThrough();
  if (tty) Object.assign(stderr, { isTTY: true, columns: 80 });
  let text = '';
  stderr.on('data', (c: Buffer) => (text += c.toString()));
  const home = mkdtempSync(join(tmpdir(), 'poplift-folder-note-'));
  await run(['migrate', 'pop3://a@127.0.0.1:1', 'imap://a@127.0.0.1:1', '--timeout', '2', ...args], {
    stdout: new PassThrough(),
    stderr,
    env: { HOME: home, XDG_STATE_HOME: home, POPLIFT_POP3_PASSWORD: 'x', POPLIFT_IMAP_PASSWORD: 'y' },
  });
  return text;
}

describe('migrate without --folder', () => {
  it('says once, on a terminal, that the mail goes into INBOX', async () => {
    const text = await migrate([], true);
    expect(text.match(/no --folder given: the mail goes into INBOX/g)).toHaveLength(1);
  });

  it('says nothing when --folder is given, under --quiet, or without a terminal (cron)', async () => {
    expect(await migrate(['--folder', 'INBOX'], true)).not.toContain('no --folder');
    expect(await migrate(['--quiet'], true)).not.toContain('no --folder');
    expect(await migrate([], false)).not.toContain('no --folder');
  });
});
