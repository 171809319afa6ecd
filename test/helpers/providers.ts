/**
 * Hosted providers as a private Dovecot can play them: their CAPABILITY
 * lists (Dovecot's imap_capability), greetings and connection caps. Dovecot
 * still does what Dovecot does (it takes MULTIAPPEND and any literal); a
 * client goes by what is announced, which is what these personalities test.
 * What Dovecot cannot produce (throttling, quota and connection-cap answers
 * in the providers' words) comes from ProviderImapProxy, and Gmail's POP3
 * window from startGmailPop3.
 *
 * The lists are the providers' own as their servers sent them in protocol
 * logs, less the AUTH= entries (Dovecot adds its own mechanisms) and less
 * what Dovecot would be asked to do and cannot here (Gmail's COMPRESS=DEFLATE:
 * no zlib plugin; XLIST; X-GM-EXT-1, on which imapflow adds X-GM-MSGID to
 * every FETCH, which Dovecot refuses: the Gmail personality is known by its
 * greeting). Zoho's list beyond LITERAL- and APPENDLIMIT, and its greeting,
 * are assumptions: poplift knows Zoho by its host names only.
 */
import type { DovecotOptions } from './dovecot.js';

export type Personality = 'gmail' | 'm365' | 'yahoo' | 'zoho';

export interface ProviderPersonality {
  /** CAPABILITY after login. */
  capability: string;
  greeting: string;
  /**
   * Simultaneous IMAP connections the provider allows one account, enforced
   * by Dovecot in its own words (NO [LIMIT] Maximum number of connections
   * ...); ProviderImapProxy answers in Gmail's words, the only provider whose
   * refusal is documented.
   */
  maxConnections: number | undefined;
}

export const PERSONALITIES: Readonly<Record<Personality, ProviderPersonality>> = {
  gmail: {
    capability:
      'IMAP4rev1 UNSELECT IDLE NAMESPACE QUOTA ID CHILDREN UIDPLUS ENABLE MOVE CONDSTORE ESEARCH UTF8=ACCEPT LIST-EXTENDED LIST-STATUS LITERAL- SPECIAL-USE APPENDLIMIT=35651584',
    greeting: 'Gimap ready for requests from 127.0.0.1 t1mb1234567',
    maxConnections: 15,
  },
  m365: {
    capability: 'IMAP4 IMAP4rev1 SASL-IR UIDPLUS MOVE ID UNSELECT CHILDREN IDLE NAMESPACE LITERAL+',
    greeting:
      'The Microsoft Exchange IMAP4 service is ready. [TQBOADIAUABSADEAMABDAEEAMAAwADIANgAuAG4AYQBtAHAAcgBkADEAMAAuAHAAcgBvAGQALgBvAHUAdABsAG8AbwBrAC4AYwBvAG0A]',
    maxConnections: 20,
  },
  yahoo: {
    capability: 'IMAP4rev1 ID MOVE NAMESPACE X-ID-ACLID UIDPLUS LITERAL+ CHILDREN XAPPLEPUSHSERVICE XYMHIGHESTMODSEQ',
    greeting: 'IMAP4rev1 imapgate-1.8.1_01.20166 imap1015.mail.gq1.yahoo.com',
    maxConnections: undefined,
  },
  zoho: {
    capability: 'IMAP4rev1 UNSELECT ID IDLE NAMESPACE CHILDREN UIDPLUS MOVE LITERAL- APPENDLIMIT=20971520',
    greeting: 'Zoho IMAP4rev1 Server ready',
    maxConnections: 3,
  },
};

/** Options for startDovecot that make it announce itself as `name`, with the provider's connection cap. */
export function dovecotAs(name: Personality, extra: DovecotOptions = {}): DovecotOptions {
  const p = PERSONALITIES[name];
  return {
    // Providers use '/' between levels.
    separator: '/',
    imapCapability: p.capability,
    loginGreeting: p.greeting,
    ...(p.maxConnections === undefined ? {} : { imapMaxConnections: p.maxConnections }),
    ...extra,
  };
}
