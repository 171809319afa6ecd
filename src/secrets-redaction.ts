/**
 * Removes the user's secrets from text a server sent before it reaches an
 * error message, a log line or a protocol trace. Servers echo what they
 * were sent: a password in a NO text, the base64 SASL PLAIN or XOAUTH2 blob
 * of a refused AUTHENTICATE, a URL-encoded form in a web-style message. So
 * each secret is known in every form it can take on the wire: as is,
 * percent-encoded, as an IMAP quoted string, and in base64 (standard and
 * URL-safe) at each of the three byte alignments it can have inside a
 * longer base64 blob. Both the POP3 and the IMAP driver use it.
 */
import { oauthBearerResponse, plainResponse, xoauth2Response } from './sasl.js';

export const REDACTED = '****';

/**
 * Base64 runs shorter than this are not redacted on their own: a 2-character
 * run would match all over ordinary text. A secret that short is still
 * redacted as is, and inside the full SASL blobs.
 */
const MIN_ENCODED_LENGTH = 4;

export interface SecretCredentials {
  user?: string | undefined;
  password?: string | undefined;
  accessToken?: string | undefined;
}

export class SecretRedactor {
  /** Every form to replace, longest first so that a blob goes before the secret inside it. */
  private forms: string[] = [];

  /** A redactor for a login's password or token, with the SASL blobs built from them. */
  static forCredentials(c: SecretCredentials): SecretRedactor {
    const redactor = new SecretRedactor();
    const user = c.user ?? '';
    if (c.password !== undefined && c.password !== '') {
      redactor.add(c.password);
      redactor.addExact(plainResponse(user, c.password));
    }
    if (c.accessToken !== undefined && c.accessToken !== '') {
      redactor.add(c.accessToken);
      redactor.addExact(xoauth2Response(user, c.accessToken), oauthBearerResponse(user, c.accessToken));
    }
    return redactor;
  }

  /** Adds a secret in every form it can take on the wire. */
  add(...secrets: (string | undefined)[]): void {
    for (const secret of secrets) {
      if (secret === undefined || secret === '') continue;
      const forms = [secret, encodeURIComponent(secret), secret.replace(/["\\]/g, '\\$&')];
      const encoded = encodeURIComponent(secret);
      if (encoded !== secret) forms.push(encoded.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()));
      for (const run of base64Runs(Buffer.from(secret, 'utf8'))) {
        if (run.length >= MIN_ENCODED_LENGTH) forms.push(run, run.replace(/\+/g, '-').replace(/\//g, '_'));
      }
      this.addExact(...forms);
    }
  }

  /** Adds strings to replace exactly as given (a digest, a whole SASL blob). */
  addExact(...forms: (string | undefined)[]): void {
    for (const form of forms) {
      if (form === undefined || form === '' || this.forms.includes(form)) continue;
      this.forms.push(form);
    }
    this.forms.sort((a, b) => b.length - a.length);
  }

  /** `text` with every known form of every secret replaced by ****. */
  redact(text: string): string {
    let out = text;
    for (const form of this.forms) {
      if (out.includes(form)) out = out.split(form).join(REDACTED);
    }
    return out;
  }

  /** Same as redact(); the name the POP3 driver's mask has always used. */
  apply(text: string): string {
    return this.redact(text);
  }

  /** A trace or log function that redacts each line first; undefined stays undefined. */
  wrap(sink: ((line: string) => void) | undefined): ((line: string) => void) | undefined {
    return sink === undefined ? undefined : (line: string) => sink(this.redact(line));
  }

  /** Redacts an error's message in place (and its cause's), for errors built from server text elsewhere. */
  redactError<T>(err: T): T {
    for (let e: unknown = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
      const clean = this.redact(e.message);
      if (clean !== e.message) e.message = clean;
      // The stack was built with the message in it, and --debug prints it.
      if (typeof e.stack === 'string') e.stack = this.redact(e.stack);
      const response = (e as { responseText?: unknown }).responseText;
      if (typeof response === 'string') (e as { responseText?: string }).responseText = this.redact(response);
    }
    return err;
  }
}

/**
 * The base64 characters that depend on `bytes` alone, for each of the three
 * offsets (mod 3) the bytes can start at inside a longer encoded blob:
 * characters that also encode a neighbouring byte are left out.
 */
function base64Runs(bytes: Buffer): string[] {
  const runs: string[] = [];
  for (let offset = 0; offset < 3; offset++) {
    const encoded = Buffer.concat([Buffer.alloc(offset), bytes])
      .toString('base64')
      .replace(/=+$/, '');
    // 6-bit groups that hold any of the offset bytes are not the secret's alone.
    const skip = Math.ceil((offset * 8) / 6);
    // The last character also encodes bits of whatever byte follows, unless the bytes end on a group boundary.
    const total = offset + bytes.length;
    const end = total % 3 === 0 ? encoded.length : encoded.length - 1;
    if (end > skip) runs.push(encoded.slice(skip, end));
  }
  return runs;
}
