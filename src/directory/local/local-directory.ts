/**
 * The embedded directory: mailboxes, users and groups in the bot's own state (the SQLite file, or
 * PostgreSQL with DATABASE_URL), managed with the CLI (`mailbox add`, `user add`, `group add`, ...).
 * The running bot notices changes made by a CLI command in another process within a couple of
 * seconds, so a new mailbox starts listening without a restart: on SQLite by its `data_version`
 * (which also sees edits made with the sqlite3 shell), elsewhere by the `directory_version` counter
 * that every edit bumps in its own transaction (one one-row read per poll instead of re-reading
 * every table of the directory every two seconds).
 */
import type { CountryCode } from 'libphonenumber-js';
import { normalizeSenderPattern } from '../../core/allowed-senders.js';
import type { MediaMode, TallImageMode } from '../../core/message-plan.js';
import { normalizePhone } from '../../core/phone.js';
import { formatSenderAuth, parseSenderAuth } from '../../core/sender-auth.js';
import { GoneChats } from '../../store/gone-chats.js';
import { nowIso, type SqlDatabase, type SqlValue } from '../../store/sql-database.js';
import { SqliteDatabase } from '../../store/sqlite-database.js';
import type {
  ChatGoneReason,
  Directory,
  DirectorySnapshot,
  GroupClaim,
  GroupEntry,
  MailboxEntry,
  TlsMode,
  UserEntry,
  WriteRejection,
} from '../directory.js';
import {
  OAUTH2_OPTION_NAMES,
  type OAuth2Input,
  oauth2InputProblem,
  resolveOAuth2,
} from '../oauth2-settings.js';
import { overlayObservations } from '../observed-directory.js';

/** A problem with a directory command: a duplicate, an unknown mailbox, a bad value. */
export class DirectoryInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DirectoryInputError';
  }
}

export interface NewMailbox {
  email: string;
  /** The IMAP server; leave out (or '') with {@link webhookOnly}. */
  host?: string;
  /**
   * No IMAP settings: the mailbox's reports come only through Superset's webhook. The IMAP options,
   * allowed senders and sender authentication (the URL's token proves the sender) do not apply.
   */
  webhookOnly?: boolean;
  port?: number;
  tls?: TlsMode;
  login?: string;
  password?: string;
  passwordEnv?: string;
  folder?: string;
  allowFrom?: string[];
  mediaMode?: MediaMode;
  /** Overrides TALL_IMAGE_MODE for this mailbox. */
  tallImageMode?: TallImageMode;
  markSeen?: boolean;
  /** The mailbox's own sender-authentication rule (see core/sender-auth.ts); absent: SENDER_AUTH. */
  senderAuth?: string;
  /** Log in with OAuth2 instead of a password (then give neither password nor passwordEnv). */
  oauth2?: OAuth2Input;
}

export interface NewUser {
  name: string;
  phone: string;
  mailboxes: string[];
  telegramId?: number;
}

export interface NewGroup {
  title: string;
  mailboxes: string[];
  topicId?: number;
  telegramId?: number;
  mediaMode?: MediaMode;
  /** Overrides the mailbox's TALL_IMAGE_MODE for this group. */
  tallImageMode?: TallImageMode;
}

/** Changes to a mailbox (`mailbox edit`); what is left out stays. */
export interface MailboxChanges {
  host?: string;
  port?: number;
  tls?: TlsMode;
  login?: string;
  /** Stores the password in the database (drops a `passwordEnv`). */
  password?: string;
  /** Reads the password from this variable (drops a stored password). */
  passwordEnv?: string;
  /** Switches to OAuth2 (drops the password); a password or passwordEnv switches back. */
  oauth2?: OAuth2Input;
  folder?: string;
  /** Replaces the allowed senders; an empty list means anyone. */
  allowFrom?: string[];
  /** null goes back to MEDIA_MODE. */
  mediaMode?: MediaMode | null;
  /** null goes back to TALL_IMAGE_MODE. */
  tallImageMode?: TallImageMode | null;
  /** null goes back to MARK_SEEN. */
  markSeen?: boolean | null;
  /** The mailbox's sender-authentication rule (see core/sender-auth.ts); null goes back to SENDER_AUTH. */
  senderAuth?: string | null;
}

/** Changes to a user (`user edit`); what is left out stays. */
export interface UserChanges {
  name?: string;
  phone?: string;
  /** Replaces the subscriptions. */
  mailboxes?: string[];
  /** null unlinks the Telegram account (the user registers again with /start). */
  telegramId?: number | null;
}

