/**
 * contrib/systemd's unit files, checked by systemd-analyze verify as
 * systemd itself would load them (instance "alice"); ExecStart names this
 * checkout's poplift, since verify insists the program exists.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/child-run.js';

const CONTRIB = fileURLToPath(new URL('../../contrib/systemd/', import.meta.url));
const analyze = spawnSync('systemd-analyze', ['--version']);

describe.skipIf(analyze.error !== undefined && process.env.CI !== 'true')('contrib/systemd', () => {
  it('every unit passes systemd-analyze verify, with the sandboxing the bridge needs', () => {
    const dir = mkdtempSync(join(tmpdir(), 'poplift-units-'));
    const units = readdirSync(CONTRIB).filter((n) => /\.(service|timer)$/.test(n));
    expect(units.sort()).toEqual(['poplift-watch@.service', 'poplift@.service', 'poplift@.timer']);
    const paths = units.map((name) => {
      const text = readFileSync(join(CONTRIB, name), 'utf8');
      if (name.endsWith('.service')) {
        for (const directive of [
          'ProtectSystem=strict',
          'NoNewPrivileges=yes',
          'StateDirectory=poplift/%i',
          'LoadCredential=pop3:',
          'LoadCredential=imap:',
        ])
          expect(text, `${name}: ${directive}`).toContain(directive);
        // Passwords come as credentials, never in the environment.
        expect(text).not.toMatch(/POPLIFT_(POP3|IMAP)_PASSWORD/);
      }
      const path = join(dir, name.replace('@.', '@alice.'));
      writeFileSync(path, text.replaceAll('/usr/local/bin/poplift', BIN));
      return path;
    });
    const verify = spawnSync('systemd-analyze', ['verify', '--man=no', ...paths], { encoding: 'utf8' });
    expect(verify.error).toBeUndefined();
    expect(verify.stderr).toBe('');
    expect(verify.status).toBe(0);
  });
});
