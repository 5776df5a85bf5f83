/** The rule before each send: the chat must still be an active recipient of the report's mailbox. */
import { describe, expect, it } from 'vitest';
import type { Directory, DirectorySnapshot, DirectorySource } from '../../src/directory/directory.js';
import { ObservedDirectory } from '../../src/directory/observed-directory.js';
import { openDatabase } from '../../src/store/database.js';
import { GoneChats } from '../../src/store/gone-chats.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { CurrentRecipients } from '../../src/telegram/current-recipients.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

const MAILBOX = 'reports@example.com';

function directoryOf(snapshot: DirectorySnapshot): {
  directory: Directory;
  set(next: DirectorySnapshot): void;
} {
  let current = snapshot;
  const listeners = new Set<(snapshot: DirectorySnapshot) => void>();
  const directory = {
    snapshot: () => current,
    onChange: (listener: (snapshot: DirectorySnapshot) => void) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  } as unknown as Directory;
  return {
    directory,
    set(next) {
      current = next;
      for (const listener of listeners) listener(next);
    },
  };
}

const user = (key: string, telegramId: number, overrides = {}) => ({
  key,
  name: `User ${key}`,
  phone: `+7999000000${key}`,
  telegramId,
  mailboxes: [MAILBOX],
  active: true,
  ...overrides,
});
const group = (key: string, telegramId: number) => ({
  key,
  title: `Group ${key}`,
  telegramId,
  locked: true,
  topicId: null,
  mediaMode: null,
  mailboxes: [MAILBOX],
  active: true,
});
const snapshot = (
  users: ReturnType<typeof user>[],
  groups: ReturnType<typeof group>[] = [],
): DirectorySnapshot => ({
  mailboxes: [],
  users,
  groups,
  loadedAt: new Date().toISOString(),
});
const delivery = (
  chatId: number,
  recipientKey: string,
  recipientKind: 'user' | 'group' | 'admin' = 'user',
) => ({
  chatId,
  recipientKey,
  recipientKind,
});

describe('CurrentRecipients', () => {
  it('lets a current recipient through and says why the others may not receive any more', () => {
    const { directory } = directoryOf(
      snapshot([
        user('1', 101),
        user('2', 102, { active: false }),
        user('3', 999),
        user('4', 104, { mailboxes: ['other@example.com'] }),
      ]),
    );
    const recipients = new CurrentRecipients(directory, 'photo');
    expect(recipients.refusal(delivery(101, '1'), 'Reports@Example.com')).toBeNull();
    expect(recipients.refusal(delivery(102, '2'), MAILBOX)).toContain('the user is inactive');
    expect(recipients.refusal(delivery(103, '3'), MAILBOX)).toContain("the user's Telegram ID changed");
    expect(recipients.refusal(delivery(104, '4'), MAILBOX)).toContain(
      'not subscribed to reports@example.com',
    );
    expect(recipients.refusal(delivery(105, '5'), MAILBOX)).toContain('the user was removed');
    // a chat the operator named in `resend --chat` is theirs to choose
    expect(recipients.refusal(delivery(106, '', 'admin'), MAILBOX)).toBeNull();
  });

  it('sees a change of the directory at once', () => {
    const world = directoryOf(snapshot([user('1', 101)]));
    const recipients = new CurrentRecipients(world.directory, 'photo');
    expect(recipients.refusal(delivery(101, '1'), MAILBOX)).toBeNull();
    world.set(snapshot([user('1', 101, { active: false })]));
    expect(recipients.refusal(delivery(101, '1'), MAILBOX)).not.toBeNull();
  });

  it('does not cancel on a copy that was changed in place without notice', () => {
    const users = [user('1', 101)];
    const world = directoryOf(snapshot(users));
    const recipients = new CurrentRecipients(world.directory, 'photo');
    expect(recipients.refusal(delivery(101, '1'), MAILBOX)).toBeNull();
    // a registration written into the same copy
    users.push(user('2', 102));
    expect(recipients.refusal(delivery(102, '2'), MAILBOX)).toBeNull();
  });

  it('follows a group to its supergroup while the directory still has the old id', () => {
    const { directory } = directoryOf(snapshot([], [group('g', -500)]));
    const recipients = new CurrentRecipients(directory, 'photo');
    const supergroup = -1_000_000_000_500;
    expect(recipients.refusal(delivery(supergroup, 'g', 'group'), MAILBOX)).toContain('Telegram ID changed');
    const migratedFrom = (chatId: number) => (chatId === supergroup ? -500 : undefined);
    expect(recipients.refusal(delivery(supergroup, 'g', 'group'), MAILBOX, migratedFrom)).toBeNull();
    // but not a user's chat that happens to share the old id
    const users = new CurrentRecipients(directoryOf(snapshot([user('1', -500)])).directory, 'photo');
    expect(users.refusal(delivery(supergroup, 'g', 'group'), MAILBOX, migratedFrom)).not.toBeNull();
  });

  it('sees a chat the bot saw go and an admin pause, through the directory the bot uses (gone_chats laid over the source)', async () => {
    const dataDir = tempDataDir();
    const db = openDatabase(dataDir);
    try {
      const source = directoryOf(snapshot([user('1', 101), user('2', 102)]));
      const observed = new ObservedDirectory(
        source.directory as unknown as DirectorySource,
        new GoneChats(new SqliteDatabase(db)),
      );
      const recipients = new CurrentRecipients(observed, 'photo');
      expect(recipients.refusal(delivery(101, '1'), MAILBOX)).toBeNull();
      expect(recipients.refusal(delivery(102, '2'), MAILBOX)).toBeNull();
      // recorded in the bot's file only: the source's snapshot object stays the same
      await observed.deactivateChat(101, 'blocked');
      expect(recipients.refusal(delivery(101, '1'), MAILBOX)).toContain('its chat is gone, blocked');
      // the admin unticks Active in the source
      source.set(snapshot([user('1', 101), user('2', 102, { active: false })]));
      expect(recipients.refusal(delivery(102, '2'), MAILBOX)).toContain('paused by the admin');
      expect(recipients.refusal(delivery(101, '1'), MAILBOX)).toContain('its chat is gone');
      recipients.stop();
    } finally {
      db.close();
      removeDir(dataDir);
    }
  });
  it('says whether a mailbox is paused, in the directory of now (its deliveries wait meanwhile)', () => {
    const mailbox = (active: boolean) => ({ email: 'Reports@Example.com', active }) as never;
    const { directory, set } = directoryOf({ ...snapshot([user('1', 101)]), mailboxes: [mailbox(false)] });
    const recipients = new CurrentRecipients(directory, 'photo');
    expect(recipients.mailboxPaused(MAILBOX)).toBe(true);
    // paused or not, the mailbox's recipients stay its recipients
    expect(recipients.refusal(delivery(101, '1'), MAILBOX)).toBeNull();
    set({ ...snapshot([user('1', 101)]), mailboxes: [mailbox(true)] });
    expect(recipients.mailboxPaused(MAILBOX)).toBe(false);
    // a mailbox the directory does not list is not paused (its deliveries are refused per chat instead)
    expect(recipients.mailboxPaused('other@example.com')).toBe(false);
    recipients.stop();
  });
});
