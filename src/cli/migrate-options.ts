/** The options of `poplift migrate` as commander parses them (strings until checked). */
import type { DateMode } from '../message/internal-date.js';
import type { ProfileChoice } from '../imap/provider-profile.js';
import type { OutputCliOptions } from './output.js';

export interface MigrateCliOptions extends OutputCliOptions {
  folder: string;
  /** --junk: auto, off or a folder (default decided by the command, see planMigrate). */
  junk?: string;
  /** --label: Gmail labels (repeatable; one string from a batch column or POPLIFT_LABEL). */
  label?: string | string[];
  pop3PasswordFile?: string;
  imapPasswordFile?: string;
  pop3PasswordCommand?: string;
  imapPasswordCommand?: string;
  pop3TokenFile?: string;
  imapTokenFile?: string;
  pop3TokenCommand?: string;
  imapTokenCommand?: string;
  pop3Auth: 'auto' | 'plain' | 'user' | 'apop' | 'oauth';
  imapAuth?: 'auto' | 'oauth';
  pop3OauthAccount?: string;
  imapOauthAccount?: string;
  dedupe: 'message-id' | 'none';
  flags?: string;
  markSeen?: boolean;
  keepDeletedFlag?: boolean;
  internalDate: DateMode;
  dryRun?: boolean;
  json?: boolean;
  debug?: boolean;
  caFile?: string;
  pop3CaFile?: string;
  imapCaFile?: string;
  insecure?: boolean;
  pop3Insecure?: boolean;
  imapInsecure?: boolean;
  allowPlaintext?: boolean;
  requireTls?: boolean;
  timeout: string;
  maxMessageSize?: string;
  multiappend: boolean;
  maxInflight: string;
  stateDir?: string;
  retries: string;
  retryFailed?: boolean;
  recopyMissing?: boolean;
  maxErrors?: string;
  delete?: boolean;
  deleteEvery: string;
  /** Absent unless the user set it: then further POP3 sessions are opened only when something shows they may list more. */
  maxSessions?: string;
  batchMessages: string;
  /** The destination's provider rules; absent (verify) means auto. */
  profile?: ProfileChoice;
}
