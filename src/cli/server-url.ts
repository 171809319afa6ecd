import { isIP } from 'node:net';
import { domainToASCII } from 'node:url';
import { PopliftError, usageError, type Side } from '../errors.js';

export type TlsMode = 'implicit' | 'starttls';

/** A server named on the command line, e.g. pop3s://alice@pop.example.org:995 */
export interface ServerUrl {
  side: Side;
  /** 'implicit' for pop3s/imaps; 'starttls' for pop3/imap (upgraded when offered). */
  tls: TlsMode;
  host: string;
  port: number;
  user: string;
  /** Only when the user put it in the URL; the CLI warns that argv is visible to others. */
  password: string | undefined;
}

const SCHEMES: Record<string, { side: Side; tls: TlsMode; port: number }> = {
  'pop3:': { side: 'POP3', tls: 'starttls', port: 110 },
  'pop3s:': { side: 'POP3', tls: 'implicit', port: 995 },
  'imap:': { side: 'IMAP', tls: 'starttls', port: 143 },
  'imaps:': { side: 'IMAP', tls: 'implicit', port: 993 },
};

function decode(part: string, what: string, text: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw usageError(`The ${what} in '${text}' has a bad percent-escape: write '%' as %25.`);
  }
}

/**
 * Parses a server URL for the given side; every problem is a usage error
 * naming the expected form. A URL with a password never shows it, and its
 * error says where a password belongs: a '#', '?' or '/' in a password cuts
 * the URL short, so the error is often about something else entirely.
 */
export function parseServerUrl(text: string, side: Side): ServerUrl {
  try {
    return parse(text, side);
  } catch (err) {
    if (!(err instanceof PopliftError) || redactUrl(text) === text) throw err;
    const lower = side.toLowerCase();
    throw usageError(
      `${err.message} Keep the password out of the URL: set POPLIFT_${side}_PASSWORD or give --${lower}-password-file <file> ` +
        `(in a URL, percent-encode '#', '?', '/', '@', ':' and '%' in it, e.g. '#' as %23).`,
    );
  }
}

function parse(text: string, side: Side): ServerUrl {
  const lower = side.toLowerCase();
  const form = `${lower}://USER@HOST[:PORT] or ${lower}s://USER@HOST[:PORT]`;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw usageError(`'${redactUrl(text)}' is not a ${side} server URL: expected ${form}.`);
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme || scheme.side !== side) {
    throw usageError(`'${url.protocol.replace(/:$/, '')}' is not a ${side} scheme in '${redactUrl(text)}': expected ${form}.`);
  }
  if (!url.username) throw usageError(`No user name in '${redactUrl(text)}': expected ${form} (percent-encode '@' in the user as %40).`);
  if (!url.hostname) throw usageError(`No host in '${redactUrl(text)}': expected ${form}.`);
  if ((url.pathname && url.pathname !== '/') || url.search || url.hash) {
    throw usageError(`'${redactUrl(text)}' has a path or query; give the IMAP folder with --folder instead.`);
  }
  const port = url.port ? Number(url.port) : scheme.port;
  // URL keeps brackets around IPv6 literals; sockets want them bare.
  const host = asciiHost(url.hostname.replace(/^\[(.*)\]$/, '$1'), redactUrl(text));
  return {
    side,
    tls: scheme.tls,
    host,
    port,
    user: decode(url.username, 'user name', redactUrl(text)),
    password: url.password ? decode(url.password, 'password', redactUrl(text)) : undefined,
  };
}

/**
 * DNS knows only ASCII names. URL leaves the host of a pop3:/imap: URL (not
 * a special scheme) percent-encoded, so `bücher.example` arrived at the
 * resolver as `b%C3%BCcher.example`; IDNA (UTS #46) gives the xn-- name.
 */
function asciiHost(host: string, shown: string): string {
  if (isIP(host) !== 0) return host;
  let unicode: string;
  try {
    unicode = decodeURIComponent(host);
  } catch {
    throw usageError(`The host in '${shown}' has a bad percent-escape.`);
  }
  if (/^[\x21-\x7e]+$/.test(unicode)) return unicode;
  const ascii = domainToASCII(unicode);
  if (ascii === '') throw usageError(`The host '${unicode}' in '${shown}' is not a valid international domain name.`);
  return ascii;
}

/**
 * The URL with any password replaced, safe to print, also when the URL is
 * malformed: the password runs from the first ':' after the scheme's '//'
 * to the last '@' (a password may hold '#', '?', '/' and '@'); without '@',
 * whatever follows a ':' that does not start a port.
 */
export function redactUrl(text: string): string {
  const m = /^([a-z][a-z0-9+.-]*:)(\/\/)?(.*)$/is.exec(text);
  if (!m) return text.includes('@') ? `****${text.slice(text.lastIndexOf('@'))}` : text;
  const scheme = m[1]!;
  const rest = m[3]!;
  if (m[2] === undefined) return rest.includes('@') ? `${scheme}****${rest.slice(rest.lastIndexOf('@'))}` : text;
  const at = rest.lastIndexOf('@');
  const colon = rest.indexOf(':');
  if (colon < 0 || (at >= 0 && colon > at)) return text;
  if (at >= 0) return `${scheme}//${rest.slice(0, colon)}:****${rest.slice(at)}`;
  return /^\d*(?:[/?#].*)?$/s.test(rest.slice(colon + 1)) ? text : `${scheme}//${rest.slice(0, colon)}:****`;
}

/**
 * Whether plain text to this host stays on this machine. Only an IPv4
 * literal in 127.0.0.0/8 counts, not a name that merely starts with "127."
 * (127.mail.example may resolve anywhere).
 */
export function isLoopback(host: string): boolean {
  return host.toLowerCase() === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}