/** Changes to a group (`group edit`); what is left out stays. */
export interface GroupChanges {
  title?: string;
  /** Replaces the subscriptions. */
  mailboxes?: string[];
  /** null: the whole group, no topic. */
  topicId?: number | null;
  /** A number locks the group to that chat; null clears id and lock, so the group registers again. */
  telegramId?: number | null;
  /** null goes back to the mailbox's or MEDIA_MODE. */
  mediaMode?: MediaMode | null;
  /** null goes back to the mailbox's or TALL_IMAGE_MODE. */
  tallImageMode?: TallImageMode | null;
}

export interface LocalDirectoryOptions {
  /** Region for phone numbers written without a country code. */
  phoneRegion: CountryCode;
  /** Reads environment variables named by `--password-env` (default: process.env). */
  env?: Record<string, string | undefined>;
  /** How often to look for changes made by another process, in ms (default 2000; 0 disables). */
  pollIntervalMs?: number;
}

interface MailboxRow {
  id: number;
  email: string;
  host: string;
  port: number;
  tls: TlsMode;
  login: string;
  password: string | null;
  password_env: string | null;
  folder: string;
  allow_from: string;
  media_mode: MediaMode | null;
  tall_image_mode: TallImageMode | null;
  mark_seen: number | null;
  sender_auth: string | null;
  oauth2_token_url: string | null;
  oauth2_client_id: string | null;
  oauth2_client_secret_env: string | null;
  oauth2_scope: string | null;
  oauth2_refresh_token_env: string | null;
  active: number;
  created_at: string;
}

const EMAIL_PATTERN = /^[^@\s]+@[^@\s]+$/;

const OAUTH2_COLUMNS = [
  'oauth2_token_url',
  'oauth2_client_id',
  'oauth2_client_secret_env',
  'oauth2_scope',
  'oauth2_refresh_token_env',
] as const;

/**
 * `active` in the tables is the admin's decision (`pause`/`resume`); what the bot observed (gone
 * chats) lives in the same file and is laid over it on every read, as for any directory.
 */
export class LocalDirectory implements Directory {
  readonly kind = 'local' as const;
  private current: DirectorySnapshot = { mailboxes: [], users: [], groups: [], loadedAt: nowIso() };
  private readonly listeners = new Set<(snapshot: DirectorySnapshot) => void>();
  private timer: NodeJS.Timeout | null = null;
  /** The change counter the current copy was read at (`data_version` on SQLite). */
  private dataVersion = -1;
  private fingerprint = '';
  /** Reloads started, and the latest one whose result was adopted: an older read never wins. */
  private reloadsStarted = 0;
  private reloadAdopted = 0;
  private readonly gone: GoneChats;
  /** Inside {@link batch}: the directory is read once at the end, not after every write. */
  private reloadDeferred = false;

  constructor(
    private readonly db: SqlDatabase,
    private readonly options: LocalDirectoryOptions,
  ) {
    this.gone = new GoneChats(db);
  }

