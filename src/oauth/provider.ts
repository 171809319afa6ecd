/**
 * Where an OAuth2 authorization server is and what poplift asks it for:
 * Google and Microsoft built in, any other provider from a file naming its
 * RFC 8414 issuer (whose metadata gives the endpoints) or the endpoints
 * themselves. The user brings the client id: both big providers require an
 * application registered by whoever uses it.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { usageError } from '../errors.js';
import { postOrGet } from './http.js';
import { option } from '../option-hint.js';

export interface OAuthProvider {
  /** `google`, `microsoft`, or the provider file's `name` (else its path). */
  name: string;
  issuer?: string | undefined;
  authorizationEndpoint?: string | undefined;
  tokenEndpoint: string;
  deviceAuthorizationEndpoint?: string | undefined;
  clientId: string;
  /** Google's "desktop app" clients have one that is not secret; confidential clients need it. */
  clientSecret?: string | undefined;
  /** What a person signs in for (code and device flows). */
  scopes: string[];
  /** What an application asks for without a person (client credentials). */
  appScopes: string[];
  /** Extra parameters of the authorization request (Google needs access_type=offline for a refresh token). */
  authorizationParams: Record<string, string>;
}

export interface ProviderChoice {
  /** `google`, `microsoft`, or the path of a provider file. */
  provider: string;
  clientId?: string | undefined;
  clientSecret?: string | undefined;
  /** Microsoft's directory: a tenant id or domain, `organizations` or `common` (the default). */
  tenant?: string | undefined;
}

const GOOGLE = {
  authorizationEndpoint: 'https://accounts.google.com/o/oauth2/v2/auth',
  tokenEndpoint: 'https://oauth2.googleapis.com/token',
  scopes: ['https://mail.google.com/'],
  // Without these Google hands out no refresh token on a second sign-in.
  authorizationParams: { access_type: 'offline', prompt: 'consent' },
};

function microsoft(tenant: string) {
  const base = `https://login.microsoftonline.com/${encodeURIComponent(tenant)}/oauth2/v2.0`;
  return {
    authorizationEndpoint: `${base}/authorize`,
    tokenEndpoint: `${base}/token`,
    deviceAuthorizationEndpoint: `${base}/devicecode`,
    scopes: ['https://outlook.office.com/IMAP.AccessAsUser.All', 'https://outlook.office.com/POP.AccessAsUser.All', 'offline_access'],
    appScopes: ['https://outlook.office365.com/.default'],
  };
}

/** The fields of a provider file, snake_case as in RFC 8414's metadata. */
interface ProviderFile {
  name?: unknown;
  issuer?: unknown;
  authorization_endpoint?: unknown;
  token_endpoint?: unknown;
  device_authorization_endpoint?: unknown;
  client_id?: unknown;
  client_secret?: unknown;
  scopes?: unknown;
  app_scopes?: unknown;
  authorization_params?: unknown;
}

function text(value: unknown, field: string, path: string): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || value === '') throw usageError(`OAuth provider file ${path}: ${field} must be a non-empty string.`);
  return value;
}

function words(value: unknown, field: string, path: string): string[] | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value.split(/\s+/).filter(Boolean);
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  throw usageError(`OAuth provider file ${path}: ${field} must be a list of strings.`);
}

/** An endpoint must be https, except on this machine (a private authorization server, tests). */
function endpoint(url: string, what: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw usageError(`The OAuth ${what} ${JSON.stringify(url)} is not a URL.`);
  }
  const loopback = /^(127\.\d+\.\d+\.\d+|\[::1\]|localhost)$/.test(parsed.hostname);
  if (parsed.protocol !== 'https:' && !(parsed.protocol === 'http:' && loopback))
    throw usageError(`The OAuth ${what} ${parsed.origin} must use https.`);
  return parsed.href;
}

