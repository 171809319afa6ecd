/**
 * Hosted providers that behave differently from a plain IMAP or POP3 server:
 * how many connections they take, how big an upload may be, which folder
 * names they refuse and what they do to flags and duplicates. Pure: the
 * profile is chosen from the user's --profile, else from what the server
 * showed (host name, greeting, capabilities).
 */
import { option } from '../option-hint.js';

export const PROFILE_NAMES = ['gmail', 'm365', 'yahoo', 'zoho', 'generic'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];
/** What --profile / --pop3-profile accept: a profile, or `auto` to detect it. */
export type ProfileChoice = ProfileName | 'auto';

export interface ProviderProfile {
  readonly name: ProfileName;
  /** How the summary names it: "Gmail", "Microsoft 365", ... */
  readonly label: string;
  /** Simultaneous IMAP connections the provider allows per account (undefined: no known cap). */
  readonly maxConnections: number | undefined;
  /**
   * Upload connections to open when the server has no MULTIAPPEND: enough to
   * fill a long link, well under the cap so a phone or mail client the user
   * keeps open does not push the account over it.
   */
  readonly uploadConnections: number;
  /** Largest APPEND the provider takes, in octets, when the server does not say (APPENDLIMIT). */
  readonly appendLimit: number | undefined;
  /** \Flagged given in APPEND is dropped: set it with STORE once the message is there. */
  readonly flaggedNeedsStore: boolean;
  /**
   * A second message with a Message-ID the account already holds is accepted
   * and silently discarded: APPEND says OK, but no copy exists.
   */
  readonly dropsDuplicateMessageId: boolean;
  /** Folder names refused at the top level, compared without case. */
  readonly reservedTopLevelNames: readonly string[];
  /** Gmail labels: no leading, trailing or doubled spaces, no '^'. */
  readonly labelNameRules: boolean;
  /** POP3: messages one session lists at most (Gmail's window); undefined when a session lists all. */
  readonly pop3Window: number | undefined;
}

/** What a server is taken to do when nothing says otherwise; each provider states how it differs. */
const GENERIC: ProviderProfile = {
  name: 'generic',
  label: 'generic',
  maxConnections: undefined,
  uploadConnections: 4,
  appendLimit: undefined,
  flaggedNeedsStore: false,
  dropsDuplicateMessageId: false,
  reservedTopLevelNames: [],
  labelNameRules: false,
  pop3Window: undefined,
};

const GMAIL: ProviderProfile = {
  ...GENERIC,
  name: 'gmail',
  label: 'Gmail',
  maxConnections: 15,
  uploadConnections: 8,
  appendLimit: 35_651_584,
  dropsDuplicateMessageId: true,
  labelNameRules: true,
  pop3Window: 250,
};

const M365: ProviderProfile = {
  ...GENERIC,
  name: 'm365',
  label: 'Microsoft 365',
  maxConnections: 20,
  uploadConnections: 8,
  // Tenants choose 35 to 150 MB; the smallest is the one sure to pass.
  appendLimit: 35 * 1024 * 1024,
  flaggedNeedsStore: true,
  reservedTopLevelNames: ['Files'],
};

const YAHOO: ProviderProfile = { ...GENERIC, name: 'yahoo', label: 'Yahoo' };

const ZOHO: ProviderProfile = {
  ...GENERIC,
  name: 'zoho',
  label: 'Zoho',
  maxConnections: 3,
  // One connection stays for the folder checks and lookups.
  uploadConnections: 2,
  appendLimit: 20_971_520,
};

export const PROFILES: Readonly<Record<ProfileName, ProviderProfile>> = {
  gmail: GMAIL,
  m365: M365,
  yahoo: YAHOO,
  zoho: ZOHO,
  generic: GENERIC,
};

export function isProfileChoice(text: string): text is ProfileChoice {
  return text === 'auto' || (PROFILE_NAMES as readonly string[]).includes(text);
}

/** What a server showed before and at login, as far as it is known. */
export interface ServerEvidence {
  host?: string;
  /** The greeting's text (IMAP `* OK ...`, POP3 `+OK ...`). */
  greeting?: string;
  /** IMAP CAPABILITY or POP3 CAPA entries, e.g. 'X-GM-EXT-1', 'APPENDLIMIT=35651584'. */
  capabilities?: Iterable<string>;
}

export interface DetectedProfile {
  profile: ProviderProfile;
  /** Why: 'set by --profile', 'host name imap.gmail.com', 'capability X-GM-EXT-1', ... */
  reason: string;
}

