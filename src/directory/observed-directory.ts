/**
 * The directory the bot uses: its source (SeaTable or the embedded one: what the admin decided) with
 * what the bot itself observed laid over it (gone chats, kept in the bot's state). The two never
 * mix: the bot never writes the admin's Active, and the admin's pause is never lifted by anything
 * done in Telegram. A new registration (a shared phone, a promotion) lifts only what the bot saw.
 */
import type { GoneChats } from '../store/gone-chats.js';
import type {
  ChatGone,
  ChatGoneReason,
  Directory,
  DirectorySnapshot,
  DirectorySource,
  GroupClaim,
  GroupEntry,
  UserEntry,
  WriteRejection,
} from './directory.js';

/**
 * The snapshot as the bot acts on it: `active` is the source's Active (the admin's decision) and the
 * chat not seen gone; `pausedByAdmin` and `chatGone` say which of the two stops an entry.
 */
export function overlayObservations(
  source: DirectorySnapshot,
  goneChat: (chatId: number) => ChatGone | undefined,
): DirectorySnapshot {
  return {
    ...source,
    users: source.users.map((user) => observed(user, goneChat)),
    groups: source.groups.map((group) => observed(group, goneChat)),
  };
}

function observed<T extends UserEntry | GroupEntry>(
  entry: T,
  goneChat: (chatId: number) => ChatGone | undefined,
): T {
  const gone = entry.telegramId === null ? undefined : goneChat(entry.telegramId);
  const { pausedByAdmin: _paused, chatGone: _gone, ...plain } = entry;
  return {
    ...plain,
    active: entry.active && gone === undefined,
    ...(entry.active ? {} : { pausedByAdmin: true as const }),
    ...(gone === undefined ? {} : { chatGone: gone }),
  } as T;
}

export class ObservedDirectory implements Directory {
  private readonly listeners = new Set<(snapshot: DirectorySnapshot) => void>();
  private cached: { source: DirectorySnapshot; version: number; result: DirectorySnapshot } | null = null;
  /**
   * The gone chats as stored, read at start and kept in step with every change made here (only this
   * process, the leader, records them), so that `snapshot` needs no database read.
   */
  private goneChats = new Map<number, ChatGone>();
  /** Bumped by every change of {@link goneChats}, so the overlay is recomputed only then. */
  private goneVersion = 0;

  constructor(
    /** What the admin decided (SeaTable, the embedded directory). */
    readonly source: DirectorySource,
    private readonly gone: GoneChats,
  ) {
    source.onChange(() => this.emit());
  }

  get kind(): Directory['kind'] {
    return this.source.kind;
  }

  async start(): Promise<void> {
    await this.loadGoneChats();
    await this.source.start();
  }

  stop(): Promise<void> {
    return this.source.stop();
  }

  async refresh(): Promise<void> {
    await this.loadGoneChats();
    await this.source.refresh();
  }

  refreshAfterMiss(): Promise<void> {
    return this.source.refreshAfterMiss();
  }

  writesSettled(): Promise<void> {
    return this.source.writesSettled();
  }

  onWriteRejected(listener: (rejection: WriteRejection) => void): () => void {
    return this.source.onWriteRejected(listener);
  }

  snapshot(): DirectorySnapshot {
    const source = this.source.snapshot();
    const version = this.goneVersion;
    if (this.cached?.source === source && this.cached.version === version) return this.cached.result;
    const gone = this.goneChats;
    const result = overlayObservations(source, (chatId) => gone.get(chatId));
    this.cached = { source, version, result };
    return result;
  }

  onChange(listener: (snapshot: DirectorySnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Linking a Telegram account is a new registration by that account: what the bot saw of it is lifted. */
  async setUserTelegramId(userKey: string, telegramId: number | null): Promise<void> {
    await this.source.setUserTelegramId(userKey, telegramId);
    if (telegramId !== null && (await this.gone.clear(telegramId))) this.forget(telegramId);
  }

  setUserActive(userKey: string, active: boolean): Promise<void> {
    return this.source.setUserActive(userKey, active);
  }

  /** A group registered (again) by promotion is back: what the bot saw of it is lifted. */
  async claimGroup(title: string, chatId: number): Promise<GroupClaim> {
    const claim = await this.source.claimGroup(title, chatId);
    if (claim.outcome === 'unknown-title') return claim;
    if (
      (claim.outcome === 'registered' || claim.outcome === 'already-registered') &&
      (await this.gone.clear(chatId))
    ) {
      this.forget(chatId);
    }
    const group = this.snapshot().groups.find((entry) => entry.key === claim.group.key);
    return { ...claim, group: group ?? claim.group } as GroupClaim;
  }

  async moveGroupChat(oldChatId: number, newChatId: number): Promise<void> {
    await this.source.moveGroupChat(oldChatId, newChatId);
    if (await this.gone.move(oldChatId, newChatId)) {
      const seen = this.goneChats.get(oldChatId);
      this.goneChats.delete(oldChatId);
      if (seen) this.goneChats.set(newChatId, seen);
      this.goneChanged();
    }
  }

  /** Kept in the bot's file only: the admin's Active is not touched, and SeaTable need not be reachable. */
  async deactivateChat(chatId: number, reason: ChatGoneReason = 'refused'): Promise<void> {
    const { users, groups } = this.source.snapshot();
    const known = [...users, ...groups].some((entry) => entry.telegramId === chatId);
    if (known && (await this.gone.record(chatId, reason))) {
      // as stored: the first observation's time stays
      const seen = await this.gone.get(chatId);
      if (seen) this.goneChats.set(chatId, seen);
      this.goneChanged();
    }
  }

  private async loadGoneChats(): Promise<void> {
    const before = this.goneVersion;
    const stored = await this.gone.all();
    // a change made here while the read ran is newer than what it read
    if (this.goneVersion !== before) return;
    this.goneChats = stored;
    this.goneVersion++;
  }

  private forget(chatId: number): void {
    this.goneChats.delete(chatId);
    this.goneChanged();
  }

  private goneChanged(): void {
    this.goneVersion++;
    this.emit();
  }

  private emit(): void {
    const snapshot = this.snapshot();
    for (const listener of this.listeners) listener(snapshot);
  }
}
