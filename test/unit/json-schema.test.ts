/**
 * The public JSON shapes (src/cli/json-result.ts), each snapshotted on fixed
 * inputs: a change to what scripts read shows here as a changed snapshot,
 * to be documented in docs/usage.md and CHANGELOG.md.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { PopliftError } from '../../src/errors.js';
import { emptySummary, type MigrationSummary } from '../../src/engine/summary.js';
import type { VerifyReport } from '../../src/engine/verify.js';
import type { MailboxHealth, RunRecord } from '../../src/state/history.js';
import {
  batchMessageFailed,
  batchMessageProblem,
  batchMigrateEnd,
  batchVerifyEnd,
  errorJson,
  mailboxStatusJson,
  migrateJson,
  statusJson,
  verifyJson,
  type BatchRowJson,
} from '../../src/cli/json-result.js';

function summary(): MigrationSummary {
  return {
    ...emptySummary('pop3s://alice@pop.old.example:995', 'imaps://alice@imap.new.example:993', 'Old ISP', false),
    found: 4,
    appended: 2,
    duplicates: 1,
    failed: 1,
    bytes: 2048,
    seconds: 1.23456,
    duplicateList: [{ uidl: 'u3', key: 'mid:<3@x>', keptIn: 'destination', keptAs: 'UID 7', keptUid: 7, sizeDiffers: false }],
    failures: [{ uidl: 'u4', side: 'IMAP', reason: 'NO [OVERQUOTA] over quota' }],
    knownFromJournal: 1,
    sessions: 1,
    reconnects: 2,
    warnings: ['a warning'],
  };
}

const stopped = (): MigrationSummary => ({ ...summary(), stopped: '5 messages failed (--max-errors 5)', stopReason: 'max-errors' });

function report(): VerifyReport {
  return {
    pop3: 'pop3s://alice@pop.old.example:995',
    imap: 'imaps://alice@imap.new.example:993',
    folder: 'Old ISP',
    deep: false,
    read: 'TOP',
    folderExists: true,
    found: 3,
    folderMessages: 2,
    present: 2,
    missing: 1,
    altered: 0,
    junkFolder: null,
    inJunk: 0,
    serverChanged: 1,
    serverChanges: { lineEnds: 1 },
    problems: [
      {
        problem: 'missing',
        uidl: 'u2',
        number: 2,
        size: 120,
        key: 'mid:<2@x>',
        subject: 'Hello',
        date: undefined,
        copies: [],
        detail: 'no message in the folder has its key',
      },
    ],
    notes: [
      {
        note: 'server-changed',
        uidl: 'u3',
        number: 3,
        subject: undefined,
        date: undefined,
        uid: 9,
        changes: ['lineEnds'],
        detail: 'stored with its line ends rewritten',
      },
    ],
    warnings: [],
    seconds: 0.5004,
  };
}

/** As it goes out: JSON.stringify drops fields that are undefined. */
const wire = (value: unknown): unknown => JSON.parse(JSON.stringify(value));

const where: BatchRowJson = {
  line: 3,
  row: 1,
  pop3: 'pop3s://bob@pop.old.example:995',
  imap: 'imaps://bob@imap.new.example:993',
  folder: 'Archive',
};

const authRefused = () =>
  new PopliftError(
    'IMAP server imap.new.example:993 refused the login for bob: [AUTHENTICATIONFAILED] no. Check the IMAP user name and password.',
    {
      code: 'IMAP_AUTH',
      side: 'IMAP',
      server: 'imap.new.example:993',
    },
  );

