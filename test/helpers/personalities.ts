/**
 * Dovecot dressed as other IMAP servers: `imap_capability` replaces the list
 * Dovecot announces (before and after login), so poplift sees what it would
 * see on the real service and takes the same paths. Only extensions Dovecot
 * actually implements are kept: a client that used one Dovecot lacks would
 * fail here for the wrong reason.
 */
import type { DovecotOptions } from './dovecot.js';

export const CAPABILITIES = {
  /** Courier-IMAP: no LITERAL+, no MULTIAPPEND, every literal waits for '+'. */
  courier: 'IMAP4rev1 UIDPLUS CHILDREN NAMESPACE SORT QUOTA IDLE ID',
  /** Gmail: LITERAL- (non-synchronizing only up to 4096 octets), no MULTIAPPEND, APPENDLIMIT. */
  gmail:
    'IMAP4rev1 SASL-IR UNSELECT IDLE NAMESPACE QUOTA ID CHILDREN UIDPLUS ENABLE MOVE CONDSTORE ESEARCH LITERAL- SPECIAL-USE APPENDLIMIT=35651584',
  /** Microsoft 365: LITERAL+, no MULTIAPPEND. */
  m365: 'IMAP4 IMAP4rev1 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+',
} as const;

export type Personality = keyof typeof CAPABILITIES;

/** Dovecot options that make it announce `personality`'s capabilities (plus STARTTLS and AUTH=, which Dovecot adds itself before login). */
export function personality(name: Personality, extraConfig = ''): DovecotOptions {
  return { extraConfig: `imap_capability = ${CAPABILITIES[name]}\n${extraConfig}` };
}
