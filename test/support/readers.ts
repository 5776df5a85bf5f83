/**
 * People subscribed to a mailbox, as a test sets them up: a private chat in the fake Telegram and a
 * user with that Telegram id in the embedded directory.
 */
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import type { FakeTelegram } from '../fakes/telegram/fake-telegram.js';

export interface ReaderOptions {
  /** Chat id of the first reader; the others follow it. */
  firstChatId: number;
  /** Name prefix (default "Reader"). */
  name?: string;
}

/** Adds `count` subscribed readers of `email` and returns their chat ids. */
export async function subscribeReaders(
  telegram: FakeTelegram,
  directory: LocalDirectory,
  email: string,
  count: number,
  options: ReaderOptions,
): Promise<number[]> {
  const chats: number[] = [];
  for (let index = 0; index < count; index++) {
    const chatId = options.firstChatId + index;
    const name = `${options.name ?? 'Reader'} ${index}`;
    telegram.addPrivateChat({ id: chatId, first_name: name });
    await directory.addUser({
      name,
      phone: `+7999${String(chatId).padStart(7, '0').slice(-7)}`,
      mailboxes: [email],
      telegramId: chatId,
    });
    chats.push(chatId);
  }
  return chats;
}
