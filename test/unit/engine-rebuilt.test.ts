/**
 * A server that stores a MIME tree and rebuilds the message from it
 * (WildDuck) serves the text after a multipart's closing boundary before its
 * first part. Such a copy is not the message (the copy rule wants the same
 * lines in the same order), but it is what the server made of it: a run
 * without the journal must not take it for another message and upload the
 * message again, and verify must name it as stored changed, not as missing.
 */
import { describe, expect, it } from 'vitest';
import { summaryExitCode } from '../../src/engine/summary.js';
import { verifyExitCode, verifyMailbox } from '../../src/engine/verify.js';
import { movedLinesDigest } from '../../src/message/copy-rule.js';
import { JournalFile, migrate, migrateOptions } from '../stores/engine-run.js';
import { MemoryImapServer } from '../stores/memory-destination.js';
import { memoryEndpoints } from '../stores/memory-endpoints.js';
import { MemoryMailbox } from '../stores/memory-source.js';

/** A multipart message with text after its closing boundary, as mailing lists and some clients leave. */
function multipart(i: number, options: { messageId?: boolean; epilogue?: string } = {}): Buffer {
  const b = `b${i}`;
  return Buffer.from(
    [
      `From: Sender ${i} <s${i}@example.org>`,
      'To: a@example.org',
      `Subject: tree ${i}`,
      'Date: Mon, 30 Jun 2003 09:00:00 +0000',
      ...(options.messageId === false ? [] : [`Message-ID: <t${i}@example.org>`]),
      'MIME-Version: 1.0',
      `Content-Type: multipart/alternative; boundary="${b}"`,
      '',
      `--${b}`,
      'Content-Type: text/plain',
      '',
      `hello ${i}`,
      `--${b}`,
      'Content-Type: text/html',
      '',
      `<p>hello ${i}</p>`,
      `--${b}--`,
      '',
    ].join('\r\n') + (options.epilogue ?? '\r\n_______________\r\nlist footer\r\n'),
    'latin1',
  );
}

/** What WildDuck serves for it: the text after the closing boundary moved to the start of the body. */
function wildDuckRebuild(content: Buffer): Buffer {
  const s = content.toString('latin1');
  const boundary = /boundary="([^"]+)"/.exec(s);
  if (!boundary) return content;
  const close = `--${boundary[1]}--\r\n`;
  const end = s.indexOf(close) + close.length;
  const body = s.indexOf('\r\n\r\n') + 4;
  return Buffer.from(s.slice(0, body) + s.slice(end) + s.slice(body, end), 'latin1');
}

const stored = (account: MemoryImapServer) => (account.folders.get('Archive')?.messages ?? []).map((m) => m.content);

describe('movedLinesDigest', () => {
  it('is equal for the same lines in another order, and differs for a changed, added or removed line', () => {
    const m = multipart(1);
    expect(wildDuckRebuild(m).equals(m)).toBe(false);
    expect(movedLinesDigest(wildDuckRebuild(m))).toBe(movedLinesDigest(m));
    expect(movedLinesDigest(Buffer.from(m.toString('latin1').replace(/\r\n/g, '\n'), 'latin1'))).toBe(movedLinesDigest(m));
    expect(movedLinesDigest(Buffer.from(m.toString('latin1').replace('hello 1', 'hello 2'), 'latin1'))).not.toBe(movedLinesDigest(m));
    expect(movedLinesDigest(Buffer.concat([m, Buffer.from('\r\n')]))).not.toBe(movedLinesDigest(m));
    expect(movedLinesDigest(m.subarray(0, m.length - 'list footer\r\n'.length))).not.toBe(movedLinesDigest(m));
  });
});

describe('a server that rebuilds messages from their MIME tree', () => {
  const messages = [
    multipart(1),
    multipart(2, { messageId: false }),
    multipart(3, { epilogue: '\r\n\r\n' }),
    multipart(4, { epilogue: '' }),
  ];

  it('a run without the journal uploads none of its changed copies again, and reports them stored changed', async () => {
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ onStore: wildDuckRebuild });
    account.addFolder('Archive');
    const endpoints = memoryEndpoints(mailbox, account);
    const journal = new JournalFile();
    try {
      const first = await journal.with((j) => migrate(endpoints, migrateOptions({ delete: true, journal: j })));
      expect(first.summary.storedChanged).toBe(3);
      expect(first.summary.deleted).toBe(1);
      expect(stored(account)).toHaveLength(4);
    } finally {
      journal.remove();
    }
    // No journal: each copy is found again under its key (or, without Message-ID, its header fields).
    const fresh = await migrate(endpoints, migrateOptions({ delete: true }));
    expect(stored(account)).toHaveLength(4);
    expect(fresh.summary.appended).toBe(0);
    expect(fresh.summary.storedChanged).toBe(3);
    expect(fresh.summary.changedList.map((c) => c.reason).join('\n')).toMatch(/lines in another order/);
    expect(fresh.summary.deleted).toBe(0);
    expect(summaryExitCode(fresh.summary)).toBe(1);
    expect(mailbox.messages).toHaveLength(3);
  });

  it('a copy under its key with a line of its own is another message, and is uploaded', async () => {
    const mailbox = new MemoryMailbox([multipart(5)]);
    const account = new MemoryImapServer();
    account.addFolder('Archive', [Buffer.from(multipart(5).toString('latin1').replace('hello 5', 'hello 6'), 'latin1')]);
    const run = await migrate(memoryEndpoints(mailbox, account), migrateOptions());
    expect(run.summary.appended).toBe(1);
    expect(run.summary.storedChanged).toBe(0);
    expect(stored(account)).toHaveLength(2);
  });

  it('verify names each changed copy as stored changed, not missing, plain and --deep', async () => {
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ onStore: wildDuckRebuild });
    account.addFolder('Archive');
    await migrate(memoryEndpoints(mailbox, account), migrateOptions());
    for (const deep of [false, true]) {
      const report = await verifyMailbox(memoryEndpoints(mailbox, account), { folder: ['Archive'], deep }, { warn: () => undefined });
      expect(report.missing).toBe(0);
      expect(verifyExitCode(report)).toBe(1);
      const named = report.problems.filter((p) => /stored changed, not proven/i.test(p.detail)).map((p) => p.uidl);
      // Plain verify settles a message by its key and size; the changed copies keep the size here.
      expect(named).toEqual(deep ? ['u1', 'u2', 'u3'] : ['u2']);
      expect(report.problems.every((p) => p.problem === 'altered')).toBe(true);
    }
  });

  it('plain verify reads every message whole from a server that says it rebuilds them, and names each changed copy', async () => {
    const mailbox = new MemoryMailbox(messages);
    const account = new MemoryImapServer({ onStore: wildDuckRebuild, rebuildsMessages: true });
    account.addFolder('Archive');
    await migrate(memoryEndpoints(mailbox, account), migrateOptions());
    const warnings: string[] = [];
    const report = await verifyMailbox(
      memoryEndpoints(mailbox, account),
      { folder: ['Archive'], deep: false },
      { warn: (w) => warnings.push(w) },
    );
    expect(report.problems.filter((p) => /stored changed, not proven/i.test(p.detail)).map((p) => p.uidl)).toEqual(['u1', 'u2', 'u3']);
    expect(report.missing).toBe(0);
    expect(report.deep).toBe(true);
    expect(warnings.join('\n')).toMatch(/size proves nothing/);
  });
});