describe('migrate --json', () => {
  it('a finished run with a failed message', () => {
    expect(wire(migrateJson(summary(), 1, undefined))).toMatchInlineSnapshot(`
      {
        "appended": 2,
        "bytes": 2048,
        "changedList": [],
        "command": "migrate",
        "deleted": 0,
        "dryRun": false,
        "duplicateList": [
          {
            "keptAs": "UID 7",
            "keptIn": "destination",
            "keptUid": 7,
            "key": "mid:<3@x>",
            "sizeDiffers": false,
            "uidl": "u3",
          },
        ],
        "duplicates": 1,
        "exitCode": 1,
        "failed": 1,
        "failures": [
          {
            "reason": "NO [OVERQUOTA] over quota",
            "side": "IMAP",
            "uidl": "u4",
          },
        ],
        "folder": "Old ISP",
        "found": 4,
        "imap": "imaps://alice@imap.new.example:993",
        "junk": 0,
        "junkFolder": null,
        "knownFromJournal": 1,
        "missingFromFolder": 0,
        "pop3": "pop3s://alice@pop.old.example:995",
        "reconnects": 2,
        "schema": 2,
        "seconds": 1.235,
        "serverDates": 0,
        "sessions": 1,
        "status": "partial",
        "stopped": null,
        "storedChanged": 0,
        "warnings": [
          "a warning",
        ],
        "window": null,
        "wouldAppend": [],
        "wouldDelete": [],
      }
    `);
  });

  it('a mailbox stopped early: status stopped, stopped.code', () => {
    const json = migrateJson(stopped(), 1, undefined);
    expect({ status: json.status, stopped: json.stopped }).toMatchInlineSnapshot(`
      {
        "status": "stopped",
        "stopped": {
          "code": "MAX_ERRORS",
          "message": "5 messages failed (--max-errors 5)",
        },
      }
    `);
  });

  it('does not carry internal fields the schema does not name', () => {
    expect(Object.keys(migrateJson(stopped(), 1, undefined))).not.toContain('stopReason');
  });
});

describe('verify --json', () => {
  it('a report with a missing message and a server-changed note', () => {
    expect(wire(verifyJson(report(), 1))).toMatchInlineSnapshot(`
      {
        "altered": 0,
        "command": "verify",
        "deep": false,
        "exitCode": 1,
        "folder": "Old ISP",
        "folderExists": true,
        "folderMessages": 2,
        "found": 3,
        "imap": "imaps://alice@imap.new.example:993",
        "inJunk": 0,
        "junkFolder": null,
        "missing": 1,
        "notes": [
          {
            "changes": [
              "lineEnds",
            ],
            "detail": "stored with its line ends rewritten",
            "note": "server-changed",
            "number": 3,
            "uid": 9,
            "uidl": "u3",
          },
        ],
        "pop3": "pop3s://alice@pop.old.example:995",
        "present": 2,
        "problems": [
          {
            "copies": [],
            "detail": "no message in the folder has its key",
            "key": "mid:<2@x>",
            "number": 2,
            "problem": "missing",
            "size": 120,
            "subject": "Hello",
            "uidl": "u2",
          },
        ],
        "read": "TOP",
        "schema": 2,
        "seconds": 0.5,
        "serverChanged": 1,
        "serverChanges": {
          "lineEnds": 1,
        },
        "status": "partial",
        "warnings": [],
      }
    `);
  });
});

describe('a run that ended in an error', () => {
  it('has error {code, message, advice, side, server}', () => {
    expect(wire(errorJson('migrate', authRefused(), 3))).toMatchInlineSnapshot(`
      {
        "command": "migrate",
        "error": {
          "advice": "check the IMAP user name and password, or get a fresh access token",
          "code": "IMAP_AUTH",
          "message": "IMAP server imap.new.example:993 refused the login for bob: [AUTHENTICATIONFAILED] no. Check the IMAP user name and password.",
          "server": "imap.new.example:993",
          "side": "IMAP",
        },
        "exitCode": 3,
        "schema": 2,
        "status": "auth",
      }
    `);
  });

  it('an unexpected error is FAILED, without advice', () => {
    expect(wire(errorJson('verify', new Error('boom'), 1))).toMatchInlineSnapshot(`
      {
        "command": "verify",
        "error": {
          "code": "FAILED",
          "message": "boom",
        },
        "exitCode": 1,
        "schema": 2,
        "status": "partial",
      }
    `);
  });
});

