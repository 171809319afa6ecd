/** Dovecot behind the common MailServer shape (a thin adapter over startDovecot). */
import { dovecotBinary, DOVECOT_INSTALL_HINT, startDovecot, type DovecotOptions, type DovecotUser } from './dovecot.js';
import type { MailServer, MailUser } from './mail-server.js';

export function dovecotMissing(): string | undefined {
  return dovecotBinary() ? undefined : `Dovecot is not installed: ${DOVECOT_INSTALL_HINT}`;
}

export async function startDovecotServer(options: DovecotOptions = {}): Promise<MailServer> {
  const started = Date.now();
  const dovecot = await startDovecot(options);
  const startMs = Date.now() - started;
  const users = new Map<string, DovecotUser>();
  const tls = dovecot.ports.imaps !== 0;
  return {
    name: 'dovecot',
    product: 'Dovecot 2.3',
    dir: dovecot.dir,
    imap: { host: '127.0.0.1', port: dovecot.ports.imap, ...(tls ? { tlsPort: dovecot.ports.imaps } : {}) },
    pop3: { host: '127.0.0.1', port: dovecot.ports.pop3, ...(tls ? { tlsPort: dovecot.ports.pop3s } : {}) },
    ...(tls ? { certPath: dovecot.certPath } : {}),
    startMs,
    addUser(name, password): MailUser {
      const user = dovecot.addUser(name, password);
      users.set(name, user);
      return { name, login: name, password: user.password };
    },
    deliver(user, messages) {
      const u = users.get(user.name);
      if (!u) throw new Error(`no Dovecot user ${user.name}`);
      for (const raw of messages) dovecot.deliver(u, raw);
    },
    stop: () => dovecot.stop(),
  };
}
