/**
 * A Telegram user's entries in the directory: found by phone or by Telegram id, the mailboxes they
 * receive, and their Telegram id linked (never half) or cleared.
 */
import type { CountryCode } from 'libphonenumber-js';
import { normalizePhone } from '../core/phone.js';
import type { Directory, DirectorySnapshot, UserEntry } from '../directory/directory.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import type { ListedMailbox } from '../texts/index.js';

/**
 * The user whose phone is `phone` (E.164). Directory phones are compared after the same
 * normalisation, so a number written "8 (999) 123-45-67" in the table matches `+79991234567`.
 * Both directories keep phones unique (the SeaTable one ignores a repeated phone and says so).
 */
export function userWithPhone(
  snapshot: DirectorySnapshot,
  phone: string,
  region: CountryCode,
): UserEntry | undefined {
  return snapshot.users.find((user) => (normalizePhone(user.phone, region) ?? user.phone) === phone);
}

/** The users linked to this Telegram account (a private chat's id is the user's id). */
export function usersWithTelegramId(snapshot: DirectorySnapshot, telegramId: number): UserEntry[] {
  return snapshot.users.filter((user) => user.telegramId === telegramId);
}

/** The mailboxes of these users together, each once, in the order first seen. */
export function mailboxesOf(users: readonly UserEntry[]): string[] {
  return [...new Set(users.flatMap((user) => user.mailboxes))];
}

/**
 * Mailbox addresses as shown to people: each with whether it is being read. An address the snapshot
 * does not know (a dangling reference in the table) counts as paused: nothing arrives from it.
 */
export function listedMailboxes(snapshot: DirectorySnapshot, emails: readonly string[]): ListedMailbox[] {
  const byEmail = new Map(snapshot.mailboxes.map((mailbox) => [mailbox.email, mailbox]));
  return [...new Set(emails)].map((email) => ({ email, active: byEmail.get(email)?.active === true }));
}

/** What {@link linkTelegramId} and {@link unlinkTelegramId} work with. */
export interface TelegramIdWriter {
  directory: Directory;
  logger: Logger;
  scrubber: SecretScrubber;
}

/**
 * Links a Telegram account to an entry. That is a new registration by the account, so what the bot
 * saw of its chat (blocked) is lifted; the admin's Active is never touched (a paused entry is refused
 * before this is called). Linking again is always safe.
 */
export async function linkTelegramId(
  writer: TelegramIdWriter,
  user: UserEntry,
  telegramId: number,
): Promise<void> {
  await writer.directory.setUserTelegramId(user.key, telegramId);
}

/**
 * Clears the Telegram id of these entries (/stop), one after the other. A failure stops there and is
 * rethrown; entries already cleared stay cleared (they are what the user asked for), and /stop again
 * clears the rest.
 */
export async function unlinkTelegramId(writer: TelegramIdWriter, users: readonly UserEntry[]): Promise<void> {
  for (const user of users) await writer.directory.setUserTelegramId(user.key, null);
}
