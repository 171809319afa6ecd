/**
 * Two clients create the same folder at once (two runs on two machines into
 * one new folder): both find it missing, both send CREATE, and the server
 * refuses the second because the first made it. A folder that exists is
 * as good as one this client created.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { ImapTarget } from '../../src/imap/imap-target.js';
import { startDovecot, type Dovecot, type DovecotUser } from '../helpers/dovecot.js';
import { describeIntegration } from '../helpers/suite.js';

describeIntegration('a folder created by another client at the same moment', () => {
  let dovecot: Dovecot;
  let bob: DovecotUser;
  beforeAll(async () => {
    dovecot = await startDovecot({ tls: false });
    bob = dovecot.addUser('bob', 'pw');
  }, 60_000);
  afterAll(async () => {
    await dovecot?.stop();
  });

  const connect = () =>
    ImapTarget.connect({
      host: '127.0.0.1',
      port: dovecot.ports.imap,
      tls: 'starttls',
      allowPlaintext: true,
      user: bob.name,
      password: bob.password,
      tlsOptions: {},
      timeoutMs: 30_000,
    });

  it('both openFolder(create) calls get the one folder, 10 times out of 10', async () => {
    const [a, b] = await Promise.all([connect(), connect()]);
    try {
      for (let i = 1; i <= 10; i++) {
        const results = await Promise.allSettled([a.openFolder([`Race${i}`], true), b.openFolder([`Race${i}`], true)]);
        const failed = results.filter((r) => r.status === 'rejected').map((r) => String(r.reason));
        expect(failed, `trial ${i}`).toEqual([]);
        const [x, y] = results.map((r) => (r as PromiseFulfilledResult<Awaited<ReturnType<ImapTarget['openFolder']>>>).value);
        expect(x!.exists && y!.exists).toBe(true);
      }
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });
});
