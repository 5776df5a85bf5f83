/**
 * The directory: which mailboxes the bot listens to, and which users and groups receive what. Two
 * implementations sit behind this interface: the embedded SQLite one (local/) and SeaTable (seatable/).
 * The rest of the bot reads an in-memory snapshot, so delivery never waits on the directory.
 */
import type { MediaMode, TallImageMode } from '../core/message-plan.js';
import type { SenderAuthPolicy } from '../core/sender-auth.js';

/** How the IMAP connection is secured: implicit TLS (993), STARTTLS required (143), or none (loopback only). */
export type TlsMode = 'tls' | 'starttls' | 'none';

/**
 * How a mailbox logs in with OAuth2 (SASL XOAUTH2/OAUTHBEARER) instead of a password: the client
 * credentials grant (Microsoft 365 app-only access) or, when a refresh token is given, the
 * refresh-token grant (Google, Yandex, others). Secrets are resolved values; their `…Source` fields
 * name where they come from (`env:VAR`) and are what messages show.
 */
export interface OAuth2Settings {
  /** The token endpoint, e.g. `https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token`. */
  tokenUrl: string;
  clientId: string;
  /** The client secret, resolved; null when its variable is not set. */
  clientSecret: string | null;
  /** Where the client secret comes from (`env:VAR`). */
  clientSecretSource: string;
  /**
   * The scope asked for; null: the client credentials grant asks for
   * {@link DEFAULT_OAUTH2_SCOPE}, the refresh-token grant sends none (the grant's own scope).
   */
  scope: string | null;
  /** The refresh token, resolved; null when its variable is not set (or no refresh token is used). */
  refreshToken: string | null;
  /** Where the refresh token comes from (`env:VAR`); null: the client credentials grant. */
  refreshTokenSource: string | null;
}

/** The scope of Microsoft 365 app-only IMAP access, the default of the client credentials grant. */
export const DEFAULT_OAUTH2_SCOPE = 'https://outlook.office365.com/.default';

export interface MailboxEntry {
  /** Stable identity inside its directory (local row id, SeaTable row id). */
  key: string;
  /** The mailbox address, lower-cased: how users and groups refer to it. */
  email: string;
  /** The IMAP server; '' for a webhook-only mailbox (see {@link isWebhookOnly}). */
  host: string;
  port: number;
  tls: TlsMode;
  login: string;
  /** The IMAP password, resolved (from the directory or from the named environment variable); null when missing. */
  password: string | null;
  /** Where the password comes from, for messages: 'directory' or 'env:VAR'. Never the password itself. */
  passwordSource: string;
  /** Set: the mailbox logs in with an OAuth2 access token instead of the password. Absent or null: password. */
  oauth2?: OAuth2Settings | null;
  folder: string;
  /** Allowed senders: addresses or `@domain`; empty means anyone. */
  allowFrom: string[];
  /** Overrides MEDIA_MODE for this mailbox's reports. */
  mediaMode: MediaMode | null;
  /** Overrides TALL_IMAGE_MODE for this mailbox's reports; null or absent: the setting. */
  tallImageMode?: TallImageMode | null;
  /** Overrides MARK_SEEN for this mailbox. */
  markSeen: boolean | null;
  /** Overrides SENDER_AUTH (and SENDER_AUTHSERV_ID) for this mailbox; null or absent: the global rule. */
  senderAuth?: SenderAuthPolicy | null;
  active: boolean;
  /** When the mailbox was added: mail that arrived before this is not forwarded on the first connect. */
  addedAt: string;
}

/**
 * A mailbox without IMAP settings (`mailbox add --webhook-only`, a SeaTable row with an empty Host):
 * its reports come only through Superset's webhook. No listener runs for it and `check` does not log in.
 */
export function isWebhookOnly(mailbox: Pick<MailboxEntry, 'host'>): boolean {
  return mailbox.host.trim() === '';
}

export interface UserEntry {
  key: string;
  name: string;
  /** E.164 when it could be normalised, otherwise as written. */
  phone: string;
  telegramId: number | null;
  /** Mailbox addresses (lower-cased) this user is subscribed to. */
  mailboxes: string[];
  /**
   * Whether the user receives reports now: the admin has not paused them and the bot has not seen
   * their chat go (see {@link pausedByAdmin} and {@link chatGone}).
   */
  active: boolean;
  /** Set when the admin paused the entry (Active unticked, `user pause`): only the admin lifts it. */
  pausedByAdmin?: true;
  /** Set when the bot saw the entry's chat go: a new /start (users) or promotion (groups) lifts it. */
  chatGone?: ChatGone;
}

/** What the bot observed: the chat of a registered user or group is no longer reachable. */
export interface ChatGone {
  reason: ChatGoneReason;
  /** When the bot saw it (ISO 8601). */
  since: string;
}