/** RFC 8414 section 3: the metadata lives under /.well-known/, before the issuer's path. */
async function discover(issuer: string, timeoutMs: number): Promise<Record<string, unknown>> {
  const url = new URL(issuer);
  const path = url.pathname === '/' ? '' : url.pathname;
  const tried: string[] = [];
  for (const wellKnown of ['oauth-authorization-server', 'openid-configuration']) {
    const at = `${url.origin}/.well-known/${wellKnown}${path}`;
    tried.push(at);
    const reply = await postOrGet(at, undefined, timeoutMs).catch(() => undefined);
    if (reply?.status !== 200 || typeof reply.json !== 'object' || reply.json === null) continue;
    const metadata = reply.json as Record<string, unknown>;
    // RFC 8414 section 3.3: metadata for another issuer must not be used.
    if (metadata.issuer !== issuer) throw usageError(`The OAuth metadata at ${at} is for another issuer (${String(metadata.issuer)}).`);
    return metadata;
  }
  throw usageError(`No OAuth metadata for issuer ${issuer} (tried ${tried.join(' and ')}).`);
}

export async function loadProvider(choice: ProviderChoice, timeoutMs: number): Promise<OAuthProvider> {
  const needId = (name: string): string => {
    if (choice.clientId === undefined)
      throw usageError(`Signing in with ${name} needs your application's client id: give ${option('clientId')} (see docs/oauth.md).`);
    return choice.clientId;
  };
  if (choice.provider === 'google') {
    return { name: 'google', clientId: needId('Google'), clientSecret: choice.clientSecret, appScopes: [], ...GOOGLE };
  }
  if (choice.provider === 'microsoft') {
    return {
      name: 'microsoft',
      clientId: needId('Microsoft'),
      clientSecret: choice.clientSecret,
      authorizationParams: {},
      ...microsoft(choice.tenant ?? 'common'),
    };
  }
  if (!/[/.]/.test(choice.provider))
    throw usageError(`Unknown OAuth provider ${JSON.stringify(choice.provider)}: give google, microsoft, or the path of a provider file.`);
  const path = choice.provider;
  let file: ProviderFile;
  try {
    const parsed: unknown = parseYaml(readFileSync(path, 'utf8'));
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not a mapping');
    file = parsed;
  } catch (err) {
    throw usageError(`Cannot read the OAuth provider file ${path}: ${(err as Error).message}.`);
  }
  const issuer = text(file.issuer, 'issuer', path);
  if (issuer !== undefined) endpoint(issuer, 'issuer');
  const metadata = issuer === undefined ? {} : await discover(issuer, timeoutMs);
  const pick = (field: keyof ProviderFile): string | undefined =>
    text(file[field], field, path) ?? text(metadata[field], `${field} (from the issuer's metadata)`, path);
  const tokenEndpoint = pick('token_endpoint');
  if (tokenEndpoint === undefined) throw usageError(`OAuth provider file ${path}: give issuer or token_endpoint.`);
  const authorization = pick('authorization_endpoint');
  const device = pick('device_authorization_endpoint');
  const clientId = choice.clientId ?? text(file.client_id, 'client_id', path);
  if (clientId === undefined) throw usageError(`OAuth provider file ${path}: give client_id, or ${option('clientId')}.`);
  const params = file.authorization_params;
  if (params !== undefined && (typeof params !== 'object' || params === null || Object.values(params).some((v) => typeof v !== 'string')))
    throw usageError(`OAuth provider file ${path}: authorization_params must map names to strings.`);
  return {
    name: text(file.name, 'name', path) ?? path,
    issuer,
    authorizationEndpoint: authorization === undefined ? undefined : endpoint(authorization, 'authorization endpoint'),
    tokenEndpoint: endpoint(tokenEndpoint, 'token endpoint'),
    deviceAuthorizationEndpoint: device === undefined ? undefined : endpoint(device, 'device authorization endpoint'),
    clientId,
    clientSecret: choice.clientSecret ?? text(file.client_secret, 'client_secret', path),
    scopes: words(file.scopes, 'scopes', path) ?? [],
    appScopes: words(file.app_scopes, 'app_scopes', path) ?? [],
    authorizationParams: (params ?? {}) as Record<string, string>,
  };
}
