/**
 * The secret part of a mailbox's webhook URL. Superset sends no signature and no custom header, so the
 * URL itself is the credential: `/webhook/<token>`, the token an HMAC of the mailbox address under
 * WEBHOOK_SECRET. Nothing is stored: rotating the secret rotates every URL at once.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';

/** Where every webhook URL starts. */
export const WEBHOOK_PATH_PREFIX = '/webhook/';

/** Characters of the token: 32 base64url characters, 192 bits of the HMAC. */
const TOKEN_LENGTH = 32;

/** The token of `mailboxEmail` under `secret` (URL-safe, {@link TOKEN_LENGTH} characters). */
export function webhookToken(secret: string, mailboxEmail: string): string {
  return createHmac('sha256', secret)
    .update(`superset-telegram-bot webhook\n${mailboxEmail.trim().toLowerCase()}`)
    .digest('base64url')
    .slice(0, TOKEN_LENGTH);
}

/** The path of `mailboxEmail`'s webhook URL. */
export function webhookPath(secret: string, mailboxEmail: string): string {
  return `${WEBHOOK_PATH_PREFIX}${webhookToken(secret, mailboxEmail)}`;
}

/** The full URL when WEBHOOK_PUBLIC_URL is set (without a doubled slash), else the path. */
export function webhookUrl(secret: string, mailboxEmail: string, publicUrl?: string | null): string {
  const path = webhookPath(secret, mailboxEmail);
  return publicUrl ? `${publicUrl.replace(/\/+$/, '')}${path}` : path;
}

/**
 * The mailbox among `emails` whose token `presented` is, or null. Every candidate is compared, each in
 * constant time, so the answer's timing tells nothing about how much of a guess was right.
 */
export function mailboxForToken(secret: string, presented: string, emails: readonly string[]): string | null {
  const given = Buffer.from(presented);
  let found: string | null = null;
  for (const email of emails) {
    const expected = Buffer.from(webhookToken(secret, email));
    const same = given.length === expected.length && timingSafeEqual(given, expected);
    if (same && found === null) found = email;
  }
  return found;
}
