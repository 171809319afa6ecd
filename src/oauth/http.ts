/**
 * The one way poplift talks to an authorization server: a form POST (or a
 * GET) with an overall deadline and a bounded answer, read as JSON. What a
 * server sends is evidence, never echoed: callers quote only the RFC 6749
 * `error` code, neutralised.
 */
export interface HttpReply {
  status: number;
  /** The body parsed as JSON; undefined when it is not JSON. */
  json: unknown;
  /** Seconds from a Retry-After header, when there is one. */
  retryAfter?: number | undefined;
}

/** An answer larger than this is not a token response. */
const MAX_BODY = 1024 * 1024;

export class OAuthHttpError extends Error {
  constructor(
    readonly url: string,
    reason: string,
  ) {
    super(reason);
  }
}

/** POSTs `form` (application/x-www-form-urlencoded) to `url`, or GETs it when `form` is undefined. */
export async function postOrGet(
  url: string,
  form: Record<string, string> | undefined,
  timeoutMs: number,
  basicAuth?: { user: string; password: string },
): Promise<HttpReply> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (form !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
  if (basicAuth !== undefined) {
    // RFC 6749 section 2.3.1: both parts form-encoded before base64.
    const encode = (s: string) => encodeURIComponent(s).replace(/%20/g, '+');
    headers.authorization = `Basic ${Buffer.from(`${encode(basicAuth.user)}:${encode(basicAuth.password)}`).toString('base64')}`;
  }
  let response: Response;
  try {
    response = await fetch(url, {
      method: form === undefined ? 'GET' : 'POST',
      headers,
      ...(form === undefined ? {} : { body: new URLSearchParams(form).toString() }),
      redirect: 'error',
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new OAuthHttpError(
      url,
      cause === 'TimeoutError' ? `no answer within ${Math.round(timeoutMs / 1000)} s` : `could not connect (${cause})`,
    );
  }
  // The request's deadline covers the body too: a server trickling its answer is cut off with it.
  const chunks: Buffer[] = [];
  let size = 0;
  if (response.body !== null) {
    try {
      for await (const value of response.body as AsyncIterable<Uint8Array>) {
        size += value.length;
        // Leaving the loop early cancels the stream, and with it the connection.
        if (size > MAX_BODY) throw new OAuthHttpError(url, 'sent an answer over 1 MiB');
        chunks.push(Buffer.from(value));
      }
    } catch (err) {
      if (err instanceof OAuthHttpError) throw err;
      throw new OAuthHttpError(url, `did not finish its answer within ${Math.round(timeoutMs / 1000)} s`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    json = undefined;
  }
  const retry = Number(response.headers.get('retry-after'));
  return { status: response.status, json, retryAfter: Number.isFinite(retry) && retry > 0 ? retry : undefined };
}
