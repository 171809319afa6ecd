/** poplift's version, as package.json gives it. */
import { readFileSync } from 'node:fs';

/** Set by the single-file executable's bundler, which has no package.json beside it. */
declare const POPLIFT_BUNDLED_VERSION: string | undefined;

let version: string | undefined;

export function packageVersion(): string {
  if (typeof POPLIFT_BUNDLED_VERSION === 'string') return POPLIFT_BUNDLED_VERSION;
  // Every compiled module sits one or two levels below dist/, and dist/ beside package.json.
  version ??= (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  return version;
}
