import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { runDemo, sampleMessage } from '../../src/cli/demo-command.js';
import { dovecotMissing } from '../../src/cli/demo-dovecot.js';

function io() {
  const stderr = new PassThrough();
  let text = '';
  stderr.on('data', (c: Buffer) => (text += c.toString()));
  return { io: { stdout: new PassThrough(), stderr, env: {} }, text: () => text };
}

describe('poplift demo without Dovecot', () => {
  it('says which packages to install, in one line, and exits 2', async () => {
    const root = mkdtempSync(join(tmpdir(), 'poplift-no-dovecot-'));
    const out = io();
    expect(await runDemo(out.io, [root])).toBe(2);
    expect(out.text()).toBe(
      'poplift demo: Dovecot is not installed, and the demo runs its private mail servers on it: apt-get install dovecot-imapd dovecot-pop3d\n',
    );
  });

  it('names the missing server when only dovecot-core is there', () => {
    const root = mkdtempSync(join(tmpdir(), 'poplift-dovecot-core-'));
    mkdirSync(join(root, 'sbin'));
    writeFileSync(join(root, 'sbin', 'dovecot'), '');
    mkdirSync(join(root, 'lib', 'dovecot'), { recursive: true });
    writeFileSync(join(root, 'lib', 'dovecot', 'imap'), '');
    expect(dovecotMissing([root])).toBe("Dovecot's pop3 server is not installed");
  });
});

it('sample messages are distinct, CRLF, and some lack a Message-ID', () => {
  const all = Array.from({ length: 405 }, (_, i) => sampleMessage(i + 1));
  expect(new Set(all.map((m) => m.toString('latin1'))).size).toBe(405);
  for (const m of all) expect(m.toString('latin1')).not.toMatch(/[^\r]\n/);
  expect(all.filter((m) => !m.includes('Message-ID:')).length).toBe(16);
});
