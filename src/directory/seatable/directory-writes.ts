/**
 * The changes the bot makes to the SeaTable directory (registration write-backs, delivery feedback),
 * as plain data, and what each does to the in-memory copy. A change is shown in the copy the moment
 * it is made and stays shown, over every re-read, until SeaTable has taken it (write-queue.ts).
 */
import type { DirectorySnapshot } from '../directory.js';

export type DirectoryWrite =
  /**
   * Links a Telegram account to a user (null unlinks); others lose the id. Active is the admin's
   * alone: registration never ticks it, and a chat the bot saw go is kept in gone_chats instead.
   */
  | { kind: 'user-telegram-id'; userKey: string; telegramId: number | null }
  | { kind: 'user-active'; userKey: string; active: boolean }
  /** Locks the group row to the chat, with SeaTable's conditional write (never over another chat's lock). */
  | { kind: 'claim-group'; groupKey: string; title: string; chatId: number }
  | { kind: 'move-group-chat'; oldChatId: number; newChatId: number };

/** The copy with `write` applied. Applying a change twice gives the same copy as applying it once. */
export function applyWrite(snapshot: DirectorySnapshot, write: DirectoryWrite): DirectorySnapshot {
  switch (write.kind) {
    case 'user-telegram-id':
      return {
        ...snapshot,
        users: snapshot.users.map((user) =>
          user.key === write.userKey
            ? { ...user, telegramId: write.telegramId }
            : write.telegramId !== null && user.telegramId === write.telegramId
              ? { ...user, telegramId: null }
              : user,
        ),
      };
    case 'user-active':
      return {
        ...snapshot,
        users: snapshot.users.map((user) =>
          user.key === write.userKey ? { ...user, active: write.active } : user,
        ),
      };
    case 'claim-group':
      return {
        ...snapshot,
        groups: snapshot.groups.map((group) =>
          group.key === write.groupKey ? { ...group, telegramId: write.chatId, locked: true } : group,
        ),
      };
    case 'move-group-chat':
      return {
        ...snapshot,
        groups: snapshot.groups.map((group) =>
          group.telegramId === write.oldChatId ? { ...group, telegramId: write.newChatId } : group,
        ),
      };
  }
}

/** The copy with every write applied, in order. */
export function applyWrites(
  snapshot: DirectorySnapshot,
  writes: readonly DirectoryWrite[],
): DirectorySnapshot {
  return writes.reduce(applyWrite, snapshot);
}

/** A change in words, for logs and the admin chat (ids only: no phone, no name). */
export function describeWrite(write: DirectoryWrite): string {
  switch (write.kind) {
    case 'user-telegram-id':
      return write.telegramId === null
        ? `clear the Telegram id of user row ${write.userKey}`
        : `set the Telegram id of user row ${write.userKey} to ${write.telegramId}`;
    case 'user-active':
      return `mark user row ${write.userKey} ${write.active ? 'active' : 'inactive'}`;
    case 'claim-group':
      return `lock the group "${write.title}" (row ${write.groupKey}) to chat ${write.chatId}`;
    case 'move-group-chat':
      return `move group chat ${write.oldChatId} to ${write.newChatId}`;
  }
}

/** Reads a stored write back; null when it is not one (a newer or damaged row). */
export function parseWrite(text: string): DirectoryWrite | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null) return null;
  const write = value as Record<string, unknown>;
  const isId = (field: unknown) => typeof field === 'number' && Number.isSafeInteger(field);
  const isKey = (field: unknown) => typeof field === 'string' && field !== '';
  switch (write.kind) {
    case 'user-telegram-id':
      return isKey(write.userKey) && (write.telegramId === null || isId(write.telegramId))
        ? (write as DirectoryWrite)
        : null;
    case 'user-active':
      return isKey(write.userKey) && typeof write.active === 'boolean' ? (write as DirectoryWrite) : null;
    case 'claim-group':
      return isKey(write.groupKey) && typeof write.title === 'string' && isId(write.chatId)
        ? (write as DirectoryWrite)
        : null;
    case 'move-group-chat':
      return isId(write.oldChatId) && isId(write.newChatId) ? (write as DirectoryWrite) : null;
    default:
      return null;
  }
}
