/**
 * How IMAP errors are told apart and described. The descriptions carry the server's own words
 * (a NO or BYE text), made safe by `sanitizeServerText`: they end up in `lastError`, /readyz, logs
 * and the admin chat.
 */
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import { sanitizeServerText } from '../observability/server-text.js';

/** A login the server refused, as opposed to a connection limit or an outage (imapflow flags both). */
export function isLoginRejected(error: unknown): boolean {
  const fields = error as { authenticationFailed?: boolean; serverResponseCode?: string };
  if (!fields?.authenticationFailed) return false;
  return !['LIMIT', 'UNAVAILABLE', 'INUSE', 'SERVERBUG'].includes(
    String(fields.serverResponseCode ?? '').toUpperCase(),
  );
}

/** One safe line: the error, the server's response text and code when the message lacks them. */
export function describeImapError(error: unknown, scrubber: SecretScrubber): string {
  const fields = error as { responseText?: string; code?: string; message?: string };
  const message = error instanceof Error ? error.message : String(error);
  const detail =
    fields?.responseText && !message.includes(fields.responseText) ? `: ${fields.responseText}` : '';
  const code = fields?.code && !message.includes(fields.code) ? ` (${fields.code})` : '';
  return sanitizeServerText(`${message}${detail}${code}`, scrubber);
}

/** A mail that could not be fetched or recorded for a reason that is not its own bytes. */
export class MailNotReadError extends Error {
  constructor(
    readonly uid: number,
    description: string,
  ) {
    super(`mail UID ${uid} could not be read, will retry: ${description}`);
    this.name = 'MailNotReadError';
  }
}
