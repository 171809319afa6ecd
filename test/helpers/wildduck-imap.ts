/**
 * WildDuck's IMAP server (@zone-eu/wildduck, a devDependency): its own
 * protocol core, imap-core's IMAPServer, with the options its imap.js gives
 * it (ID name "WildDuck IMAP Server", APPENDLIMIT from maxMB = 25), on a
 * loopback port in the test's process. The full server keeps mail in
 * MongoDB and Redis; here an in-memory store answers the handlers the core
 * calls, and stores a message the way lib/message-handler.js does:
 * - APPEND: the raw bytes are parsed into a MIME tree by the core's indexer
 *   (imap-core/lib/indexer), size, BODYSTRUCTURE and ENVELOPE are taken from
 *   that tree, then getMaildata moves attachment bodies (and text bodies over
 *   300 KB) out of the tree and storeNodeBodies hands them to WildDuck's own
 *   attachment storage class (lib/attachments/gridstore-storage.js, with
 *   decodeBase64 on as in config/attachments.toml), whose GridFS bucket and
 *   files collection are kept in memory here. The raw bytes are not kept.
 * - FETCH: every item, BODY[] included, is answered by the core's
 *   getQueryResponse from the stored tree: the message is rebuilt from it by
 *   the indexer, attachments streamed back (base64 re-encoded) by the storage
 *   class, as WildDuck's on-fetch.js does. So BODY[] is what a real WildDuck
 *   serves, not what was appended.
 * Mailbox changes reach other sessions through a journal (the notifier), as
 * in WildDuck: an APPEND on one connection shows up as EXISTS on another
 * that has the folder selected.
 */
import { createRequire } from 'node:module';
import { Readable, Writable } from 'node:stream';
import { freePort, type MailServer, type MailUser } from './mail-server.js';

type Callback = (err: Error | null, ...values: unknown[]) => void;

interface StoredMessage {
  uid: number;
  modseq: number;
  flags: string[];
  idate: Date;
  size: number;
  bodystructure: unknown;
  envelope: unknown;
  mimeTree: unknown;
}

interface Folder {
  _id: string;
  path: string;
  specialUse?: string;
  uidValidity: number;
  uidNext: number;
  modifyIndex: number;
  subscribed: boolean;
  messages: StoredMessage[];
}

interface JournalEntry {
  _id: string;
  command: string;
  uid: number;
  modseq?: number;
  ignore?: string;
  flags?: string[];
}

interface Account {
  password: string;
  folders: Map<string, Folder>;
}

interface Session {
  id: string;
  user: { id: string; username: string };
  selected: { mailbox: string; condstoreEnabled?: boolean; uidList: number[] } | false;
  writeStream: { write(data: unknown, done?: () => void): void };
  formatResponse(command: string, uid: number, data?: Record<string, unknown>): unknown;
  getQueryResponse(query: unknown[], message: StoredMessage, options: Record<string, unknown>): unknown[];
  matchSearchQuery(message: StoredMessage, query: unknown, callback: (err: Error | null, match: boolean) => void): void;
  isUTF8Enabled(): boolean;
}

interface ImapServerInstance {
  notifier: unknown;
  on(event: string, listener: (err: Error) => void): void;
  listen(port: number, host: string, callback: () => void): void;
  close(callback: () => void): void;
  [handler: `on${string}`]: unknown;
}

export interface WildDuckImap extends MailServer {
  addUser(name: string, password?: string): MailUser;
  deliver(user: MailUser, messages: Buffer[]): Promise<void>;
  /** Paths of the user's folders. */
  folders(user: MailUser): string[];
  /** How many messages a folder holds now (0 when it does not exist). */
  count(user: MailUser, folder: string): number;
}

export function wildDuckImapMissing(): string | undefined {
  try {
    createRequire(import.meta.url).resolve('@zone-eu/wildduck/imap-core');
    return undefined;
  } catch {
    return '@zone-eu/wildduck is not installed: run npm ci';
  }
}