describe('batch --json events: the vocabulary of migrate and verify', () => {
  it('a row that ended in an error: status and error as migrate --json has them', () => {
    expect(wire(batchMigrateEnd({ where, exitCode: 3, ok: false, seconds: 0.1234, error: authRefused() }, undefined, false)))
      .toMatchInlineSnapshot(`
        {
          "appended": 0,
          "bytes": 0,
          "deleted": 0,
          "dryRun": false,
          "duplicates": 0,
          "error": {
            "advice": "check the IMAP user name and password, or get a fresh access token",
            "code": "IMAP_AUTH",
            "message": "IMAP server imap.new.example:993 refused the login for bob: [AUTHENTICATIONFAILED] no. Check the IMAP user name and password.",
            "server": "imap.new.example:993",
            "side": "IMAP",
          },
          "event": "end",
          "exitCode": 3,
          "failed": 0,
          "folder": "Archive",
          "found": 0,
          "imap": "imaps://bob@imap.new.example:993",
          "junk": 0,
          "line": 3,
          "ok": false,
          "pop3": "pop3s://bob@pop.old.example:995",
          "row": 1,
          "seconds": 0.123,
          "status": "auth",
        }
      `);
  });

  it('a row stopped early', () => {
    expect(wire(batchMigrateEnd({ where, exitCode: 1, ok: false, seconds: 2 }, stopped(), false))).toMatchInlineSnapshot(`
      {
        "appended": 2,
        "bytes": 2048,
        "deleted": 0,
        "dryRun": false,
        "duplicates": 1,
        "event": "end",
        "exitCode": 1,
        "failed": 1,
        "folder": "Archive",
        "found": 4,
        "imap": "imaps://bob@imap.new.example:993",
        "junk": 0,
        "line": 3,
        "ok": false,
        "pop3": "pop3s://bob@pop.old.example:995",
        "row": 1,
        "seconds": 2,
        "status": "stopped",
        "stopped": {
          "code": "MAX_ERRORS",
          "message": "5 messages failed (--max-errors 5)",
        },
      }
    `);
  });

  it('a row that finished', () => {
    expect(wire(batchMigrateEnd({ where, exitCode: 0, ok: true, seconds: 2 }, { ...summary(), failed: 0 }, false))).toMatchInlineSnapshot(`
      {
        "appended": 2,
        "bytes": 2048,
        "deleted": 0,
        "dryRun": false,
        "duplicates": 1,
        "event": "end",
        "exitCode": 0,
        "failed": 0,
        "folder": "Archive",
        "found": 4,
        "imap": "imaps://bob@imap.new.example:993",
        "junk": 0,
        "line": 3,
        "ok": true,
        "pop3": "pop3s://bob@pop.old.example:995",
        "row": 1,
        "seconds": 2,
        "status": "ok",
      }
    `);
  });

  it('a verified row, a message problem and a failed message', () => {
    expect(wire(batchVerifyEnd({ where, exitCode: 1, ok: false, seconds: 0.5 }, report()))).toMatchInlineSnapshot(`
      {
        "altered": 0,
        "event": "end",
        "exitCode": 1,
        "folder": "Archive",
        "found": 3,
        "imap": "imaps://bob@imap.new.example:993",
        "line": 3,
        "missing": 1,
        "ok": false,
        "pop3": "pop3s://bob@pop.old.example:995",
        "present": 2,
        "row": 1,
        "seconds": 0.5,
        "serverChanged": 1,
        "status": "partial",
      }
    `);
    expect(wire(batchMessageProblem(where, report().problems[0]!))).toMatchInlineSnapshot(`
      {
        "copies": [],
        "detail": "no message in the folder has its key",
        "event": "message-problem",
        "folder": "Archive",
        "imap": "imaps://bob@imap.new.example:993",
        "key": "mid:<2@x>",
        "line": 3,
        "number": 2,
        "pop3": "pop3s://bob@pop.old.example:995",
        "problem": "missing",
        "row": 1,
        "size": 120,
        "subject": "Hello",
        "uidl": "u2",
      }
    `);
    expect(wire(batchMessageFailed(where, summary().failures[0]!))).toMatchInlineSnapshot(`
      {
        "event": "message-failed",
        "folder": "Archive",
        "imap": "imaps://bob@imap.new.example:993",
        "line": 3,
        "pop3": "pop3s://bob@pop.old.example:995",
        "reason": "NO [OVERQUOTA] over quota",
        "row": 1,
        "side": "IMAP",
        "uidl": "u4",
      }
    `);
  });
});

