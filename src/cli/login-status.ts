/**
 * What a terminal shows while the connections and logins are under way,
 * before there is a bar to show: across the internet, or to a server slow
 * to answer, they take seconds (up to --timeout), and a blank screen looks
 * like a hang. The engine only calls the endpoints, so the status is told
 * from around those calls.
 */
import type { StoreEndpoints } from '../store/mail-store.js';

interface Side {
  name: 'POP3' | 'IMAP';
  /** The server as reports name it: scheme, user, host and port, never a password. */
  label: string;
  /** Connections being opened now (a reconnect may overlap a failed one). */
  opening: number;
  loggedIn: boolean;
}

/** The status line for the two sides as they are now; undefined while nothing is being opened and a side has yet to log in. */
function loginStatusText(sides: readonly Side[], afterLogin: string): string | undefined {
  const opening = sides.filter((s) => s.opening > 0);
  if (opening.length === 0) return sides.every((s) => s.loggedIn) ? afterLogin : undefined;
  const ready = sides.filter((s) => s.opening === 0 && s.loggedIn).map((s) => s.name);
  const already = ready.length > 0 ? ` (${ready.join(' and ')} logged in)` : '';
  // The servers still waited for come first: on a narrow terminal the end of the line is what is cut.
  return `connecting to ${opening.map((s) => s.label).join(' and ')} …${already}`;
}

/**
 * The same endpoints, telling `show` which servers are being connected and
 * logged in to, and `afterLogin` once both sides are in and nothing is
 * being opened.
 */
export function withLoginStatus(endpoints: StoreEndpoints, show: (text: string) => void, afterLogin: string): StoreEndpoints {
  const source: Side = { name: 'POP3', label: endpoints.sourceLabel, opening: 0, loggedIn: false };
  const destination: Side = { name: 'IMAP', label: endpoints.destinationLabel, opening: 0, loggedIn: false };
  const draw = () => {
    const text = loginStatusText([source, destination], afterLogin);
    if (text !== undefined) show(text);
  };
  const watched =
    <T, A extends unknown[]>(side: Side, connect: (...args: A) => Promise<T>) =>
    async (...args: A): Promise<T> => {
      side.opening++;
      draw();
      try {
        const session = await connect(...args);
        side.loggedIn = true;
        return session;
      } catch (err) {
        // The line keeps saying what was last tried until a new attempt or the run's error replaces it.
        side.loggedIn = false;
        throw err;
      } finally {
        side.opening--;
        draw();
      }
    };
  return {
    sourceLabel: endpoints.sourceLabel,
    destinationLabel: endpoints.destinationLabel,
    connectSource: watched(source, (options?: { loginAfter?: Promise<unknown> }) => endpoints.connectSource(options)),
    connectDestination: watched(destination, () => endpoints.connectDestination()),
  };
}
