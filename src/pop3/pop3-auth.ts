/**
 * POP3 login: USER/PASS (RFC 1939), APOP (RFC 1939 §7), and SASL AUTH
 * (RFC 5034) with PLAIN (RFC 4616), OAUTHBEARER (RFC 7628) and Google's and
 * Microsoft's XOAUTH2. Secrets never reach the trace or an error message:
 * every command carrying one goes out with a "****" label, and everything
 * the server says is passed through a SecretMask before it is shown.
 */
import { createHash } from 'node:crypto';
import { loginRefused, loginUnsupported, protocolFailure, quoteServer, type LoginAttempt } from './pop3-errors.js';
import type { Pop3Reply } from './pop3-framing.js';
import type { Pop3Transport } from './pop3-transport.js';
import { REDACTED, SecretRedactor } from '../secrets-redaction.js';
import {
  base64,
  oauthBearerResponse,
  oauthErrorAcknowledgement,
  oauthErrorStatus,
  oauthResponse,
  plainResponse,
  xoauth2Response,
} from '../sasl.js';

/**
 * 'auto': SASL PLAIN when CAPA lists it, else USER/PASS. 'plain': AUTH PLAIN
 * only. 'user': USER/PASS only. 'apop': APOP only (needs the greeting's
 * <timestamp>). An access token always uses OAUTHBEARER or XOAUTH2.
 */
export type Pop3AuthMethod = 'auto' | 'plain' | 'user' | 'apop';

export const POP3_AUTH_METHODS: readonly Pop3AuthMethod[] = ['auto', 'plain', 'user', 'apop'];

export interface Pop3Credentials {
  user: string;
  /** Required unless accessToken is set. */
  password: string | undefined;
  accessToken: string | undefined;
  auth: Pop3AuthMethod;
}

/** What CAPA said before login; undefined when the server answered CAPA with -ERR. */
export interface Pop3Capabilities {
  /** Upper-cased first words of the CAPA lines. */
  readonly names: ReadonlySet<string>;
  /** Upper-cased mechanisms of the "SASL ..." line (RFC 2449 §6.3), empty without one. */
  readonly sasl: ReadonlySet<string>;
  /** The argument of the "IMPLEMENTATION ..." line (RFC 2449 §6.9), as sent. */
  readonly implementation?: string;
}

/**
 * RFC 2449 §4 and RFC 5034 §4: a command line, CRLF included, is at most 255
 * octets; an initial response that would exceed it goes after an empty challenge.
 */
const MAX_COMMAND_OCTETS = 255;

/** Challenges answered before a server that keeps challenging is given up on. */
const MAX_SASL_ROUNDS = 4;

const MASK = REDACTED;

/**
 * Replaces every known secret (and the encodings that go on the wire) with
 * "****". Secrets can be added later (the APOP digest needs the greeting).
 */
export class SecretMask extends SecretRedactor {}

// The payloads live in the shared SASL module; re-exported for this module's callers.
export { oauthBearerResponse, oauthErrorStatus, plainResponse, xoauth2Response } from '../sasl.js';

/** RFC 1939 §7: MD5 of the greeting's timestamp (brackets included) and the password, lower-case hex. */
export function apopDigest(timestamp: string, password: string): string {
  return createHash('md5')
    .update(timestamp + password, 'utf8')
    .digest('hex');
}

/** The <timestamp> of an APOP-capable greeting: an RFC 822 msg-id, so it holds an '@'. */
export function apopTimestamp(greeting: string | undefined): string | undefined {
  return greeting === undefined ? undefined : /<[\x21-\x3b\x3d\x3f-\x7e]*@[\x21-\x3b\x3d\x3f-\x7e]*>/.exec(greeting)?.[0];
}

/** Every secret form the credentials can take before the greeting is known. */
export function credentialSecrets(c: Pop3Credentials): string[] {
  const out: string[] = [];
  if (c.password !== undefined && c.password !== '') {
    out.push(c.password, base64(c.password), plainResponse(c.user, c.password));
  }
  if (c.accessToken !== undefined && c.accessToken !== '') {
    out.push(c.accessToken, base64(c.accessToken), xoauth2Response(c.user, c.accessToken), oauthBearerResponse(c.user, c.accessToken));
  }
  return out;
}

