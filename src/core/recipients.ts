/**
 * Who receives a mailbox's reports: every active user and group that has a Telegram chat and is
 * subscribed to the mailbox. One recipient per chat, even when a chat is both a user and a group row.
 */
import type { DirectorySnapshot, MailboxEntry } from '../directory/directory.js';
import { DEFAULT_TALL_IMAGE_MODE, type MediaMode, type TallImageMode } from './message-plan.js';

export interface Recipient {
  chatId: number;
  kind: 'user' | 'group';
  /** The directory key of the user or group. */
  key: string;
  /** For logs and the `reports` command. */
  name: string;
  mediaMode: MediaMode;
  /** How tall PNGs go to this chat: the group's mode, else the mailbox's, else TALL_IMAGE_MODE. */
  tallImageMode: TallImageMode;
  /** Forum topic of a group, if configured. */
  threadId: number | null;
}

export function recipientsFor(
  mailbox: Pick<MailboxEntry, 'email' | 'mediaMode' | 'tallImageMode'>,
  snapshot: DirectorySnapshot,
  defaultMediaMode: MediaMode,
  defaultTallImageMode: TallImageMode = DEFAULT_TALL_IMAGE_MODE,
): Recipient[] {
  const email = mailbox.email.toLowerCase();
  const mailboxMode = mailbox.mediaMode ?? defaultMediaMode;
  const mailboxTallMode = mailbox.tallImageMode ?? defaultTallImageMode;
  const byChat = new Map<number, Recipient>();
  for (const user of snapshot.users) {
    if (!user.active || user.telegramId === null || !user.mailboxes.includes(email)) continue;
    if (byChat.has(user.telegramId)) continue;
    byChat.set(user.telegramId, {
      chatId: user.telegramId,
      kind: 'user',
      key: user.key,
      name: user.name,
      mediaMode: mailboxMode,
      tallImageMode: mailboxTallMode,
      threadId: null,
    });
  }
  for (const group of snapshot.groups) {
    if (!group.active || group.telegramId === null || !group.mailboxes.includes(email)) continue;
    if (byChat.has(group.telegramId)) continue;
    byChat.set(group.telegramId, {
      chatId: group.telegramId,
      kind: 'group',
      key: group.key,
      name: group.title,
      mediaMode: group.mediaMode ?? mailboxMode,
      tallImageMode: group.tallImageMode ?? mailboxTallMode,
      threadId: group.topicId,
    });
  }
  return [...byChat.values()];
}