/** GridFS in memory: the bucket and files-collection calls gridstore-storage.js makes. */
function memoryGridFs() {
  const files = new Map<string, { _id: Buffer; length: number; contentType: string; metadata: Record<string, unknown> }>();
  const data = new Map<string, Buffer>();
  const key = (id: Buffer) => id.toString('hex');
  const collection = (name: string) => ({
    // .files: an existing attachment gets its counter raised; .chunks: no partial uploads here.
    findOneAndUpdate(filter: { _id: Buffer }, update: Record<string, Record<string, unknown>>, _options: unknown, callback: Callback) {
      const doc = name.endsWith('.files') ? files.get(key(filter._id)) : undefined;
      if (doc) {
        for (const [path, by] of Object.entries(update.$inc ?? {})) {
          const field = path.replace(/^metadata\./, '');
          doc.metadata[field] = (Number(doc.metadata[field]) || 0) + Number(by);
        }
        for (const [path, value] of Object.entries(update.$set ?? {})) doc.metadata[path.replace(/^metadata\./, '')] = value;
      }
      setImmediate(() => callback(null, { value: doc ?? null }));
    },
    findOne(filter: { _id: Buffer }, ...rest: unknown[]) {
      const doc = name.endsWith('.files') ? (files.get(key(filter._id)) ?? null) : null;
      const callback = rest.find((r) => typeof r === 'function') as Callback | undefined;
      if (callback) setImmediate(() => callback(null, doc));
      else return Promise.resolve(doc);
      return undefined;
    },
  });
  const bucket = {
    openUploadStreamWithId(id: Buffer, _name: unknown, options: { contentType: string; metadata: Record<string, unknown> }) {
      const chunks: Buffer[] = [];
      return new Writable({
        write(chunk: Buffer, _enc, done) {
          chunks.push(chunk);
          done();
        },
        final(done) {
          const body = Buffer.concat(chunks);
          data.set(key(id), body);
          files.set(key(id), { _id: id, length: body.length, contentType: options.contentType, metadata: { ...options.metadata } });
          done();
        },
      });
    },
    openDownloadStream(id: Buffer, options: { start?: number; end?: number }) {
      const body = data.get(key(id)) ?? Buffer.alloc(0);
      return Readable.from([body.subarray(options.start ?? 0, options.end ?? body.length)]);
    },
  };
  return { db: { collection }, bucket };
}