/** What would travel unencrypted, for the plaintext refusal. */
export function secretName(c: Pop3Credentials): string {
  if (c.accessToken !== undefined) return 'the access token';
  if (c.auth === 'apop') return 'the APOP login and the mail';
  return 'the password';
}

/**
 * Logs in. Resolves once the server has accepted the credentials; rejects
 * with a PopliftError (POP3_AUTH, POP3_AUTH_TOKEN, POP3_MAILDROP, POP3_IN_USE,
 * POP3_UNAVAILABLE, POP3_AUTH_UNSUPPORTED, or a connection-level code).
 * A refused AUTH is never retried with another method.
 */
export async function authenticate(
  transport: Pop3Transport,
  credentials: Pop3Credentials,
  capabilities: Pop3Capabilities | undefined,
  mask: SecretMask,
): Promise<void> {
  const { user } = credentials;
  const server = transport.server;
  const sasl = capabilities?.sasl ?? new Set<string>();
  const offered = (): string =>
    capabilities === undefined
      ? 'it does not answer CAPA'
      : sasl.size === 0
        ? 'it lists no SASL mechanisms'
        : `it lists SASL ${[...sasl].join(' ')}`;

  if (credentials.accessToken !== undefined) {
    const token = credentials.accessToken;
    // OAUTHBEARER is the standard (RFC 7628); XOAUTH2 its vendor predecessor.
    const mechanism = sasl.has('OAUTHBEARER') ? 'OAUTHBEARER' : sasl.has('XOAUTH2') ? 'XOAUTH2' : undefined;
    if (mechanism === undefined) {
      throw loginUnsupported(
        server,
        `does not take OAuth2 access tokens (no SASL OAUTHBEARER or XOAUTH2: ${offered()})`,
        'log in with a password instead',
      );
    }
    const initial = oauthResponse(mechanism, user, token);
    let oauthStatus: string | undefined;
    const onChallenge = (challenge: string, round: number): ClientAnswer => {
      if (round > 0) return CANCEL;
      oauthStatus = oauthErrorStatus(challenge);
      // The server then ends the exchange with -ERR.
      const ack = oauthErrorAcknowledgement(mechanism);
      return ack === ''
        ? { line: '', label: `(empty AUTH ${mechanism} response to the error challenge)` }
        : { line: ack, label: `${ack} (AUTH ${mechanism} error acknowledgement)` };
    };
    let result = await saslExchange(transport, mechanism, initial, onChallenge);
    // Microsoft 365 takes the XOAUTH2 response only after "AUTH XOAUTH2" and
    // its "+", and answers the one-line form with "-ERR Protocol error"
    // before looking at the token. A refusal without challenge and without a
    // [AUTH] code is such a rejection of the form: send it again in two steps.
    if (mechanism === 'XOAUTH2' && result.inline && !result.reply.ok && !result.challenged && !/^\[AUTH\]/i.test(result.reply.text)) {
      result = await saslExchange(transport, mechanism, initial, onChallenge, { inline: false });
    }
    if (!result.reply.ok) {
      const attempt: LoginAttempt = { method: `AUTH ${mechanism}`, token: result.credentialsSent };
      if (oauthStatus !== undefined) attempt.oauthStatus = oauthStatus;
      throw loginRefused(server, user, mask.apply(result.reply.text), attempt);
    }
    return;
  }

  const password = credentials.password ?? '';
  switch (credentials.auth) {
    case 'user':
      return userPass(transport, user, password, mask);
    case 'apop':
      return apop(transport, user, password, mask);
    case 'plain':
      // A server that does not answer CAPA may still know AUTH (RFC 1734
      // predates CAPA); one that lists its mechanisms without PLAIN does not.
      if (capabilities !== undefined && !sasl.has('PLAIN')) {
        throw loginUnsupported(server, `does not offer SASL PLAIN (${offered()})`, 'choose another POP3 login method');
      }
      return saslPlain(transport, user, password, mask);
    case 'auto':
      return sasl.has('PLAIN') ? saslPlain(transport, user, password, mask) : userPass(transport, user, password, mask);
  }
}

