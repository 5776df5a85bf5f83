/**
 * The rule that keeps the admin's decision apart from what the bot observed: an entry receives
 * reports only when the admin has not paused it and the bot has not seen its chat go; a new
 * registration lifts the observation and never the pause. Plain values, then the store and the
 * wrapper over a source on a real SQLite file.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { recipientsFor } from '../../src/core/recipients.js';
import type {
  ChatGone,
  DirectorySnapshot,
  DirectorySource,
  GroupClaim,
  GroupEntry,
  UserEntry,
} from '../../src/directory/directory.js';
import { ObservedDirectory, overlayObservations } from '../../src/directory/observed-directory.js';
import { type Database, openDatabase } from '../../src/store/database.js';
import { GoneChats } from '../../src/store/gone-chats.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

const MAILBOX = {
  key: 'm',
  email: 'reports@example.com',
  host: 'h',
  port: 993,
  tls: 'tls' as const,
  login: 'l',
  password: 'p',
  passwordSource: 'directory',
  folder: 'INBOX',
  allowFrom: [],
  mediaMode: null,
  markSeen: null,
  active: true,
  addedAt: '2026-01-01T00:00:00.000Z',
};

function user(key: string, telegramId: number | null, active: boolean): UserEntry {
  return {
    key,
    name: key,
    phone: `+7999000000${key.length}`,
    telegramId,
    mailboxes: [MAILBOX.email],
    active,
  };
}

function group(key: string, telegramId: number | null, active: boolean): GroupEntry {
  return {
    key,
    title: key,
    telegramId,
    locked: telegramId !== null,
    topicId: null,
    mediaMode: null,
    mailboxes: [MAILBOX.email],
    active,
  };
}

function snapshotOf(users: UserEntry[], groups: GroupEntry[] = []): DirectorySnapshot {
  return { mailboxes: [MAILBOX], users, groups, loadedAt: '2026-01-01T00:00:00.000Z' };
}

const BLOCKED: ChatGone = { reason: 'blocked', since: '2026-02-01T00:00:00.000Z' };

describe('overlayObservations', () => {
  it('delivers only to entries neither paused by the admin nor seen gone by the bot', () => {
    const source = snapshotOf(
      [user('on', 1, true), user('paused', 2, false), user('blocked', 3, true), user('both', 4, false)],
      [group('removed', -10, true), group('fine', -11, true)],
    );
    const gone = new Map<number, ChatGone>([
      [3, BLOCKED],
      [4, BLOCKED],
      [-10, { reason: 'removed', since: BLOCKED.since }],
    ]);
    const seen = overlayObservations(source, (chatId) => gone.get(chatId));
    expect(seen.users).toEqual([
      { ...user('on', 1, true) },
      { ...user('paused', 2, false), pausedByAdmin: true },
      { ...user('blocked', 3, true), active: false, chatGone: BLOCKED },
      { ...user('both', 4, false), pausedByAdmin: true, chatGone: BLOCKED },
    ]);
    expect(seen.groups.map((entry) => [entry.key, entry.active, entry.chatGone?.reason])).toEqual([
      ['removed', false, 'removed'],
      ['fine', true, undefined],
    ]);
    expect(recipientsFor(MAILBOX, seen, 'photo').map((recipient) => recipient.chatId)).toEqual([1, -11]);
  });

  it('ties an observation to the chat, not to the row: an entry given another id is not affected', () => {
    const seen = overlayObservations(
      snapshotOf([user('moved', 5, true), user('unlinked', null, true)]),
      () => BLOCKED,
    );
    expect(seen.users[0]).toMatchObject({ active: false, chatGone: BLOCKED });
    expect(seen.users[1]).toMatchObject({ active: true });
    expect(seen.users[1]!.chatGone).toBeUndefined();
  });
});

/** A source that only keeps what it is told, like a directory's tables. */
class MemorySource implements DirectorySource {
  readonly kind = 'seatable' as const;
  private current: DirectorySnapshot;
  private readonly listeners = new Set<(snapshot: DirectorySnapshot) => void>();
  constructor(initial: DirectorySnapshot) {
    this.current = initial;
  }
  async start() {}
  async stop() {}
  async refresh() {}
  async refreshAfterMiss() {}
  async writesSettled() {}
  onWriteRejected() {
    return () => {};
  }
  snapshot() {
    return this.current;
  }
  onChange(listener: (snapshot: DirectorySnapshot) => void) {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
  set(next: DirectorySnapshot) {
    this.current = next;
    for (const listener of this.listeners) listener(next);
  }
  async setUserTelegramId(key: string, telegramId: number | null) {
    this.set({
      ...this.current,
      users: this.current.users.map((u) => (u.key === key ? { ...u, telegramId } : u)),
    });
  }
  async setUserActive(key: string, active: boolean) {
    this.set({
      ...this.current,
      users: this.current.users.map((u) => (u.key === key ? { ...u, active } : u)),
    });
  }
  async claimGroup(title: string, chatId: number): Promise<GroupClaim> {
    const found = this.current.groups.find((g) => g.title === title);
    if (!found) return { outcome: 'unknown-title' };
    const claimed = { ...found, telegramId: chatId, locked: true };
    this.set({
      ...this.current,
      groups: this.current.groups.map((g) => (g.key === found.key ? claimed : g)),
    });
    return { outcome: found.telegramId === chatId ? 'already-registered' : 'registered', group: claimed };
  }
  async moveGroupChat(oldChatId: number, newChatId: number) {
    this.set({
      ...this.current,
      groups: this.current.groups.map((g) =>
        g.telegramId === oldChatId ? { ...g, telegramId: newChatId } : g,
      ),
    });
  }
}

describe('ObservedDirectory', () => {
  let dataDir: string | null = null;
  let db: Database | null = null;

  afterEach(() => {
    db?.close();
    if (dataDir) removeDir(dataDir);
    db = null;
    dataDir = null;
  });

  function open(): SqliteDatabase {
    dataDir = tempDataDir();
    db = openDatabase(dataDir);
    return new SqliteDatabase(db);
  }

  it('records what the bot saw in its own file, lifts it on registration, and never touches the admin’s Active', async () => {
    const database = open();
    const source = new MemorySource(
      snapshotOf([user('ann', 1, true), user('cy', 3, false)], [group('Ops', -10, true)]),
    );
    const directory = new ObservedDirectory(source, new GoneChats(database));
    const changes: DirectorySnapshot[] = [];
    directory.onChange((snapshot) => changes.push(snapshot));

    await directory.deactivateChat(1, 'blocked');
    await directory.deactivateChat(3, 'blocked');
    await directory.deactivateChat(-10, 'removed');
    await directory.deactivateChat(999); // nobody's chat: nothing recorded
    expect(await new GoneChats(database).all()).toEqual(
      new Map([
        [1, expect.objectContaining({ reason: 'blocked' })],
        [3, expect.objectContaining({ reason: 'blocked' })],
        [-10, expect.objectContaining({ reason: 'removed' })],
      ]),
    );
    expect(changes.length).toBe(3);
    expect(source.snapshot().users.map((u) => u.active)).toEqual([true, false]);
    expect(directory.snapshot().users.map((u) => u.active)).toEqual([false, false]);

    await directory.setUserTelegramId('ann', 1);
    await directory.setUserTelegramId('cy', 3);
    expect(directory.snapshot().users[0]).toMatchObject({ active: true });
    // the block is lifted, the admin's pause is not
    expect(directory.snapshot().users[1]).toMatchObject({ active: false, pausedByAdmin: true });
    expect(directory.snapshot().users[1]!.chatGone).toBeUndefined();

    await directory.moveGroupChat(-10, -100_10);
    expect(directory.snapshot().groups[0]).toMatchObject({
      telegramId: -100_10,
      chatGone: { reason: 'removed' },
    });
    const claim = await directory.claimGroup('Ops', -100_10);
    expect(claim.outcome).toBe('already-registered');
    expect(claim.outcome !== 'unknown-title' && claim.group).toMatchObject({ active: true });
    expect(claim.outcome !== 'unknown-title' && claim.group.chatGone).toBeUndefined();
  });

  it('serves the same snapshot object while nothing changed, so every send does not read SQLite', async () => {
    const source = new MemorySource(snapshotOf([user('ann', 1, true)]));
    const directory = new ObservedDirectory(source, new GoneChats(open()));
    expect(directory.snapshot()).toBe(directory.snapshot());
    const before = directory.snapshot();
    await directory.deactivateChat(1, 'refused');
    expect(directory.snapshot()).not.toBe(before);
  });
});
