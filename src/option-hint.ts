/**
 * Options of the command line that messages below src/cli/ name (a timeout
 * to raise, a folder to give). Their flags belong to the CLI:
 * src/cli/option-hints.ts registers its table when the CLI loads, so a
 * driver or the engine writes `option('timeout')` and never imports the
 * command line (ARCHITECTURE.md's layering).
 */
export type OptionHint =
  | 'timeout'
  | 'folder'
  | 'deep'
  | 'recopyMissing'
  | 'junk'
  | 'retryFailed'
  | 'maxErrors'
  | 'maxBytesPerRun'
  | 'stateDir'
  | 'profile'
  | 'pop3CaFile'
  | 'imapCaFile'
  | 'pop3Insecure'
  | 'imapInsecure'
  | 'imapPasswordFile'
  | 'clientId'
  | 'clientSecretFile'
  | 'flow';

let flags: Readonly<Record<OptionHint, string>> | undefined;

/** Called once by the CLI with its table of flags. */
export function registerOptionFlags(table: Readonly<Record<OptionHint, string>>): void {
  flags = table;
}

/** The option's flag for a message ("--timeout"); without a CLI (poplift used as a library), a neutral name. */
export function option(key: OptionHint): string {
  return flags?.[key] ?? `the ${key} option`;
}