async function userPass(transport: Pop3Transport, user: string, password: string, mask: SecretMask): Promise<void> {
  const userReply = await transport.send(`USER ${user}`, false);
  if (!userReply.ok) throw loginRefused(transport.server, user, mask.apply(userReply.text));
  const passReply = await transport.send(`PASS ${password}`, false, { label: `PASS ${MASK}` });
  if (!passReply.ok) throw loginRefused(transport.server, user, mask.apply(passReply.text));
}

async function apop(transport: Pop3Transport, user: string, password: string, mask: SecretMask): Promise<void> {
  const timestamp = apopTimestamp(transport.greeting);
  if (timestamp === undefined) {
    throw loginUnsupported(
      transport.server,
      `does not offer APOP: its greeting (${quoteServer(transport.greeting ?? '')}) has no <timestamp>`,
      'choose another POP3 login method (the default uses SASL PLAIN or USER/PASS)',
    );
  }
  const digest = apopDigest(timestamp, password);
  mask.add(digest);
  const reply = await transport.send(`APOP ${user} ${digest}`, false, { label: `APOP ${user} ${MASK}` });
  if (!reply.ok) throw loginRefused(transport.server, user, mask.apply(reply.text), { method: 'APOP' });
}

async function saslPlain(transport: Pop3Transport, user: string, password: string, mask: SecretMask): Promise<void> {
  // PLAIN has one client message and no further challenge: anything else is cancelled.
  const result = await saslExchange(transport, 'PLAIN', plainResponse(user, password), () => CANCEL);
  if (!result.reply.ok) throw loginRefused(transport.server, user, mask.apply(result.reply.text), { method: 'AUTH PLAIN' });
}

interface ClientAnswer {
  line: string;
  label: string;
}

/** RFC 5034 §4: "*" cancels the exchange; the server then answers -ERR. */
const CANCEL: ClientAnswer = { line: '*', label: '* (cancel)' };

interface SaslResult {
  /** The final +OK or -ERR. */
  reply: Pop3Reply;
  /** Whether the initial response (the credentials) was sent. */
  credentialsSent: boolean;
  /** The credentials went on the AUTH line itself. */
  inline: boolean;
  /** The server sent at least one challenge. */
  challenged: boolean;
}

/**
 * Runs one AUTH exchange for a client-first mechanism. The initial response
 * goes on the AUTH line when it fits (RFC 5034 §4), else after the server's
 * empty challenge. Every later challenge is answered by `onChallenge`
 * (round 0 for the first one after the credentials).
 */
async function saslExchange(
  transport: Pop3Transport,
  mechanism: string,
  initialResponse: string,
  onChallenge: (challenge: string, round: number) => ClientAnswer,
  options: { inline?: boolean } = {},
): Promise<SaslResult> {
  const command = `AUTH ${mechanism}`;
  // RFC 5034 §4: a zero-length initial response is sent as "=".
  const inline = `${command} ${initialResponse === '' ? '=' : initialResponse}`;
  let credentialsSent = options.inline !== false && Buffer.byteLength(inline) + 2 <= MAX_COMMAND_OCTETS;
  const sentInline = credentialsSent;
  let reply = credentialsSent
    ? await transport.send(inline, false, { label: `${command} ${MASK}`, continuation: true })
    : await transport.send(command, false, { continuation: true });
  let challenges = 0;
  /** Challenges answered after the credentials went out. */
  let round = 0;
  let cancelled = false;
  while (reply.continuation === true) {
    if (++challenges > MAX_SASL_ROUNDS) {
      const err = protocolFailure(transport.server, command, `the server kept sending SASL challenges`);
      transport.dropConnection();
      throw err;
    }
    let answer: ClientAnswer;
    if (cancelled) {
      answer = CANCEL;
    } else if (!credentialsSent) {
      // The first challenge to these client-first mechanisms must be empty;
      // a non-empty one is nothing we can answer with credentials.
      answer = reply.text === '' ? { line: initialResponse, label: `${MASK} (${command} response)` } : CANCEL;
      credentialsSent = answer !== CANCEL;
    } else {
      answer = onChallenge(reply.text, round++);
    }
    cancelled = answer === CANCEL;
    reply = await transport.send(answer.line, false, { label: answer.label, continuation: true });
  }
  return { reply, credentialsSent, inline: sentInline, challenged: challenges > 0 };
}