describe('status --json', () => {
  it('a mailbox whose last run failed, with its runs', () => {
    const mailbox = { pop3: 'pop3s://alice@pop.old.example:995', imap: 'imaps://alice@imap.new.example:993', folder: 'Old ISP' };
    const run: RunRecord = {
      v: 1,
      mailbox,
      mode: 'watch',
      start: '2026-12-01T10:00:00.000Z',
      end: '2026-12-01T10:00:05.000Z',
      moved: 0,
      skipped: 0,
      failed: 0,
      deleted: 0,
      exitCode: 3,
      error: { code: 'IMAP_AUTH', message: 'refused' },
    };
    const health: MailboxHealth = {
      v: 1,
      mailbox,
      lastRun: run,
      lastSuccess: '2026-11-30T10:00:05.000Z',
      lastError: { at: run.end, code: 'IMAP_AUTH', message: 'refused' },
      failures: 1,
      alerting: false,
      movedTotal: 12,
      movedByDay: { '2026-12-01': 0, '2026-11-30': 12 },
    };
    expect(wire(statusJson('/var/lib/poplift', [mailboxStatusJson(health, '2026-12-01', undefined, [run])]))).toMatchInlineSnapshot(`
      {
        "mailboxes": [
          {
            "failuresInARow": 1,
            "folder": "Old ISP",
            "imap": "imaps://alice@imap.new.example:993",
            "lastError": {
              "at": "2026-12-01T10:00:05.000Z",
              "code": "IMAP_AUTH",
              "message": "refused",
            },
            "lastRun": {
              "deleted": 0,
              "end": "2026-12-01T10:00:05.000Z",
              "error": {
                "code": "IMAP_AUTH",
                "message": "refused",
              },
              "exitCode": 3,
              "failed": 0,
              "mode": "watch",
              "moved": 0,
              "skipped": 0,
              "start": "2026-12-01T10:00:00.000Z",
            },
            "lastSuccess": "2026-11-30T10:00:05.000Z",
            "movedToday": 0,
            "movedTotal": 12,
            "nextPoll": null,
            "pop3": "pop3s://alice@pop.old.example:995",
            "running": null,
            "runs": [
              {
                "deleted": 0,
                "end": "2026-12-01T10:00:05.000Z",
                "error": {
                  "code": "IMAP_AUTH",
                  "message": "refused",
                },
                "exitCode": 3,
                "failed": 0,
                "mode": "watch",
                "moved": 0,
                "skipped": 0,
                "start": "2026-12-01T10:00:00.000Z",
              },
            ],
            "status": "failed",
          },
        ],
        "schema": 1,
        "stateDir": "/var/lib/poplift",
      }
    `);
  });
});

describe('docs/usage.md', () => {
  it('names every field of the migrate, verify and batch objects in its JSON section', () => {
    const docs = readFileSync(new URL('../../docs/usage.md', import.meta.url), 'utf8');
    const section = docs.slice(docs.indexOf('## JSON output'), docs.indexOf('### Error codes'));
    const objects = [
      migrateJson({ ...stopped(), destinationKind: 'gmail' }, 1, undefined),
      verifyJson(report(), 1),
      errorJson('migrate', authRefused(), 3),
      batchMigrateEnd({ where, exitCode: 3, ok: false, seconds: 1, error: authRefused() }, stopped(), false),
      batchVerifyEnd({ where, exitCode: 1, ok: false, seconds: 1 }, report()),
    ];
    const keys = new Set(objects.flatMap((o) => Object.keys(o)));
    expect([...keys].filter((k) => !section.includes(`\`${k}\``))).toEqual([]);
  });
});