  async start(): Promise<void> {
    await this.reload();
    const interval = this.options.pollIntervalMs ?? 2000;
    if (interval > 0) {
      this.timer = setInterval(() => {
        // a failed look (the database away a moment) is simply repeated at the next tick
        this.reloadIfChanged().catch(() => undefined);
      }, interval);
      this.timer.unref();
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  snapshot(): DirectorySnapshot {
    return this.current;
  }

  async refresh(): Promise<void> {
    await this.reload();
  }

  onChange(listener: (snapshot: DirectorySnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reading the embedded directory costs nothing: it is simply read again. */
  async refreshAfterMiss(): Promise<void> {
    await this.reload();
  }

  /** Every write lands in the database before its method returns. */
  async writesSettled(): Promise<void> {}

  /** Writes are synchronous and checked before they are confirmed: nothing is ever refused later. */
  onWriteRejected(_listener: (rejection: WriteRejection) => void): () => void {
    return () => {};
  }

  // ---- reads -------------------------------------------------------------------------------------

  private async reloadIfChanged(): Promise<void> {
    if ((await this.changeCounter()) !== this.dataVersion) await this.reload();
  }

  /**
   * A number that changes with every committed change of the directory: SQLite's `data_version`
   * (changes by other connections; this one's own are followed by a reload anyway), or else the
   * `directory_version` row that every edit bumps.
   */
  private async changeCounter(): Promise<number> {
    if (this.db instanceof SqliteDatabase) {
      return this.db.connection.pragma('data_version', { simple: true }) as number;
    }
    const row = await this.db.get<{ version: number | string }>(
      'SELECT version FROM directory_version WHERE id = 1',
    );
    return Number(row?.version ?? 0);
  }

  private async reload(): Promise<void> {
    if (this.reloadDeferred) return;
    const started = ++this.reloadsStarted;
    // the counter before the tables: a change committed in between is seen again at the next poll
    const version = await this.changeCounter();
    const next = await this.read();
    // a read started later has already been adopted: it saw at least what this one saw
    if (started < this.reloadAdopted) return;
    this.reloadAdopted = started;
    this.dataVersion = version;
    const fingerprint = JSON.stringify({ ...next, loadedAt: '' });
    this.current = next;
    if (fingerprint === this.fingerprint) return;
    this.fingerprint = fingerprint;
    for (const listener of this.listeners) listener(next);
  }

  /**
   * Runs an edit of the directory in one transaction that also bumps `directory_version`, so other
   * processes on an engine without `data_version` see it.
   */
  private edit<T>(work: () => Promise<T>): Promise<T> {
    return this.db.transaction(async () => {
      const result = await work();
      // an upsert: the row may be missing (a schema emptied by hand keeps working)
      await this.db.run(
        `INSERT INTO directory_version (id, version) VALUES (1, 1)
         ON CONFLICT (id) DO UPDATE SET version = directory_version.version + 1`,
      );
      return result;
    });
  }

  private async read(): Promise<DirectorySnapshot> {
    const env = this.options.env ?? process.env;
    const mailboxes = (await this.db.all<MailboxRow>('SELECT * FROM mailboxes ORDER BY id')).map(
      (row): MailboxEntry => ({
        key: String(row.id),
        email: row.email.toLowerCase(),
        host: row.host,
        port: row.port,
        tls: row.tls,
        login: row.login,
        password: row.password_env ? (env[row.password_env] ?? null) : row.password,
        passwordSource: row.password_env ? `env:${row.password_env}` : 'directory',
        // present only on OAuth2 mailboxes
        ...(row.oauth2_token_url && row.oauth2_client_id && row.oauth2_client_secret_env
          ? {
              oauth2: resolveOAuth2(
                {
                  tokenUrl: row.oauth2_token_url,
                  clientId: row.oauth2_client_id,
                  clientSecretEnv: row.oauth2_client_secret_env,
                  scope: row.oauth2_scope,
                  refreshTokenEnv: row.oauth2_refresh_token_env,
                },
                env,
              ),
            }
          : {}),
        folder: row.folder,
        allowFrom: JSON.parse(row.allow_from) as string[],
        mediaMode: row.media_mode,
        ...(row.tall_image_mode ? { tallImageMode: row.tall_image_mode } : {}),
        markSeen: row.mark_seen === null ? null : row.mark_seen === 1,
        senderAuth: row.sender_auth === null ? null : parseSenderAuth(row.sender_auth),
        active: row.active === 1,
        addedAt: row.created_at,
      }),
    );
    const subscriptions = async (
      table: 'user_mailboxes' | 'group_mailboxes',
      column: 'user_id' | 'group_id',
    ) => {
      const map = new Map<number, string[]>();
      const rows = await this.db.all<{ owner: number; email: string }>(
        `SELECT s.${column} AS owner, m.email FROM ${table} s JOIN mailboxes m ON m.id = s.mailbox_id ORDER BY m.email`,
      );
      for (const row of rows) map.set(row.owner, [...(map.get(row.owner) ?? []), row.email.toLowerCase()]);
      return map;
    };
    const userMailboxes = await subscriptions('user_mailboxes', 'user_id');
    const groupMailboxes = await subscriptions('group_mailboxes', 'group_id');
    const users = (
      await this.db.all<{
        id: number;
        name: string;
        phone: string;
        telegram_id: number | string | null;
        active: number;
      }>('SELECT * FROM users ORDER BY id')
    ).map(
      (row): UserEntry => ({
        key: String(row.id),
        name: row.name,
        phone: row.phone,
        telegramId: chatIdOf(row.telegram_id),
        mailboxes: userMailboxes.get(row.id) ?? [],
        active: row.active === 1,
      }),
    );
    const groups = (
      await this.db.all<{
        id: number;
        title: string;
        telegram_id: number | string | null;
        locked: number;
        topic_id: number | null;
        media_mode: MediaMode | null;
        tall_image_mode: TallImageMode | null;
        active: number;
      }>('SELECT * FROM groups ORDER BY id')
    ).map(
      (row): GroupEntry => ({
        key: String(row.id),
        title: row.title,
        telegramId: chatIdOf(row.telegram_id),
        locked: row.locked === 1,
        topicId: row.topic_id,
        mediaMode: row.media_mode,
        ...(row.tall_image_mode ? { tallImageMode: row.tall_image_mode } : {}),
        mailboxes: groupMailboxes.get(row.id) ?? [],
        active: row.active === 1,
      }),
    );
    const gone = await this.gone.all();
    return overlayObservations({ mailboxes, users, groups, loadedAt: nowIso() }, (chatId) =>
      gone.get(chatId),
    );
  }

  // ---- writes from the bot (registration, delivery feedback) ------------------------------------

  async setUserTelegramId(userKey: string, telegramId: number | null): Promise<void> {
    await this.edit(async () => {
      // the latest verified owner of a Telegram account wins: no other user keeps this id
      if (telegramId !== null) {
        await this.db.run(
          'UPDATE users SET telegram_id = NULL, updated_at = ? WHERE telegram_id = ? AND id != ?',
          [nowIso(), telegramId, Number(userKey)],
        );
      }
      await this.db.run('UPDATE users SET telegram_id = ?, updated_at = ? WHERE id = ?', [
        telegramId,
        nowIso(),
        Number(userKey),
      ]);
      // a new registration by this account: what the bot saw of it is lifted (never the admin's pause)
      if (telegramId !== null) await this.gone.clear(telegramId);
    });
    await this.reload();
  }

  async setUserActive(userKey: string, active: boolean): Promise<void> {
    await this.edit(() =>
      this.db.run('UPDATE users SET active = ?, updated_at = ? WHERE id = ?', [
        active ? 1 : 0,
        nowIso(),
        Number(userKey),
      ]),
    );
    await this.reload();
  }

  /** The title matches exactly after trimming (case counts), like the SeaTable directory. */
  async claimGroup(title: string, chatId: number): Promise<GroupClaim> {
    const decision = await this.edit(
      async (): Promise<{ id: number; outcome: GroupClaim['outcome'] } | null> => {
        const row = await this.db.get<{ id: number; telegram_id: number | string | null; locked: number }>(
          'SELECT id, telegram_id, locked FROM groups WHERE title = ?',
          [title.trim()],
        );
        if (!row) return null;
        const lockedTo = chatIdOf(row.telegram_id);
        if (row.locked === 1 && lockedTo !== null && lockedTo !== chatId) {
          return { id: row.id, outcome: 'locked-to-another-chat' };
        }
        const already = row.locked === 1 && lockedTo === chatId;
        await this.db.run('UPDATE groups SET telegram_id = ?, locked = 1, updated_at = ? WHERE id = ?', [
          chatId,
          nowIso(),
          row.id,
        ]);
        await this.gone.clear(chatId);
        return { id: row.id, outcome: already ? 'already-registered' : 'registered' };
      },
    );
    if (!decision) return { outcome: 'unknown-title' };
    // one read of the directory, which the reload does anyway
    await this.reload();
    const group = this.current.groups.find((entry) => entry.key === String(decision.id));
    if (!group) throw new Error(`group ${decision.id} vanished`);
    return { outcome: decision.outcome, group } as GroupClaim;
  }

  async moveGroupChat(oldChatId: number, newChatId: number): Promise<void> {
    await this.edit(async () => {
      await this.db.run('UPDATE groups SET telegram_id = ?, updated_at = ? WHERE telegram_id = ?', [
        newChatId,
        nowIso(),
        oldChatId,
      ]);
      await this.gone.move(oldChatId, newChatId);
    });
    await this.reload();
  }

  /** Recorded apart from `active`, which stays the admin's. */
  async deactivateChat(chatId: number, reason: ChatGoneReason = 'refused'): Promise<void> {
    const known = [...this.current.users, ...this.current.groups].some(
      (entry) => entry.telegramId === chatId,
    );
    if (known) await this.edit(() => this.gone.record(chatId, reason));
    await this.reload();
  }

  // ---- administration (CLI) ----------------------------------------------------------------------

  /**
   * Runs many administrative writes (an import) and reads the directory once at the end instead of
   * after each, which would make a large import quadratic. Inside, the entries the write methods
   * return are not read back (they are undefined): use only their effect.
   */
  async batch<T>(writes: () => Promise<T>): Promise<T> {
    this.reloadDeferred = true;
    try {
      return await writes();
    } finally {
      this.reloadDeferred = false;
      await this.reload();
    }
  }

  async addMailbox(input: NewMailbox): Promise<MailboxEntry> {
    const email = input.email.trim().toLowerCase();
    if (!EMAIL_PATTERN.test(email))
      throw new DirectoryInputError(`"${input.email}" is not an e-mail address`);
    const host = input.host?.trim() ?? '';
    if (input.webhookOnly) {
      const imapOnly = (
        [
          ['--host', host || undefined],
          ['--port', input.port],
          ['--login', input.login],
          ['--password', input.password],
          ['--password-env', input.passwordEnv],
          ['--folder', input.folder],
          ['--allow-from', input.allowFrom?.length ? input.allowFrom : undefined],
          ['--mark-seen', input.markSeen],
          ['--sender-auth', input.senderAuth],
          ['--oauth2-*', input.oauth2],
        ] as const
      )
        .filter(([, value]) => value !== undefined)
        .map(([flag]) => flag);
      if (imapOnly.length > 0)
        throw new DirectoryInputError(
          `${imapOnly.join(', ')}: not for a --webhook-only mailbox (no IMAP; the webhook URL's token proves the sender)`,
        );
    } else if (!host) throw new DirectoryInputError('--host is required (or --webhook-only)');
    if (input.webhookOnly) {
      // no login at all
    } else if (input.oauth2) {
      if (input.password !== undefined || input.passwordEnv !== undefined) {
        throw new DirectoryInputError('an OAuth2 mailbox takes no --password or --password-env');
      }
      const problem = oauth2InputProblem(input.oauth2, OAUTH2_OPTION_NAMES);
      if (problem) throw new DirectoryInputError(problem);
    } else if ((input.password === undefined) === (input.passwordEnv === undefined)) {
      throw new DirectoryInputError(
        'give exactly one of --password or --password-env (or the --oauth2-* options)',
      );
    }
    if (input.passwordEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(input.passwordEnv)) {
      throw new DirectoryInputError(
        `--password-env: "${input.passwordEnv}" is not an environment variable name`,
      );
    }
    const allowFrom = (input.allowFrom ?? []).map((pattern) => {
      const normalized = normalizeSenderPattern(pattern);
      if (!normalized) {
        throw new DirectoryInputError(`--allow-from: "${pattern}" is neither an address nor @domain`);
      }
      return normalized;
    });
    const senderAuth = input.senderAuth === undefined ? null : parseSenderAuth(input.senderAuth);
    if (input.senderAuth !== undefined && !senderAuth) {
      throw new DirectoryInputError(
        `--sender-auth: "${input.senderAuth}" is not off, dkim, authentication-results or authentication-results:<authserv-id>`,
      );
    }
    const tls = input.tls ?? 'tls';
    const port = input.port ?? (tls === 'tls' ? 993 : 143);
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new DirectoryInputError(`--port: ${port} is not a TCP port`);
    const id = await this.edit(async () => {
      if (await this.db.get('SELECT 1 AS found FROM mailboxes WHERE email = ?', [email])) {
        throw new DirectoryInputError(`mailbox ${email} already exists (change it with: mailbox edit)`);
      }
      const now = nowIso();
      const row = await this.db.get<{ id: number }>(
        `INSERT INTO mailboxes (email, host, port, tls, login, password, password_env, folder, allow_from, media_mode, tall_image_mode, mark_seen, sender_auth, created_at, updated_at,
           oauth2_token_url, oauth2_client_id, oauth2_client_secret_env, oauth2_scope, oauth2_refresh_token_env)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         RETURNING id`,
        [
          email,
          host,
          port,
          tls,
          input.login?.trim() || email,
          input.password ?? null,
          input.passwordEnv ?? null,
          input.folder?.trim() || 'INBOX',
          JSON.stringify(allowFrom),
          input.mediaMode ?? null,
          input.tallImageMode ?? null,
          input.markSeen === undefined ? null : input.markSeen ? 1 : 0,
          senderAuth ? formatSenderAuth(senderAuth) : null,
          now,
          now,
          input.oauth2?.tokenUrl.trim() ?? null,
          input.oauth2?.clientId.trim() ?? null,
          input.oauth2?.clientSecretEnv ?? null,
          input.oauth2?.scope?.trim() || null,
          input.oauth2?.refreshTokenEnv ?? null,
        ],
      );
      return row!.id;
    });
    await this.reload();
    return this.current.mailboxes.find((mailbox) => mailbox.key === String(id))!;
  }

  async removeMailbox(email: string): Promise<void> {
    const result = await this.edit(() =>
      this.db.run('DELETE FROM mailboxes WHERE email = ?', [email.trim().toLowerCase()]),
    );
    if (result.changes === 0) throw new DirectoryInputError(`no mailbox ${email}`);
    await this.reload();
  }

  async addUser(input: NewUser): Promise<UserEntry> {
    const name = input.name.trim();
    if (!name) throw new DirectoryInputError('--name must not be empty');
    const phone = normalizePhone(input.phone, this.options.phoneRegion);
    if (!phone) throw new DirectoryInputError(`--phone: "${input.phone}" is not a valid phone number`);
    const id = await this.edit(async () => {
      if (await this.db.get('SELECT 1 AS found FROM users WHERE phone = ?', [phone])) {
        throw new DirectoryInputError(`a user with phone ${phone} already exists`);
      }
      const mailboxIds = await this.mailboxIds(input.mailboxes);
      const now = nowIso();
      const row = await this.db.get<{ id: number }>(
        'INSERT INTO users (name, phone, telegram_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?) RETURNING id',
        [name, phone, input.telegramId ?? null, now, now],
      );
      for (const mailboxId of mailboxIds) {
        await this.db.run('INSERT INTO user_mailboxes (user_id, mailbox_id) VALUES (?, ?)', [
          row!.id,
          mailboxId,
        ]);
      }
      return row!.id;
    });
    await this.reload();
    return this.current.users.find((user) => user.key === String(id))!;
  }

  /** Removes a user found by phone number or by Telegram id. */
  async removeUser(phoneOrTelegramId: string): Promise<void> {
    await this.edit(async () =>
      this.db.run('DELETE FROM users WHERE id = ?', [await this.userRowId(phoneOrTelegramId)]),
    );
    await this.reload();
  }

  /** The row of the user with this phone number, or else with this Telegram id. */
  private async userRowId(phoneOrTelegramId: string): Promise<number> {
    const phone = normalizePhone(phoneOrTelegramId, this.options.phoneRegion);
    const byPhone = phone
      ? await this.db.get<{ id: number }>('SELECT id FROM users WHERE phone = ?', [phone])
      : undefined;
    const row =
      byPhone ??
      (/^-?\d+$/.test(phoneOrTelegramId.trim())
        ? await this.db.get<{ id: number }>('SELECT id FROM users WHERE telegram_id = ?', [
            Number(phoneOrTelegramId),
          ])
        : undefined);
    if (!row) throw new DirectoryInputError(`no user with phone or Telegram id ${phoneOrTelegramId}`);
    return row.id;
  }

  private async groupRowId(title: string): Promise<number> {
    const row = await this.db.get<{ id: number }>('SELECT id FROM groups WHERE title = ?', [title.trim()]);
    if (!row) throw new DirectoryInputError(`no group titled "${title}"`);
    return row.id;
  }

  private async mailboxRowId(email: string): Promise<number> {
    const row = await this.db.get<{ id: number }>('SELECT id FROM mailboxes WHERE email = ?', [
      email.trim().toLowerCase(),
    ]);
    if (!row) throw new DirectoryInputError(`no mailbox ${email}`);
    return row.id;
  }

  // ---- the admin's pause (`pause`/`resume`): only the admin sets it, nothing in Telegram lifts it ----

  /** Pauses (or resumes) a user found by phone or Telegram id. What the bot observed stays as it is. */
  async setUserPaused(phoneOrTelegramId: string, paused: boolean): Promise<UserEntry> {
    const id = await this.edit(async () => {
      const id = await this.userRowId(phoneOrTelegramId);
      await this.db.run('UPDATE users SET active = ?, updated_at = ? WHERE id = ?', [
        paused ? 0 : 1,
        nowIso(),
        id,
      ]);
      return id;
    });
    await this.reload();
    return this.current.users.find((user) => user.key === String(id))!;
  }

  async setGroupPaused(title: string, paused: boolean): Promise<GroupEntry> {
    const id = await this.edit(async () => {
      const id = await this.groupRowId(title);
      await this.db.run('UPDATE groups SET active = ?, updated_at = ? WHERE id = ?', [
        paused ? 0 : 1,
        nowIso(),
        id,
      ]);
      return id;
    });
    await this.reload();
    return this.current.groups.find((group) => group.key === String(id))!;
  }

  /** A paused mailbox is not read (its listener stops); mail that arrives meanwhile waits on the server. */
  async setMailboxPaused(email: string, paused: boolean): Promise<MailboxEntry> {
    const id = await this.edit(async () => {
      const id = await this.mailboxRowId(email);
      await this.db.run('UPDATE mailboxes SET active = ?, updated_at = ? WHERE id = ?', [
        paused ? 0 : 1,
        nowIso(),
        id,
      ]);
      return id;
    });
    await this.reload();
    return this.current.mailboxes.find((mailbox) => mailbox.key === String(id))!;
  }

  // ---- edit in place (instead of remove and add again) -------------------------------------------

  async editUser(phoneOrTelegramId: string, changes: UserChanges): Promise<UserEntry> {
    const name = changes.name?.trim();
    if (name === '') throw new DirectoryInputError('--name must not be empty');
    let phone: string | undefined;
    if (changes.phone !== undefined) {
      phone = normalizePhone(changes.phone, this.options.phoneRegion) ?? undefined;
      if (!phone) throw new DirectoryInputError(`--phone: "${changes.phone}" is not a valid phone number`);
    }
    const id = await this.edit(async () => {
      const id = await this.userRowId(phoneOrTelegramId);
      if (
        phone !== undefined &&
        (await this.db.get('SELECT 1 AS found FROM users WHERE phone = ? AND id != ?', [phone, id]))
      ) {
        throw new DirectoryInputError(`a user with phone ${phone} already exists`);
      }
      const mailboxIds =
        changes.mailboxes === undefined ? undefined : await this.mailboxIds(changes.mailboxes);
      const now = nowIso();
      if (name !== undefined)
        await this.db.run('UPDATE users SET name = ?, updated_at = ? WHERE id = ?', [name, now, id]);
      if (phone !== undefined)
        await this.db.run('UPDATE users SET phone = ?, updated_at = ? WHERE id = ?', [phone, now, id]);
      if (changes.telegramId !== undefined) {
        if (changes.telegramId !== null) {
          // one Telegram account, one user
          await this.db.run(
            'UPDATE users SET telegram_id = NULL, updated_at = ? WHERE telegram_id = ? AND id != ?',
            [now, changes.telegramId, id],
          );
        }
        await this.db.run('UPDATE users SET telegram_id = ?, updated_at = ? WHERE id = ?', [
          changes.telegramId,
          now,
          id,
        ]);
      }
      if (mailboxIds !== undefined) await this.replaceLinks('user_mailboxes', 'user_id', id, mailboxIds);
      return id;
    });
    await this.reload();
    return this.current.users.find((user) => user.key === String(id))!;
  }

  async editGroup(title: string, changes: GroupChanges): Promise<GroupEntry> {
    const newTitle = changes.title?.trim();
    if (newTitle === '') throw new DirectoryInputError('--title must not be empty');
    const id = await this.edit(async () => {
      const id = await this.groupRowId(title);
      if (
        newTitle !== undefined &&
        (await this.db.get('SELECT 1 AS found FROM groups WHERE title = ? AND id != ?', [newTitle, id]))
      ) {
        throw new DirectoryInputError(`a group titled "${newTitle}" already exists`);
      }
      const mailboxIds =
        changes.mailboxes === undefined ? undefined : await this.mailboxIds(changes.mailboxes);
      const now = nowIso();
      const set = (column: string, value: SqlValue) =>
        this.db.run(`UPDATE groups SET ${column} = ?, updated_at = ? WHERE id = ?`, [value, now, id]);
      if (newTitle !== undefined) await set('title', newTitle);
      if (changes.topicId !== undefined) await set('topic_id', changes.topicId);
      if (changes.mediaMode !== undefined) await set('media_mode', changes.mediaMode);
      if (changes.tallImageMode !== undefined) await set('tall_image_mode', changes.tallImageMode);
      if (changes.telegramId !== undefined) {
        await set('telegram_id', changes.telegramId);
        await set('locked', changes.telegramId === null ? 0 : 1);
      }
      if (mailboxIds !== undefined) await this.replaceLinks('group_mailboxes', 'group_id', id, mailboxIds);
      return id;
    });
    await this.reload();
    return this.current.groups.find((group) => group.key === String(id))!;
  }

  async editMailbox(email: string, changes: MailboxChanges): Promise<MailboxEntry> {
    if (changes.password !== undefined && changes.passwordEnv !== undefined) {
      throw new DirectoryInputError('give at most one of --password or --password-env');
    }
    if (changes.oauth2) {
      if (changes.password !== undefined || changes.passwordEnv !== undefined) {
        throw new DirectoryInputError('give either a password or the --oauth2-* options, not both');
      }
      const problem = oauth2InputProblem(changes.oauth2, OAUTH2_OPTION_NAMES);
      if (problem) throw new DirectoryInputError(problem);
    }
    if (changes.passwordEnv !== undefined && !/^[A-Za-z_][A-Za-z0-9_]*$/.test(changes.passwordEnv)) {
      throw new DirectoryInputError(
        `--password-env: "${changes.passwordEnv}" is not an environment variable name`,
      );
    }
    if (changes.host !== undefined && !changes.host.trim())
      throw new DirectoryInputError('--host must not be empty');
    if (
      changes.port !== undefined &&
      (!Number.isInteger(changes.port) || changes.port < 1 || changes.port > 65535)
    ) {
      throw new DirectoryInputError(`--port: ${changes.port} is not a TCP port`);
    }
    const allowFrom = changes.allowFrom?.map((pattern) => {
      const normalized = normalizeSenderPattern(pattern);
      if (!normalized)
        throw new DirectoryInputError(`--allow-from: "${pattern}" is neither an address nor @domain`);
      return normalized;
    });
    const senderAuth = changes.senderAuth ? parseSenderAuth(changes.senderAuth) : null;
    if (changes.senderAuth && !senderAuth) {
      throw new DirectoryInputError(
        `--sender-auth: "${changes.senderAuth}" is not off, dkim, authentication-results or authentication-results:<authserv-id>`,
      );
    }
    const id = await this.edit(async () => {
      const id = await this.mailboxRowId(email);
      const now = nowIso();
      const set = (column: string, value: SqlValue) =>
        this.db.run(`UPDATE mailboxes SET ${column} = ?, updated_at = ? WHERE id = ?`, [value, now, id]);
      if (changes.host !== undefined) await set('host', changes.host.trim());
      if (changes.port !== undefined) await set('port', changes.port);
      if (changes.tls !== undefined) await set('tls', changes.tls);
      if (changes.login !== undefined) await set('login', changes.login.trim());
      const dropOAuth2 = async () => {
        for (const column of OAUTH2_COLUMNS) await set(column, null);
      };
      if (changes.password !== undefined) {
        await set('password', changes.password);
        await set('password_env', null);
        await dropOAuth2();
      }
      if (changes.passwordEnv !== undefined) {
        await set('password_env', changes.passwordEnv);
        await set('password', null);
        await dropOAuth2();
      }
      if (changes.oauth2) {
        await set('password', null);
        await set('password_env', null);
        await set('oauth2_token_url', changes.oauth2.tokenUrl.trim());
        await set('oauth2_client_id', changes.oauth2.clientId.trim());
        await set('oauth2_client_secret_env', changes.oauth2.clientSecretEnv);
        await set('oauth2_scope', changes.oauth2.scope?.trim() || null);
        await set('oauth2_refresh_token_env', changes.oauth2.refreshTokenEnv ?? null);
      }
      if (changes.folder !== undefined) await set('folder', changes.folder.trim() || 'INBOX');
      if (allowFrom !== undefined) await set('allow_from', JSON.stringify(allowFrom));
      if (changes.mediaMode !== undefined) await set('media_mode', changes.mediaMode);
      if (changes.tallImageMode !== undefined) await set('tall_image_mode', changes.tallImageMode);
      if (changes.markSeen !== undefined)
        await set('mark_seen', changes.markSeen === null ? null : changes.markSeen ? 1 : 0);
      if (changes.senderAuth !== undefined)
        await set('sender_auth', senderAuth ? formatSenderAuth(senderAuth) : null);
      return id;
    });
    await this.reload();
    return this.current.mailboxes.find((mailbox) => mailbox.key === String(id))!;
  }

  private async replaceLinks(
    table: 'user_mailboxes' | 'group_mailboxes',
    column: 'user_id' | 'group_id',
    ownerId: number,
    mailboxIds: number[],
  ): Promise<void> {
    await this.db.run(`DELETE FROM ${table} WHERE ${column} = ?`, [ownerId]);
    for (const mailboxId of mailboxIds) {
      await this.db.run(`INSERT INTO ${table} (${column}, mailbox_id) VALUES (?, ?)`, [ownerId, mailboxId]);
    }
  }

  async addGroup(input: NewGroup): Promise<GroupEntry> {
    const title = input.title.trim();
    if (!title) throw new DirectoryInputError('--title must not be empty');
    const id = await this.edit(async () => {
      if (await this.db.get('SELECT 1 AS found FROM groups WHERE title = ?', [title])) {
        throw new DirectoryInputError(`a group titled "${title}" already exists`);
      }
      const mailboxIds = await this.mailboxIds(input.mailboxes);
      const now = nowIso();
      const row = await this.db.get<{ id: number }>(
        'INSERT INTO groups (title, telegram_id, locked, topic_id, media_mode, tall_image_mode, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id',
        [
          title,
          input.telegramId ?? null,
          input.telegramId === undefined ? 0 : 1,
          input.topicId ?? null,
          input.mediaMode ?? null,
          input.tallImageMode ?? null,
          now,
          now,
        ],
      );
      for (const mailboxId of mailboxIds) {
        await this.db.run('INSERT INTO group_mailboxes (group_id, mailbox_id) VALUES (?, ?)', [
          row!.id,
          mailboxId,
        ]);
      }
      return row!.id;
    });
    await this.reload();
    return this.current.groups.find((group) => group.key === String(id))!;
  }

  async removeGroup(title: string): Promise<void> {
    const result = await this.edit(() => this.db.run('DELETE FROM groups WHERE title = ?', [title.trim()]));
    if (result.changes === 0) throw new DirectoryInputError(`no group titled "${title}"`);
    await this.reload();
  }

  private async mailboxIds(emails: string[]): Promise<number[]> {
    if (emails.length === 0) throw new DirectoryInputError('give at least one --mailbox');
    const ids: number[] = [];
    for (const email of new Set(emails.map((entry) => entry.trim().toLowerCase()))) {
      const row = await this.db.get<{ id: number }>('SELECT id FROM mailboxes WHERE email = ?', [email]);
      if (!row)
        throw new DirectoryInputError(`unknown mailbox ${email} (add it with: mailbox add ${email} ...)`);
      ids.push(row.id);
    }
    return ids;
  }
}

/** A Telegram chat id as read: PostgreSQL may return a BIGINT as text. */
function chatIdOf(value: number | string | null): number | null {
  return value === null ? null : Number(value);
}
