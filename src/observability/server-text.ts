/**
 * Words a remote server chose (an IMAP BYE or NO text, an error quoting them) made safe to show:
 * no secret, no control character that could start a new log line or rewrite a terminal, no bidi
 * mark that could make an admin message read differently from what it says, and a bounded length.
 * A hostile or broken server decides these texts, so they pass here before they reach `lastError`,
 * /readyz, a log line or the admin chat.
 */
import type { SecretScrubber } from './secret-scrubber.js';

/** Longest server text kept, in characters (code points); the rest is cut and marked with "…". */
export const SERVER_TEXT_MAX_LENGTH = 300;

/** Line and paragraph breaks of every kind, and tabs: each becomes one space. */
const BREAKS = /[\t\n\v\f\r\u0085\u2028\u2029]/g;
/**
 * Removed outright: the other C0 and C1 controls and DEL (ANSI escapes start with ESC), bidi
 * embeddings, overrides, isolates and marks, and zero-width characters (which could also split a
 * secret so that it is no longer recognised).
 */
const INVISIBLE =
  /[\u0000-\u0008\u000e-\u001f\u007f-\u0084\u0086-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]/g;

/**
 * Returns `text` as one clean line: breaks become spaces, control and bidi characters are removed,
 * secrets known to `scrubber` are masked, and the result is at most `maxLength` characters.
 */
export function sanitizeServerText(
  text: string,
  scrubber: SecretScrubber,
  maxLength = SERVER_TEXT_MAX_LENGTH,
): string {
  const oneLine = text.replace(BREAKS, ' ').replace(INVISIBLE, '').replace(/ {2,}/g, ' ').trim();
  // mask before cutting, so a cut can never leave the start of a secret behind
  const masked = scrubber.scrub(oneLine);
  const characters = Array.from(masked);
  if (characters.length <= maxLength) return masked;
  return `${characters.slice(0, Math.max(0, maxLength - 1)).join('')}…`;
}
