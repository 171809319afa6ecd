import { describe, expect, it } from 'vitest';
import { resolveCredentials, runSecretCommand } from '../../src/cli/secrets.js';

/** Settles `promise` or fails after `ms`: a hang is what these tests are about. */
async function within<T>(promise: Promise<T>, ms: number): Promise<{ value?: T; error?: Error }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise.then(
        (value) => ({ value }),
        (error: unknown) => ({ error: error as Error }),
      ),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`still running after ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

describe('--*-password-command and --*-token-command', () => {
  it('prints the first line as the secret', async () => {
    expect((await within(runSecretCommand('printf "s3cret\\nmore\\n"', 'POP3 password'), 5000)).value).toBe('s3cret');
  });

  it('a command whose child keeps running is stopped at the timeout, and the error says how long', async () => {
    const started = performance.now();
    // The subshell outlives a killed sh and holds the output pipe open.
    const { error } = await within(runSecretCommand('(sleep 20); echo late', 'POP3 password', 300), 5000);
    expect(error?.message).toMatch(/^The POP3 password command did not finish within 0\.3 s and was stopped/);
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it('a command that waits for input gets end of input instead of hanging', async () => {
    const { error } = await within(runSecretCommand('read answer; echo "$answer"', 'IMAP token', 2000), 5000);
    expect(error?.message).toMatch(/printed nothing/);
  });

  it('a background child left holding the pipe does not keep the run waiting', async () => {
    const { value } = await within(runSecretCommand('echo s3cret; sleep 20 &', 'POP3 password', 10_000), 5000);
    expect(value).toBe('s3cret');
  });

  it('a failing command reports its stderr, never its stdout', async () => {
    const { error } = await within(runSecretCommand('echo leaked; echo "no such key" >&2; exit 3', 'POP3 password'), 5000);
    expect(error?.message).toBe('The POP3 password command failed (3): no such key.');
  });
});

describe("a secret command's environment (issue 20 item 11)", () => {
  it("gets the run's environment without poplift's secrets: the other side's password stays out of the child", async () => {
    const env = {
      PATH: process.env.PATH ?? '',
      HOME: '/home/x',
      POPLIFT_JSON: '1',
      POPLIFT_IMAP_PASSWORD: 'imap-Zq9',
      POPLIFT_POP3_PASSWORD: 'pop3-Zq9',
      POPLIFT_IMAP_TOKEN: 'tok-Zq9',
      POPLIFT_OAUTH_CLIENT_SECRET: 'sec-Zq9',
    };
    const credentials = await resolveCredentials({
      side: 'POP3',
      env,
      passwordCommand: 'printf "%s|%s|%s\\n" "$HOME" "$POPLIFT_JSON" "$(env | grep Zq9 | tr "\\n" ,)"',
      fromUrl: undefined,
      warn: () => undefined,
      prompt: undefined,
    });
    expect(credentials.password).toBe('/home/x|1|');
  });
});