const HOSTS: Array<[RegExp, ProfileName]> = [
  [/^(imap|pop|smtp)\.(gmail|googlemail)\.com$/, 'gmail'],
  [
    /^(outlook\.office365\.com|outlook\.office\.com|imap-mail\.outlook\.com|pop-mail\.outlook\.com|imap\.outlook\.com|pop\.outlook\.com)$/,
    'm365',
  ],
  [/^(imap|pop)\.mail\.yahoo\.(com|co\.[a-z]{2}|[a-z]{2})$/, 'yahoo'],
  [/^(imap|imappro|pop|poppro)\.zoho\.(com|eu|in|jp|com\.au|com\.cn|sa|ca)$/, 'zoho'],
];

/** Capabilities only one provider's servers announce. */
const CAPABILITIES: Array<[string, ProfileName]> = [
  ['X-GM-EXT-1', 'gmail'],
  ['X-GOOGLE-RICO', 'gmail'],
  ['XYMHIGHESTMODSEQ', 'yahoo'],
];

const GREETINGS: Array<[RegExp, ProfileName]> = [
  [/\bGimap ready\b/i, 'gmail'],
  [/\bGpop ready\b/i, 'gmail'],
  [/\bThe Microsoft Exchange (IMAP4|POP3) service is ready\b/i, 'm365'],
  [/\bimapgate-/i, 'yahoo'],
];

/** The provider behind a server, from its host name, capabilities or greeting; 'generic' when none matches. */
export function detectProfile(evidence: ServerEvidence): DetectedProfile {
  const host = evidence.host?.toLowerCase().replace(/\.$/, '');
  if (host) {
    for (const [pattern, name] of HOSTS) if (pattern.test(host)) return { profile: PROFILES[name], reason: `host name ${host}` };
  }
  const caps = new Set([...(evidence.capabilities ?? [])].map((c) => c.toUpperCase()));
  for (const [cap, name] of CAPABILITIES) if (caps.has(cap)) return { profile: PROFILES[name], reason: `capability ${cap}` };
  const greeting = evidence.greeting ?? '';
  for (const [pattern, name] of GREETINGS) if (pattern.test(greeting)) return { profile: PROFILES[name], reason: 'greeting' };
  return { profile: GENERIC, reason: 'no provider recognised' };
}

/** The profile in force: the user's choice, or what the server showed when the choice is `auto` (or none). */
export function resolveProfile(
  choice: ProfileChoice | undefined,
  evidence: ServerEvidence,
  optionName = option('profile'),
): DetectedProfile {
  if (choice !== undefined && choice !== 'auto') return { profile: PROFILES[choice], reason: `set by ${optionName}` };
  return detectProfile(evidence);
}

/**
 * The largest message an upload may carry: the server's APPENDLIMIT when it
 * gave one (it knows best), else the provider's known cap, else none.
 */
export function uploadSizeLimit(profile: ProviderProfile, serverLimit: number | undefined): number | undefined {
  if (serverLimit !== undefined && serverLimit > 0) return serverLimit;
  return profile.appendLimit;
}

/**
 * The failure reason for a message too big to upload (checked before
 * sending it: the run goes on with the others), or undefined when it fits.
 */
export function oversizeReason(profile: ProviderProfile, serverLimit: number | undefined, size: number): string | undefined {
  const limit = uploadSizeLimit(profile, serverLimit);
  if (limit === undefined || size <= limit) return undefined;
  const whose = serverLimit !== undefined && serverLimit > 0 ? "the server's APPENDLIMIT" : `${profile.label}'s upload limit`;
  return `${size} octets is over ${whose} of ${limit} octets; not uploaded`;
}

/**
 * How many upload connections to open when there is no MULTIAPPEND: the
 * user's --connections when given (never above the provider's cap less one,
 * kept for the control connection), else the profile's default.
 */
export function uploadConnectionCount(profile: ProviderProfile, requested: number | undefined): number {
  const ceiling = profile.maxConnections === undefined ? Infinity : Math.max(1, profile.maxConnections - 1);
  return Math.max(1, Math.min(requested ?? profile.uploadConnections, ceiling));
}

/** "Gmail (host name imap.gmail.com)", for the summary and --debug. */
export function describeProfile(detected: DetectedProfile): string {
  return `${detected.profile.label} (${detected.reason})`;
}
