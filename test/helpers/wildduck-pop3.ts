/**
 * WildDuck's POP3 server (@zone-eu/wildduck, a devDependency): its own
 * protocol class, lib/pop3/server.js, with the options its pop3.js gives it
 * (the greeting names "WildDuck POP3 Server"), on a loopback port in the
 * test's process. The full server keeps mail in MongoDB and Redis; here an
 * in-memory store answers the hooks the protocol class calls, doing what
 * pop3.js does with the database:
 * - onListMessages: the newest `maxMessages` messages of INBOX (250 in its
 *   config/pop3.toml), oldest first, only those whose UID is at least the
 *   oldest one the previous session listed (its "pxm" Redis key), which is
 *   then moved up to the oldest listed now;
 * - onFetchMessage: the stored bytes;
 * - onUpdate: deleted messages go to Trash, fetched ones are marked seen.
 */
import { createRequire } from 'node:module';
import { Readable } from 'node:stream';
import { freePort, type MailServer, type MailUser } from './mail-server.js';

interface StoredMessage {
  id: string;
  uid: number;
  raw: Buffer;
  seen: boolean;
}

interface Account {
  password: string;
  inbox: StoredMessage[];
  trash: StoredMessage[];
  uidNext: number;
  /** The "pxm" index: UIDs below it are never listed again over POP3. */
  lastIndex: number | undefined;
}

interface ListedMessage {
  id: string;
  uid: number;
  mailbox: string;
  size: number;
  flags: string[];
  seen: boolean;
}

interface Session {
  user: { id: string; username: string };
}

type Callback<T> = (err: Error | null, value?: T) => void;

interface Pop3ServerInstance {
  listen(port: number, host: string, callback: () => void): void;
  close(callback: () => void): void;
}

export interface WildDuckPop3 extends MailServer {
  addUser(name: string, password?: string): MailUser;
  deliver(user: MailUser, messages: Buffer[]): void;
  /** What INBOX holds now (delivery order), and what Trash holds. */
  inbox(user: MailUser): Buffer[];
  trash(user: MailUser): Buffer[];
}

export function wildDuckMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('@zone-eu/wildduck/lib/pop3/server');
    return undefined;
  } catch {
    return '@zone-eu/wildduck is not installed: run npm ci';
  }
}

/** `maxMessages`: WildDuck's pop3.maxMessages (250 in its shipped config). */
export async function startWildDuckPop3(options: { maxMessages?: number } = {}): Promise<WildDuckPop3> {
  const require = createRequire(import.meta.url);
  const POP3Server = require('@zone-eu/wildduck/lib/pop3/server') as new (options: Record<string, unknown>) => Pop3ServerInstance;
  const version = (require('@zone-eu/wildduck/package.json') as { version: string }).version;
  const maxMessages = options.maxMessages ?? 250;
  const accounts = new Map<string, Account>();
  const started = Date.now();

  const server = new POP3Server({
    secure: false,
    // Plain text on loopback: STLS would need a certificate and changes nothing the tests look at.
    disableSTARTTLS: true,
    logger: false,
    id: { name: 'WildDuck POP3 Server', version },

    onAuth(auth: { username: string; password: string }, _session: Session, callback: Callback<{ user: Session['user'] }>) {
      const account = accounts.get(auth.username);
      if (!account || account.password !== auth.password) callback(null);
      else callback(null, { user: { id: auth.username, username: auth.username } });
    },

    onListMessages(session: Session, callback: Callback<{ messages: ListedMessage[]; count: number; size: number }>) {
      const account = accounts.get(session.user.id)!;
      const from = account.lastIndex;
      const newest = account.inbox
        .filter((m) => from === undefined || m.uid >= from)
        .sort((a, b) => b.uid - a.uid)
        .slice(0, maxMessages);
      if (newest.length > 0) account.lastIndex = newest[newest.length - 1]!.uid;
      const messages = newest
        .reverse()
        .map((m) => ({ id: m.id, uid: m.uid, mailbox: 'INBOX', size: m.raw.length, flags: [], seen: m.seen }));
      callback(null, { messages, count: messages.length, size: messages.reduce((n, m) => n + m.size, 0) });
    },

    onFetchMessage(message: ListedMessage, session: Session, callback: Callback<Readable>) {
      const stored = accounts.get(session.user.id)!.inbox.find((m) => m.id === message.id);
      if (!stored) callback(new Error('Message does not exist or is already deleted'));
      else callback(null, Readable.from([stored.raw]));
    },

    onUpdate(update: { deleted: ListedMessage[]; seen: ListedMessage[] }, session: Session, callback: () => void) {
      const account = accounts.get(session.user.id)!;
      for (const s of update.seen) {
        const stored = account.inbox.find((m) => m.id === s.id);
        if (stored) stored.seen = true;
      }
      const gone = new Set(update.deleted.map((d) => d.id));
      account.trash.push(...account.inbox.filter((m) => gone.has(m.id)));
      account.inbox = account.inbox.filter((m) => !gone.has(m.id));
      // pop3.js answers before its database update is done.
      setImmediate(callback);
    },
  });

  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const of = (user: MailUser) => accounts.get(user.name)!;
  return {
    name: 'wildduck',
    product: `WildDuck ${version} POP3 (maxMessages ${maxMessages})`,
    dir: '',
    pop3: { host: '127.0.0.1', port },
    startMs: Date.now() - started,
    addUser(name, password = `pw-${name}`) {
      accounts.set(name, { password, inbox: [], trash: [], uidNext: 1, lastIndex: undefined });
      return { name, login: name, password };
    },
    deliver(user, messages) {
      const account = of(user);
      for (const raw of messages) {
        const uid = account.uidNext++;
        account.inbox.push({ id: `${user.name}-${uid}`, uid, raw, seen: false });
      }
    },
    inbox: (user) => of(user).inbox.map((m) => m.raw),
    trash: (user) => of(user).trash.map((m) => m.raw),
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
