/**
 * Text a server or a message chose (greetings, NO/-ERR texts, folder names,
 * UIDLs, Subjects) made safe to show. A terminal obeys escape sequences in
 * what it prints (OSC 52 writes the clipboard, OSC 0 the window title,
 * CSI 2J clears the screen; an 8-bit CSI U+009B works like ESC [), a CR or
 * LF starts what looks like a line of poplift's own, and bidi overrides
 * reorder what is read. Every output (stderr, --log-file, the terminal bars,
 * --json) goes through displayText or jsonLine; nothing else neutralises.
 */

/** C0 (TAB, CR and LF included), DEL, C1, the line and paragraph separators, bidi embeddings, overrides, isolates and marks. */
const UNSAFE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

function hex(c: string, width: number): string {
  return c.charCodeAt(0).toString(16).padStart(width, '0');
}

/**
 * `text` as one line a terminal only displays: each unsafe character shown
 * as a visible escape (ESC as \x1b, U+009B as \x9b, U+202E as \u202e).
 * Printable text, in any script, is unchanged, so applying it twice changes
 * nothing.
 */
export function displayText(text: string): string {
  return text.replace(UNSAFE, (c) => (c.charCodeAt(0) <= 0xff ? `\\x${hex(c, 2)}` : `\\u${hex(c, 4)}`));
}

/** What JSON.stringify leaves raw: it escapes C0 (and lone surrogates) only. */
const JSON_UNSAFE = /[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/**
 * `value` as one JSON line (ending in LF) in which every control character
 * is a \u escape: outside strings JSON is ASCII, so the escapes land only in
 * strings, and a parser gets the exact text back.
 */
export function jsonLine(value: unknown): string {
  return `${JSON.stringify(value).replace(JSON_UNSAFE, (c) => `\\u${hex(c, 4)}`)}\n`;
}
