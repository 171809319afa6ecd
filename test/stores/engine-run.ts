/**
 * Running the engine on the in-memory stores: options as the CLI would pass
 * them (with tiny backoffs, so reconnects cost no time), a journal file that
 * lives across runs, and message builders.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { migrateMailbox, type MigrateHooks, type MigrateOptions } from '../../src/engine/migrate.js';
import type { MigrationSummary } from '../../src/engine/summary.js';
import { JournalWriter, loadJournal, type JournalState } from '../../src/state/journal.js';
import type { StoreEndpoints } from '../../src/store/mail-store.js';

export function migrateOptions(overrides: Partial<MigrateOptions> = {}): MigrateOptions {
  return {
    folder: ['Archive'],
    dedupe: true,
    dryRun: false,
    multiAppend: false,
    batchMessages: 4,
    batchBytes: 1024 * 1024,
    maxInflightBytes: 4 * 1024 * 1024,
    maxErrors: undefined,
    extraFlags: [],
    keepDeletedFlag: false,
    dateMode: 'received',
    retries: 5,
    backoffMs: 1,
    delete: false,
    deleteEvery: 100,
    maxSessions: 50,
    journal: undefined,
    ...overrides,
  };
}

/** One journal file across runs, as the CLI keeps one per mailbox and folder. */
export class JournalFile {
  private readonly dir = mkdtempSync(join(tmpdir(), 'poplift-engine-'));
  readonly path = join(this.dir, 'mailbox.journal');

  load(): JournalState {
    return loadJournal(this.path);
  }

  /** Runs `run` with the journal as it is now and a writer that appends to it. */
  async with<T>(run: (journal: { state: JournalState; writer: JournalWriter }) => Promise<T>): Promise<T> {
    const writer = new JournalWriter(this.path);
    try {
      return await run({ state: this.load(), writer });
    } finally {
      writer.close();
    }
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface Run {
  summary: MigrationSummary;
  warnings: string[];
}

/** migrateMailbox with hooks that collect warnings. */
export async function migrate(endpoints: StoreEndpoints, options: MigrateOptions, hooks: Partial<MigrateHooks> = {}): Promise<Run> {
  const warnings: string[] = [];
  const summary = await migrateMailbox(endpoints, options, {
    ...hooks,
    warn: (message) => {
      warnings.push(message);
      hooks.warn?.(message);
    },
  });
  return { summary, warnings };
}

/** A small well-formed message; `id` makes it distinct (and, unless told otherwise, its Message-ID). */
export function mail(id: number | string, options: { messageId?: boolean; body?: string | Buffer } = {}): Buffer {
  const head = [
    ...(options.messageId === false ? [] : [`Message-ID: <${id}@memory.test>`]),
    'From: alice@example.org',
    'To: bob@example.org',
    `Subject: message ${id}`,
    'Date: Mon, 2 Mar 2026 10:00:00 +0000',
  ];
  const body = options.body ?? `Body of message ${id}.\r\n`;
  return Buffer.concat([Buffer.from(`${head.join('\r\n')}\r\n\r\n`, 'latin1'), Buffer.isBuffer(body) ? body : Buffer.from(body, 'latin1')]);
}

export function mails(count: number, from = 1): Buffer[] {
  return Array.from({ length: count }, (_, i) => mail(from + i));
}
