import { describe, expect, it } from 'vitest';
import { CONNECTIONS_WITHOUT_UIDPLUS, DEFAULT_CONNECTIONS_WITHOUT_MULTIAPPEND, uploadConnections } from '../../src/imap/upload-pool.js';

const base = {
  capabilities: new Set(['IMAP4REV1']),
  multiAppend: false,
  useMultiAppend: true,
  limit: undefined,
  withoutMultiAppend: undefined,
};
const greeting = (text: string) => `* OK ${text}`;

describe('upload connections', () => {
  it('are one into a server that offers neither MULTIAPPEND nor UIDPLUS (GNU Mailutils imap4d), unless asked for more', () => {
    const mailutils = { ...base, greeting: greeting('IMAP4rev1'), capabilities: new Set(['IMAP4REV1', 'LITERAL+', 'UNSELECT']) };
    expect(uploadConnections(mailutils)).toMatchObject({ count: 1, why: expect.stringMatching(/one connection/) as unknown });
    expect(uploadConnections({ ...mailutils, limit: 2 }).count).toBe(2);
  });

  it('are the number asked for elsewhere, one with MULTIAPPEND, and fewer into a server without UIDPLUS', () => {
    const dovecot = greeting('[CAPABILITY IMAP4rev1] Dovecot ready.');
    expect(uploadConnections({ ...base, greeting: dovecot, limit: 4 }).count).toBe(4);
    expect(uploadConnections({ ...base, greeting: dovecot, multiAppend: true }).count).toBe(1);
    expect(
      uploadConnections({ ...base, greeting: dovecot, multiAppend: true, useMultiAppend: false, capabilities: new Set(['UIDPLUS']) }).count,
    ).toBe(DEFAULT_CONNECTIONS_WITHOUT_MULTIAPPEND);
    expect(uploadConnections({ ...base, greeting: dovecot }).count).toBe(CONNECTIONS_WITHOUT_UIDPLUS);
    expect(uploadConnections({ ...base, greeting: dovecot, withoutMultiAppend: 3 }).count).toBe(3);
  });

  it('are one at first into Courier-IMAP, which stores one APPEND at a time', () => {
    const courier = uploadConnections({ ...base, greeting: greeting('Courier-IMAP ready. Copyright 1998-2018 Double Precision, Inc.') });
    expect(courier).toMatchObject({ count: 1, oneAtATime: true });
  });
});