export async function startWildDuckImap(): Promise<WildDuckImap> {
  const require = createRequire(import.meta.url);
  const { IMAPServer } = require('@zone-eu/wildduck/imap-core') as {
    IMAPServer: new (options: Record<string, unknown>) => ImapServerInstance;
  };
  const { imapHandler } = require('@zone-eu/wildduck/imap-core') as { imapHandler: { compileStream(response: unknown): Readable } };
  const Indexer = require('@zone-eu/wildduck/imap-core/lib/indexer/indexer') as new (options: Record<string, unknown>) => {
    parseMimeTree(raw: Buffer): { parsedHeader: Record<string, unknown>; attachmentMap?: Record<string, unknown> };
    getSize(tree: unknown): number;
    getBodyStructure(tree: unknown): unknown;
    getEnvelope(tree: unknown): unknown;
    getMaildata(tree: unknown): unknown;
    storeNodeBodies(maildata: unknown, tree: unknown, callback: (err: Error | null) => void): void;
  };
  const AttachmentStorage = require('@zone-eu/wildduck/lib/attachment-storage') as { prototype: object };
  const GridstoreStorage = require('@zone-eu/wildduck/lib/attachments/gridstore-storage') as { prototype: object };
  const version = (require('@zone-eu/wildduck/package.json') as { version: string }).version;

  // The storage classes are WildDuck's; only their constructors are skipped, which open MongoDB and Redis.
  const gridfs = memoryGridFs();
  const gridstore = Object.assign(Object.create(GridstoreStorage.prototype) as object, {
    bucketName: 'attachments',
    decodeBase64: true,
    gridfs: gridfs.db,
    gridstore: gridfs.bucket,
    // Taken only for attachments of 255 KB and more; one process, nothing to race with.
    lock: {
      waitAcquireLock: (_id: string, _ttl: number, _wait: unknown, cb: Callback) => cb(null, { success: true }),
      releaseLock: (_lock: unknown, cb: Callback) => cb(null),
    },
  });
  const attachmentStorage = Object.assign(Object.create(AttachmentStorage.prototype) as object, { options: {}, storage: gridstore });
  const indexer = new Indexer({ attachmentStorage });

  const accounts = new Map<string, Account>();
  const byId = new Map<string, Folder>();
  const journal = new Map<string, JournalEntry[]>();
  const listeners = new Map<string, Set<(payload?: unknown) => void>>();
  let nextId = 1;
  let entryId = 1;
  const started = Date.now();

  const newFolder = (account: Account, path: string, specialUse?: string): Folder => {
    const folder: Folder = {
      _id: `mbx${nextId++}`,
      path,
      specialUse,
      uidValidity: Math.floor(Date.now() / 1000) + nextId,
      uidNext: 1,
      modifyIndex: 1,
      subscribed: true,
      messages: [],
    };
    account.folders.set(path, folder);
    byId.set(folder._id, folder);
    journal.set(folder._id, []);
    return folder;
  };

  const notifier = {
    addListener(session: Session, handler: (payload?: unknown) => void) {
      const key = session.user.id;
      if (!listeners.has(key)) listeners.set(key, new Set());
      listeners.get(key)!.add(handler);
    },
    removeListener(session: Session, handler: (payload?: unknown) => void) {
      listeners.get(session.user.id)?.delete(handler);
    },
    addEntries(folder: Folder, entries: Omit<JournalEntry, '_id'>[], callback: () => void) {
      const list = journal.get(folder._id)!;
      // The core queues an update only when it has an _id (a MongoDB ObjectId in WildDuck).
      for (const entry of entries) list.push({ ...entry, _id: `j${entryId++}`, modseq: ++folder.modifyIndex });
      setImmediate(callback);
    },
    fire(userId: string, payload?: unknown) {
      setImmediate(() => {
        for (const handler of listeners.get(userId) ?? []) handler(payload);
      });
    },
    getUpdates(mailbox: string, modifyIndex: number, callback: Callback) {
      const list = journal.get(mailbox);
      if (!list) {
        callback(null, 'NONEXISTENT');
        return;
      }
      callback(
        null,
        list.filter((e) => (e.modseq ?? 0) > (modifyIndex || 0)),
      );
    },
  };

  const server = new IMAPServer({
    secure: false,
    // Plain text on loopback: STARTTLS would need a certificate and changes nothing the tests look at.
    disableSTARTTLS: true,
    ignoreSTARTTLS: true,
    id: { name: 'WildDuck IMAP Server', version, vendor: 'Kreata' },
    logger: { info: () => false, debug: () => false, error: () => false, warn: () => false, trace: () => false, fatal: () => false },
    maxMessage: 25 * 1024 * 1024,
    enableCompression: false,
  });
  server.notifier = notifier;
  server.on('error', () => undefined);

  const accountOf = (session: Session) => accounts.get(session.user.id)!;

  const store = async (folder: Folder, raw: Buffer, flags: string[], date: Date | undefined): Promise<StoredMessage> => {
    const mimeTree = indexer.parseMimeTree(raw);
    const message: StoredMessage = {
      uid: folder.uidNext++,
      modseq: 0,
      flags: [...flags],
      idate: date ?? new Date(),
      size: indexer.getSize(mimeTree),
      bodystructure: indexer.getBodyStructure(mimeTree),
      envelope: indexer.getEnvelope(mimeTree),
      mimeTree,
    };
    const maildata = indexer.getMaildata(mimeTree);
    await new Promise<void>((resolve, reject) => indexer.storeNodeBodies(maildata, mimeTree, (err) => (err ? reject(err) : resolve())));
    message.modseq = ++folder.modifyIndex;
    // Kept in UID order, as WildDuck's queries sort by UID: APPENDs over several connections finish out of order.
    const at = folder.messages.findIndex((m) => m.uid > message.uid);
    if (at === -1) folder.messages.push(message);
    else folder.messages.splice(at, 0, message);
    return message;
  };

  Object.assign(server, {
    onAuth(login: { username: string; password: string }, _session: Session, callback: Callback) {
      const account = accounts.get(login.username);
      if (!account || account.password !== login.password) callback(null);
      else callback(null, { user: { id: login.username, username: login.username } });
    },
    onList(_query: string, session: Session, callback: Callback) {
      callback(null, [...accountOf(session).folders.values()]);
    },
    onLsub(_query: string, session: Session, callback: Callback) {
      callback(
        null,
        [...accountOf(session).folders.values()].filter((f) => f.subscribed),
      );
    },
    onSubscribe(path: string, session: Session, callback: Callback) {
      const folder = accountOf(session).folders.get(path);
      if (!folder) {
        callback(null, 'NONEXISTENT');
        return;
      }
      folder.subscribed = true;
      callback(null, true);
    },
    onUnsubscribe(path: string, session: Session, callback: Callback) {
      const folder = accountOf(session).folders.get(path);
      if (!folder) {
        callback(null, 'NONEXISTENT');
        return;
      }
      folder.subscribed = false;
      callback(null, true);
    },
    onCreate(path: string, session: Session, callback: Callback) {
      const account = accountOf(session);
      if (account.folders.has(path)) {
        callback(null, 'ALREADYEXISTS');
        return;
      }
      const folder = newFolder(account, path);
      callback(null, true, folder._id);
    },
    onStatus(path: string, session: Session, callback: Callback) {
      const folder = accountOf(session).folders.get(path);
      if (!folder) {
        callback(null, 'NONEXISTENT');
        return;
      }
      callback(null, {
        messages: folder.messages.length,
        uidNext: folder.uidNext,
        uidValidity: folder.uidValidity,
        unseen: folder.messages.filter((m) => !m.flags.includes('\\Seen')).length,
        highestModseq: folder.modifyIndex,
      });
    },
    onOpen(path: string, session: Session, callback: Callback) {
      const folder = accountOf(session).folders.get(path);
      if (!folder) {
        callback(null, 'NONEXISTENT');
        return;
      }
      callback(null, {
        _id: folder._id,
        path: folder.path,
        specialUse: folder.specialUse,
        uidValidity: folder.uidValidity,
        uidNext: folder.uidNext,
        modifyIndex: folder.modifyIndex,
        uidList: folder.messages.map((m) => m.uid),
      });
    },
    onAppend(path: string, flags: string[], date: string | false, raw: Buffer, session: Session, callback: Callback) {
      const folder = accountOf(session).folders.get(path);
      if (!folder) {
        callback(null, 'TRYCREATE');
        return;
      }
      store(folder, raw, flags, date ? new Date(date) : undefined).then(
        (message) =>
          notifier.addEntries(folder, [{ command: 'EXISTS', uid: message.uid }], () => {
            notifier.fire(session.user.id);
            callback(null, true, { uidValidity: folder.uidValidity, uid: message.uid });
          }),
        (err: unknown) => callback(err as Error),
      );
    },
    onFetch(mailbox: string, options: Record<string, unknown>, session: Session, callback: Callback) {
      const folder = byId.get(mailbox);
      if (!folder) {
        callback(null, 'NONEXISTENT');
        return;
      }
      const wanted = new Set(options.messages as number[]);
      const selected = session.selected ? session.selected.uidList : [];
      const list = folder.messages.filter((m) => wanted.has(m.uid) && selected.includes(m.uid));
      const seen: Omit<JournalEntry, '_id'>[] = [];
      let pos = 0;
      const next = () => {
        if (pos >= list.length) {
          notifier.addEntries(folder, seen, () => {
            if (seen.length) notifier.fire(session.user.id);
            callback(null, true);
          });
          return;
        }
        const message = list[pos++]!;
        if (options.changedSince && message.modseq <= Number(options.changedSince)) return setImmediate(next);
        if (options.markAsSeen && !message.flags.includes('\\Seen')) {
          message.flags.unshift('\\Seen');
          message.modseq = ++folder.modifyIndex;
          seen.push({ command: 'FETCH', ignore: session.id, uid: message.uid, flags: message.flags });
        }
        const values = session.getQueryResponse(options.query as unknown[], message, {
          logger: { info: () => false, debug: () => false, error: () => false },
          fetchOptions: {},
          attachmentStorage,
          acceptUTF8Enabled: session.isUTF8Enabled(),
        });
        const stream = imapHandler.compileStream(session.formatResponse('FETCH', message.uid, { query: options.query, values }));
        session.writeStream.write(stream, () => setImmediate(next));
      };
      setImmediate(next);
    },
    onSearch(mailbox: string, options: { query: unknown }, session: Session, callback: Callback) {
      const folder = byId.get(mailbox);
      if (!folder) {
        callback(null, 'NONEXISTENT');
        return;
      }
      const uidList: number[] = [];
      let highestModseq = 0;
      let pos = 0;
      const next = () => {
        if (pos >= folder.messages.length) {
          callback(null, { uidList, highestModseq });
          return;
        }
        const message = folder.messages[pos++]!;
        session.matchSearchQuery(message, options.query, (_err, match) => {
          if (match) {
            uidList.push(message.uid);
            highestModseq = Math.max(highestModseq, message.modseq);
          }
          next();
        });
      };
      next();
    },
    onStore(mailbox: string, update: Record<string, unknown>, session: Session, callback: Callback) {
      const folder = byId.get(mailbox);
      if (!folder) {
        callback(null, 'NONEXISTENT');
        return;
      }
      const uids = new Set(update.messages as number[]);
      const value = update.value as string[];
      const entries: Omit<JournalEntry, '_id'>[] = [];
      const modified: number[] = [];
      for (const message of folder.messages) {
        if (!uids.has(message.uid)) continue;
        if (update.unchangedSince && message.modseq > Number(update.unchangedSince)) {
          modified.push(message.uid);
          continue;
        }
        const before = message.flags.join(' ');
        if (update.action === 'set') message.flags = [...value];
        else if (update.action === 'add') message.flags = [...message.flags, ...value.filter((f) => !message.flags.includes(f))];
        else if (update.action === 'remove') message.flags = message.flags.filter((f) => !value.includes(f));
        if (message.flags.join(' ') === before) continue;
        message.modseq = ++folder.modifyIndex;
        if (!update.silent) {
          session.writeStream.write(
            session.formatResponse('FETCH', message.uid, { uid: update.isUid ? message.uid : false, flags: message.flags }),
          );
        }
        entries.push({ command: 'FETCH', ignore: session.id, uid: message.uid, flags: message.flags });
      }
      notifier.addEntries(folder, entries, () => {
        notifier.fire(session.user.id);
        callback(null, true, modified);
      });
    },
    onExpunge(mailbox: string, update: { isUid: boolean; messages: number[]; silent?: boolean }, session: Session, callback: Callback) {
      const folder = byId.get(mailbox);
      if (!folder) {
        callback(null, 'NONEXISTENT');
        return;
      }
      const gone = folder.messages.filter((m) => m.flags.includes('\\Deleted') && (!update.isUid || update.messages.includes(m.uid)));
      folder.messages = folder.messages.filter((m) => !gone.includes(m));
      for (const m of gone) if (!update.silent) session.writeStream.write(session.formatResponse('EXPUNGE', m.uid));
      notifier.addEntries(
        folder,
        gone.map((m) => ({ command: 'EXPUNGE', ignore: session.id, uid: m.uid })),
        () => {
          notifier.fire(session.user.id);
          callback(null, true);
        },
      );
    },
  });

  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const of = (user: MailUser) => accounts.get(user.name)!;
  return {
    name: 'wildduck',
    product: `WildDuck ${version} IMAP (imap-core, in-memory store)`,
    dir: '',
    imap: { host: '127.0.0.1', port },
    startMs: Date.now() - started,
    addUser(name, password = `pw-${name}`) {
      const account: Account = { password, folders: new Map() };
      accounts.set(name, account);
      newFolder(account, 'INBOX');
      return { name, login: name, password };
    },
    async deliver(user, messages) {
      const inbox = of(user).folders.get('INBOX')!;
      for (const raw of messages) await store(inbox, raw, [], undefined);
    },
    folders: (user) => [...of(user).folders.keys()],
    count: (user, folder) => of(user).folders.get(folder)?.messages.length ?? 0,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