/**
 * Why a chat is gone: the user blocked the bot, the bot was removed from the group, or Telegram
 * refused a delivery for good (403: blocked, kicked, deactivated account).
 */
export type ChatGoneReason = 'blocked' | 'removed' | 'refused';

export interface GroupEntry {
  key: string;
  /** The Telegram group title the group registers with. */
  title: string;
  telegramId: number | null;
  /** Once locked, the group's chat id is never taken over by another chat with the same title. */
  locked: boolean;
  /** Forum topic (message_thread_id) that receives the reports, if any. */
  topicId: number | null;
  mediaMode: MediaMode | null;
  /** Overrides the mailbox's TALL_IMAGE_MODE for this group; null or absent: the mailbox's. */
  tallImageMode?: TallImageMode | null;
  mailboxes: string[];
  /** Whether the group receives reports now: not paused by the admin, and the bot still in it. */
  active: boolean;
  /** Set when the admin paused the group (Active unticked, `group pause`): only the admin lifts it. */
  pausedByAdmin?: true;
  /** Set when the bot saw the group go (removed, refused): a new promotion lifts it. */
  chatGone?: ChatGone;
}

export interface DirectorySnapshot {
  mailboxes: MailboxEntry[];
  users: UserEntry[];
  groups: GroupEntry[];
  /** When this copy was read from its source. */
  loadedAt: string;
}

/** The outcome of a group registration attempt. */
export type GroupClaim =
  | { outcome: 'registered'; group: GroupEntry }
  | { outcome: 'already-registered'; group: GroupEntry }
  | { outcome: 'locked-to-another-chat'; group: GroupEntry }
  | { outcome: 'unknown-title' };

/**
 * A change the source refused after the bot had already confirmed it from its copy: the group's row
 * turned out to be locked to another chat (`lockedTo`), or to be gone (`lockedTo` null). The copy
 * is already put back when listeners hear of it.
 */
export interface WriteRejection {
  kind: 'group-claim';
  chatId: number;
  title: string;
  lockedTo: number | null;
}

export interface Directory {
  /** 'local' or 'seatable', for logs and `check`. */
  readonly kind: 'local' | 'seatable';
  /** Loads the directory; rejects only when no usable copy exists at all. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The current copy (the last good one when the source is unreachable). */
  snapshot(): DirectorySnapshot;
  /** Re-reads the source now. */
  refresh(): Promise<void>;
  /** Called after every change of the snapshot. Returns an unsubscribe function. */
  onChange(listener: (snapshot: DirectorySnapshot) => void): () => void;

  /**
   * A lookup in the copy found nothing (an unknown phone or group title): re-reads the source, at
   * most once per refresh interval in all (not per person), so strangers cannot spend the source's
   * request quota. Rejects with DirectoryUnavailableError when the source cannot be read (also when
   * the last such read failed and the next one is not due yet).
   */
  refreshAfterMiss(): Promise<void>;

  // Writes return as soon as the copy shows the change, without waiting on a remote source: the
  // SeaTable directory keeps the change in a durable queue and retries it until SeaTable takes it.

  /** Writes a user's Telegram id (null clears it). */
  setUserTelegramId(userKey: string, telegramId: number | null): Promise<void>;
  /** Marks a user active or inactive. */
  setUserActive(userKey: string, active: boolean): Promise<void>;
  /**
   * Registers a chat as the group with this title, unless the group is locked to another chat. The
   * SeaTable directory waits a few seconds for SeaTable's conditional write; when SeaTable cannot
   * answer by then, the copy decides and a later refusal comes through {@link onWriteRejected}.
   */
  claimGroup(title: string, chatId: number): Promise<GroupClaim>;
  /** A group became a supergroup: its id changes, its lock stays. */
  moveGroupChat(oldChatId: number, newChatId: number): Promise<void>;
  /**
   * Records that the chat of the users or groups with this id is gone (blocked, kicked, deleted):
   * what the bot observed, kept apart from the admin's Active, and lifted by a new registration.
   */
  deactivateChat(chatId: number, reason?: ChatGoneReason): Promise<void>;
  /** Resolves once every change made so far has reached the source (the local directory: at once). */
  writesSettled(): Promise<void>;
  /**
   * Called when the source refused a change already confirmed from the copy (see WriteRejection).
   * Rejections that happen before anyone listens are kept and handed to the first listener.
   * Returns an unsubscribe function.
   */
  onWriteRejected(listener: (rejection: WriteRejection) => void): () => void;
}

/**
 * A directory's source: what the admin decided. `active` there is the admin's Active alone; the
 * bot's own observations are laid over it by ObservedDirectory (observed-directory.ts).
 */
export type DirectorySource = Omit<Directory, 'deactivateChat'>;

/** The directory is unreachable or refused a read/write; the message says what to do. */
export class DirectoryUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'DirectoryUnavailableError';
  }
}
