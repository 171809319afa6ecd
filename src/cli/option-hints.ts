/**
 * The flags that messages of the drivers, the engine and the state layer
 * name, by the key they use (src/option-hint.ts). Registered on load: the
 * CLI's entry point imports this file. test/unit/option-hints.test.ts
 * checks that every flag here is an option of a command.
 */
import { registerOptionFlags, type OptionHint } from '../option-hint.js';

export const OPTION_FLAGS = {
  timeout: '--timeout',
  folder: '--folder',
  deep: '--deep',
  recopyMissing: '--recopy-missing',
  junk: '--junk',
  retryFailed: '--retry-failed',
  maxErrors: '--max-errors',
  maxBytesPerRun: '--max-bytes-per-run',
  stateDir: '--state-dir',
  profile: '--profile',
  pop3CaFile: '--pop3-ca-file',
  imapCaFile: '--imap-ca-file',
  pop3Insecure: '--pop3-insecure',
  imapInsecure: '--imap-insecure',
  imapPasswordFile: '--imap-password-file',
  clientId: '--client-id',
  clientSecretFile: '--client-secret-file',
  flow: '--flow',
} as const satisfies Record<OptionHint, string>;

registerOptionFlags(OPTION_FLAGS);
