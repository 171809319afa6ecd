/**
 * hoodiecrow-imap 2.1 (npm, a devDependency) as an IMAP destination: an
 * in-memory IMAP4rev1 server, run in the test's own process on a loopback
 * port. One account, whatever the login (its design: every user shares the
 * storage); each added user is one more name/password it accepts. Its
 * quirks are its own code's, e.g. STATUS on a missing folder is answered
 * `BAD Invalid mailbox name` where RFC 3501 has NO.
 */
import { createRequire } from 'node:module';
import { freePort, type MailServer, type MailUser } from './mail-server.js';

interface HoodiecrowMailbox {
  messages: Array<{ raw: string; uid: number; flags: string[]; 'X-GM-LABELS'?: string[] }>;
}

interface HoodiecrowServer {
  users: Record<string, { password: string }>;
  listen(port: number, host: string, callback: () => void): void;
  close(callback: () => void): void;
  getMailbox(path: string): HoodiecrowMailbox | undefined;
  appendMessage(mailbox: HoodiecrowMailbox | string, flags: string[], internaldate: Date | string, raw: string): void;
  server: { close(callback: () => void): void; getConnections(cb: (err: unknown, n: number) => void): void } & NodeJS.EventEmitter;
}

type HoodiecrowFactory = (options: {
  plugins?: Array<string | ((server: { registerCapability(keyword: string): void }) => void)>;
  users?: Record<string, { password: string }>;
  storage?: unknown;
}) => HoodiecrowServer;

export interface Hoodiecrow extends MailServer {
  addUser(name: string, password?: string): MailUser;
  deliver(user: MailUser, messages: Buffer[]): void;
  /** The raw bytes of a folder's messages (latin1, as the server keeps strings), or undefined when it does not exist. */
  folder(path: string): string[] | undefined;
  /** With `gmail`: each message's X-GM-LABELS as stored (labels in their wire form: modified UTF-7), in folder order. */
  labels(path: string): string[][] | undefined;
}

export interface HoodiecrowOptions {
  /**
   * Gmail's IMAP as its extensions document describes it: X-GM-EXT-1
   * (X-GM-LABELS by FETCH and STORE, a message's labels starting with its
   * folder's: \Inbox, or the special-use attribute, or the folder's name),
   * SPECIAL-USE, and Gmail's folders [Gmail]/All Mail (\All) and
   * [Gmail]/Spam (\Junk).
   */
  gmail?: boolean;
}

/** hoodiecrow-imap is a devDependency: missing only when the install skipped them. */
export function hoodiecrowMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('hoodiecrow-imap');
    return undefined;
  } catch {
    return 'hoodiecrow-imap is not installed: run npm ci';
  }
}

export async function startHoodiecrow(options: HoodiecrowOptions = {}): Promise<Hoodiecrow> {
  const require = createRequire(import.meta.url);
  const hoodiecrow = require('hoodiecrow-imap') as HoodiecrowFactory;
  const version = (require('hoodiecrow-imap/package.json') as { version: string }).version;
  const started = Date.now();
  const server = hoodiecrow({
    // What a client meets on a typical small server: UIDPLUS, LITERAL+, NAMESPACE; no MULTIAPPEND.
    plugins: [
      'ID',
      'NAMESPACE',
      'UIDPLUS',
      'LITERALPLUS',
      'UNSELECT',
      'ENABLE',
      'IDLE',
      // The plugin implements X-GM-LABELS but does not announce X-GM-EXT-1, which Gmail's CAPABILITY has.
      ...(options.gmail
        ? ['X-GM-EXT-1', 'SPECIAL-USE', (server: { registerCapability(keyword: string): void }) => server.registerCapability('X-GM-EXT-1')]
        : []),
    ],
    users: {},
    storage: {
      INBOX: { messages: [] },
      '': {
        separator: '/',
        folders: options.gmail
          ? {
              '[Gmail]': {
                flags: ['\\Noselect', '\\HasChildren'],
                folders: { 'All Mail': { 'special-use': '\\All', messages: [] }, Spam: { 'special-use': '\\Junk', messages: [] } },
              },
            }
          : {},
      },
    },
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const sockets = new Set<import('node:net').Socket>();
  server.server.on('connection', (socket: import('node:net').Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return {
    name: 'hoodiecrow',
    product: `hoodiecrow-imap ${version}`,
    dir: '',
    imap: { host: '127.0.0.1', port },
    startMs: Date.now() - started,
    addUser(name, password = `pw-${name}`) {
      server.users[name] = { password };
      return { name, login: name, password };
    },
    deliver(_user, messages) {
      for (const raw of messages) server.appendMessage('INBOX', [], new Date(), raw.toString('latin1'));
    },
    folder(path) {
      return server.getMailbox(path)?.messages.map((m) => m.raw);
    },
    labels(path) {
      return server.getMailbox(path)?.messages.map((m) => [...(m['X-GM-LABELS'] ?? [])]);
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
