/**
 * The SeaTable directory: the admin keeps mailboxes, users and groups in three tables of a SeaTable
 * base; the bot reads them whole at start and every SEATABLE_REFRESH_SECONDS, and serves every
 * lookup from that in-memory copy, so delivery never waits on SeaTable.
 *
 * Outages: the last good copy is kept in SQLite (`directory_cache`), so the bot keeps delivering
 * while SeaTable is down, and also starts during an outage. The admin is told once when SeaTable
 * becomes unreachable and once when it is back, not on every failed refresh.
 *
 * Writes (registration, delivery feedback) go to SeaTable at once with checked writes and update the
 * in-memory copy when they land; while SeaTable is unreachable they fail with
 * DirectoryUnavailableError and change nothing.
 */
import type { CountryCode } from 'libphonenumber-js';
import { type AdminAlerts, LoggedAlerts } from '../../observability/admin-alerts.js';
import type { Logger } from '../../observability/logger.js';
import type { SecretScrubber } from '../../observability/secret-scrubber.js';
import { type Database, nowIso } from '../../store/database.js';
import {
  type DirectorySnapshot,
  type DirectorySource,
  DirectoryUnavailableError,
  type GroupClaim,
  type GroupEntry,
  type UserEntry,
} from '../directory.js';
import type { SeaTableClient } from './seatable-client.js';
import { SeaTableError } from './seatable-error.js';
import type { SeaTableMetadata, SeaTableRow, SeaTableSqlParameter } from './seatable-model.js';
import { parseTelegramIdCell, type RowWarning, readDirectoryRows } from './seatable-rows.js';
import {
  checkSchema,
  type DirectoryColumns,
  type ResolvedSchema,
  type SeaTableNames,
  SeaTableSchemaError,
} from './seatable-schema.js';

export interface SeaTableDirectoryOptions {
  /** The client for the base (it renews its token and retries by itself). */
  client: SeaTableClient;
  /** Table and column names (see `seaTableNames`). */
  names: SeaTableNames;
  /** Region for phone numbers written without a country code (PHONE_REGION). */
  phoneRegion: CountryCode;
  /** How often the whole directory is re-read, ms (SEATABLE_REFRESH_SECONDS × 1000). Default 60 000; 0 disables. */
  refreshIntervalMs?: number;
  /** The bot's database: the last good copy is kept in its `directory_cache` table. */
  db: Database;
  logger: Logger;
  /** Every password read from the base is registered here, so no log line shows it. */
  scrubber: SecretScrubber;
  /** Where "SeaTable unreachable" and "schema broken" go. Default: the log only. */
  alerts?: AdminAlerts;
  /** Environment for `env:VAR` passwords. Default: process.env. */
  env?: Record<string, string | undefined>;
  /** The server URL, for messages. */
  serverUrl?: string;
  /**
   * How long `start` waits for SeaTable when a saved copy exists, ms; after that it starts with the
   * copy and the read goes on in the background. Default 15 000.
   */
  startTimeoutMs?: number;
}

/** Key of the directory in the `directory_cache` table. */
const CACHE_SOURCE = 'seatable';
/** Alert keys. */
const UNREACHABLE_ALERT = 'seatable-unreachable';
const SCHEMA_ALERT = 'seatable-schema';

/** The persisted copy: an `env:VAR` password is not stored, it is read from the environment again. */
interface PersistedSnapshot {
  format: 1;
  snapshot: DirectorySnapshot;
}

function quoted(name: string): string {
  if (name.includes('`'))
    throw new Error(`SeaTable name "${name}" contains a backtick, which SQL cannot quote`);
  return `\`${name}\``;
}

/** A row id as SeaTable makes them; anything else never reaches an SQL text. */
function checkedRowId(rowId: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(rowId)) throw new Error(`"${rowId}" is not a SeaTable row id`);
  return rowId;
}

/** Whether an error means "the base is broken or misconfigured" rather than "SeaTable is away". */
function isPermanent(error: unknown): boolean {
  return (
    error instanceof SeaTableSchemaError ||
    (error instanceof SeaTableError && error.kind === 'unsupported-server')
  );
}

export class SeaTableDirectory implements DirectorySource {
  readonly kind = 'seatable' as const;
  private current: DirectorySnapshot = { mailboxes: [], users: [], groups: [], loadedAt: nowIso() };
  private fingerprint = '';
  private readonly listeners = new Set<(snapshot: DirectorySnapshot) => void>();
  private readonly alerts: AdminAlerts;
  private readonly env: Record<string, string | undefined>;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  /** Null until the first attempt; false while SeaTable cannot be reached. */
  private reachable: boolean | null = null;
  private schemaProblem: string | null = null;
  private metadata: SeaTableMetadata | null = null;
  private schema: ResolvedSchema | null = null;
  /** Warnings already logged (table, row, row version, text): each is logged once. */
  private warned = new Set<string>();
  private running: Promise<void> | null = null;
  private queued: Promise<void> | null = null;
  /** Whether a read from SeaTable has been adopted (then the saved copy is never put back). */
  private loadedFromSource = false;
  /** Bumped by every write: a read that started before it is stale and dropped. */
  private writeEpoch = 0;

  constructor(private readonly options: SeaTableDirectoryOptions) {
    this.alerts = options.alerts ?? new LoggedAlerts(options.logger);
    this.env = options.env ?? process.env;
  }

  private get serverLabel(): string {
    return this.options.serverUrl ? `SeaTable (${this.options.serverUrl})` : 'SeaTable';
  }

  // ---- life cycle --------------------------------------------------------------------------------

  /**
   * Checks the schema and loads the directory. When SeaTable cannot be reached (or does not answer
   * within `startTimeoutMs`) and an earlier run saved a copy, starts with that copy and keeps trying
   * in the background; rejects only when there is no copy at all, or when the base lacks tables or
   * columns (SeaTableSchemaError).
   */
  async start(): Promise<void> {
    this.stopped = false;
    const cached = this.readCache();
    const attempt = this.load();
    // timer refreshes wait for this first read instead of running beside it
    this.running = attempt
      .catch(() => undefined)
      .finally(() => {
        this.running = null;
      });
    let outcome: 'loaded' | 'slow';
    try {
      outcome = cached ? await this.withinStartTime(attempt) : await attempt.then(() => 'loaded' as const);
    } catch (error) {
      if (isPermanent(error)) throw error;
      const reason = this.options.scrubber.describe(error);
      if (!cached) {
        throw new DirectoryUnavailableError(
          `${this.serverLabel} is unreachable (${reason}) and there is no cached copy of the directory from an earlier run, so the bot cannot start. Check SEATABLE_SERVER_URL, SEATABLE_API_TOKEN and the network, then start again.`,
          { cause: error },
        );
      }
      this.startFromCache(cached, error);
      this.startRefreshTimer();
      return;
    }
    if (outcome === 'slow' && cached && !this.loadedFromSource) {
      const waited = this.options.startTimeoutMs ?? 15_000;
      const label = waited >= 1000 ? `${Math.round(waited / 1000)} s` : `${waited} ms`;
      this.startFromCache(cached, new Error(`no answer within ${label}`));
      // the first read goes on; when it lands, the directory is current and the alert is cleared
      attempt.then(
        () => {
          if (!this.stopped) this.markReachable();
        },
        (error: unknown) => {
          if (!this.stopped) this.recordFailure(error);
        },
      );
    } else {
      this.markReachable();
    }
    this.startRefreshTimer();
  }

  /** Resolves 'loaded' when the first read lands in time, 'slow' when it takes longer than allowed. */
  private async withinStartTime(attempt: Promise<void>): Promise<'loaded' | 'slow'> {
    let timer: NodeJS.Timeout | undefined;
    const slow = new Promise<'slow'>((resolve) => {
      timer = setTimeout(() => resolve('slow'), this.options.startTimeoutMs ?? 15_000);
    });
    try {
      return await Promise.race([attempt.then(() => 'loaded' as const), slow]);
    } finally {
      clearTimeout(timer);
    }
  }

  private startFromCache(cached: DirectorySnapshot, error: unknown): void {
    this.adopt(cached, false);
    this.options.logger.warn(
      { loadedAt: cached.loadedAt, err: this.options.scrubber.describe(error) },
      'SeaTable is unreachable at start: serving the directory copy saved by an earlier run',
    );
    this.markUnreachable(error);
  }

  private startRefreshTimer(): void {
    const interval = this.options.refreshIntervalMs ?? 60_000;
    if (interval <= 0) return;
    this.timer = setInterval(() => {
      this.refresh().catch(() => {
        // already logged and alerted by the refresh itself
      });
    }, interval);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  snapshot(): DirectorySnapshot {
    return this.current;
  }

  onChange(listener: (snapshot: DirectorySnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Re-reads the base. Calls during a read share the next read. Rejects with
   * DirectoryUnavailableError when SeaTable cannot be reached (the copy in memory stays), and with
   * SeaTableSchemaError when the base lost a table or column.
   */
  refresh(): Promise<void> {
    if (this.queued) return this.queued;
    if (!this.running) {
      this.running = this.refreshOnce().finally(() => {
        this.running = null;
      });
      return this.running;
    }
    this.queued = this.running
      .catch(() => undefined)
      .then(() => {
        this.queued = null;
        return this.refresh();
      });
    return this.queued;
  }

  private async refreshOnce(): Promise<void> {
    try {
      await this.load();
    } catch (error) {
      if (this.stopped) return;
      this.recordFailure(error);
      if (error instanceof SeaTableSchemaError) throw error;
      throw new DirectoryUnavailableError(
        `${this.serverLabel} is unreachable (${this.options.scrubber.describe(error)}); the directory copy loaded at ${this.current.loadedAt} stays in use`,
        { cause: error },
      );
    }
    if (this.schemaProblem !== null) {
      this.schemaProblem = null;
      this.alerts.clear(SCHEMA_ALERT, 'The SeaTable directory matches the schema again and is up to date.');
    }
    this.markReachable();
  }

  /** Tells the admin about a failed read: the base lost a table or column, or SeaTable is away. */
  private recordFailure(error: unknown): void {
    if (!(error instanceof SeaTableSchemaError)) {
      this.markUnreachable(error);
      return;
    }
    this.markReachable();
    if (this.schemaProblem === error.message) return;
    this.schemaProblem = error.message;
    this.alerts.raise(
      SCHEMA_ALERT,
      `The SeaTable directory cannot be read; the bot keeps using the copy loaded at ${this.current.loadedAt}.\n${error.message}`,
    );
  }

  // ---- reading -----------------------------------------------------------------------------------

  /** Reads metadata and the three tables; adopts the result unless a write made it stale. */
  private async load(): Promise<void> {
    const epoch = this.writeEpoch;
    const { client, names } = this.options;
    const metadata = await client.getMetadata();
    const check = checkSchema(metadata, names);
    if (!check.schema) throw new SeaTableSchemaError(check.problems);
    const [mailboxes, users, groups] = await Promise.all([
      client.listAllRows(names.tables.Mailboxes),
      client.listAllRows(names.tables.Users),
      client.listAllRows(names.tables.Groups),
    ]);
    this.metadata = metadata;
    this.schema = check.schema;
    const read = readDirectoryRows(
      { mailboxes, users, groups },
      { schema: check.schema, names, phoneRegion: this.options.phoneRegion, env: this.env },
    );
    this.options.scrubber.add(...read.secrets);
    this.reportWarnings(read.warnings);
    if (this.stopped || epoch !== this.writeEpoch) return;
    this.loadedFromSource = true;
    this.adopt(
      { mailboxes: read.mailboxes, users: read.users, groups: read.groups, loadedAt: nowIso() },
      true,
    );
  }

  /** Logs each row problem once per row version, so a broken row does not fill the log every minute. */
  private reportWarnings(warnings: RowWarning[]): void {
    const next = new Set<string>();
    for (const warning of warnings) {
      const key = JSON.stringify([warning.table, warning.rowId, warning.rowVersion, warning.message]);
      next.add(key);
      if (!this.warned.has(key)) {
        this.options.logger.warn({ table: warning.table, row: warning.rowId }, warning.message);
      }
    }
    this.warned = next;
  }

  /** Makes `snapshot` current: persists it when asked, and tells the listeners when it changed. */
  private adopt(snapshot: DirectorySnapshot, persist: boolean): void {
    for (const mailbox of snapshot.mailboxes) this.options.scrubber.add(mailbox.password);
    this.current = snapshot;
    const fingerprint = JSON.stringify({ ...snapshot, loadedAt: '' });
    const changed = fingerprint !== this.fingerprint;
    // an unchanged directory only moves the saved copy's time, instead of rewriting it every refresh
    if (persist) this.writeCache(snapshot, changed);
    if (!changed) return;
    this.fingerprint = fingerprint;
    for (const listener of this.listeners) {
      try {
        listener(snapshot);
      } catch (error) {
        this.options.logger.error(
          { err: this.options.scrubber.describe(error) },
          'a directory change listener failed',
        );
      }
    }
  }

  private markReachable(): void {
    if (this.reachable === false) {
      this.alerts.clear(
        UNREACHABLE_ALERT,
        `${this.serverLabel} is reachable again; the directory is up to date.`,
      );
    }
    this.reachable = true;
  }

  private markUnreachable(error: unknown): void {
    const reason = this.options.scrubber.describe(error);
    if (this.reachable === false) {
      this.options.logger.debug({ err: reason }, 'SeaTable is still unreachable');
      return;
    }
    this.reachable = false;
    this.alerts.raise(
      UNREACHABLE_ALERT,
      `${this.serverLabel} is unreachable (${reason}). Reports are still delivered using the directory copy loaded at ${this.current.loadedAt}; changes made in SeaTable apply once it is reachable again.`,
    );
  }

  // ---- the persisted copy ------------------------------------------------------------------------

  private readCache(): DirectorySnapshot | null {
    const row = this.options.db
      .prepare('SELECT snapshot, loaded_at FROM directory_cache WHERE source = ?')
      .get(CACHE_SOURCE) as { snapshot: string; loaded_at: string } | undefined;
    if (!row) return null;
    try {
      const persisted = JSON.parse(row.snapshot) as PersistedSnapshot;
      if (persisted.format !== 1) return null;
      const { snapshot } = persisted;
      return {
        ...snapshot,
        loadedAt: row.loaded_at,
        mailboxes: snapshot.mailboxes.map((mailbox) => {
          const variable = mailbox.passwordSource.startsWith('env:') ? mailbox.passwordSource.slice(4) : null;
          return variable ? { ...mailbox, password: this.env[variable] ?? null } : mailbox;
        }),
      };
    } catch (error) {
      this.options.logger.warn(
        { err: this.options.scrubber.describe(error) },
        'the saved copy of the SeaTable directory is unreadable; ignoring it',
      );
      return null;
    }
  }

  private writeCache(snapshot: DirectorySnapshot, contentChanged: boolean): void {
    try {
      if (!contentChanged) {
        this.options.db
          .prepare('UPDATE directory_cache SET loaded_at = ? WHERE source = ?')
          .run(snapshot.loadedAt, CACHE_SOURCE);
        return;
      }
      const persisted: PersistedSnapshot = {
        format: 1,
        snapshot: {
          ...snapshot,
          // a password from the environment stays there
          mailboxes: snapshot.mailboxes.map((mailbox) =>
            mailbox.passwordSource === 'directory' ? mailbox : { ...mailbox, password: null },
          ),
        },
      };
      this.options.db
        .prepare(
          `INSERT INTO directory_cache (source, snapshot, loaded_at) VALUES (?, ?, ?)
           ON CONFLICT (source) DO UPDATE SET snapshot = excluded.snapshot, loaded_at = excluded.loaded_at`,
        )
        .run(CACHE_SOURCE, JSON.stringify(persisted), snapshot.loadedAt);
    } catch (error) {
      this.options.logger.error(
        { err: this.options.scrubber.describe(error) },
        'could not save the copy of the SeaTable directory',
      );
    }
  }

  // ---- writes ------------------------------------------------------------------------------------

  async setUserTelegramId(userKey: string, telegramId: number | null): Promise<void> {
    const users = this.options.names.tables.Users;
    const column = this.columnName('Users', 'Telegram ID');
    const cleared = await this.write(`set the Telegram id of user row ${userKey}`, async () => {
      const schema = await this.currentSchema();
      const value = this.telegramIdValue(schema, 'Users', telegramId);
      // the latest verified owner of a Telegram account wins: no other user keeps this id
      const others =
        telegramId === null
          ? []
          : (await this.rowsWithTelegramId('Users', telegramId)).filter((rowId) => rowId !== userKey);
      await this.options.client.updateRowsChecked(
        users,
        [
          ...others.map((rowId) => ({ rowId, row: { [column]: null } })),
          // Active is the admin's decision: registration never ticks it
          { rowId: userKey, row: { [column]: value } },
        ],
        { metadata: this.metadata ?? undefined },
      );
      return new Set(others);
    });
    this.afterWrite({
      ...this.current,
      users: this.current.users.map((user) =>
        user.key === userKey
          ? { ...user, telegramId }
          : cleared.has(user.key)
            ? { ...user, telegramId: null }
            : user,
      ),
    });
  }

  async setUserActive(userKey: string, active: boolean): Promise<void> {
    await this.write(`mark user row ${userKey} ${active ? 'active' : 'inactive'}`, async () => {
      await this.currentSchema();
      await this.options.client.updateRowsChecked(
        this.options.names.tables.Users,
        [{ rowId: userKey, row: { [this.columnName('Users', 'Active')]: active } }],
        { metadata: this.metadata ?? undefined },
      );
    });
    this.afterWrite({
      ...this.current,
      users: this.current.users.map((user) => (user.key === userKey ? { ...user, active } : user)),
    });
  }

  /**
   * Registers `chatId` as the group titled `title` (exact, case-sensitive match after trimming). The
   * write is conditional (only if the row is unlocked, has no id, or already has this id) and the row
   * is read back, so two chats racing for one title cannot both win and a locked id is never
   * overwritten.
   */
  async claimGroup(title: string, chatId: number): Promise<GroupClaim> {
    if (!Number.isSafeInteger(chatId)) throw new Error(`${chatId} is not a Telegram chat id`);
    const wanted = title.trim();
    let candidates = this.current.groups.filter((group) => group.title === wanted);
    if (candidates.length === 0) {
      // the admin may have added the row since the last refresh
      await this.write('read the groups table', () => this.refresh());
      candidates = this.current.groups.filter((group) => group.title === wanted);
      if (candidates.length === 0) return { outcome: 'unknown-title' };
    }
    const claim = await this.write(`register the group "${wanted}"`, async (): Promise<GroupClaim> => {
      const schema = await this.currentSchema();
      const fresh = await this.readGroupState(candidates);
      const chosen =
        fresh.find((group) => group.locked && group.telegramId === chatId) ??
        fresh.find((group) => !this.lockedToAnother(group, chatId)) ??
        fresh[0];
      if (!chosen) return { outcome: 'unknown-title' };
      if (this.lockedToAnother(chosen, chatId)) return { outcome: 'locked-to-another-chat', group: chosen };
      const already = chosen.locked && chosen.telegramId === chatId;
      const table = quoted(this.options.names.tables.Groups);
      const id = quoted(this.columnName('Groups', 'Telegram ID'));
      const locked = quoted(this.columnName('Groups', 'Locked'));
      // constants only (parameters in UPDATE are not documented): an integer and a checked row id
      const idLiteral = this.telegramIdType(schema, 'Groups') === 'number' ? String(chatId) : `'${chatId}'`;
      await this.options.client.sql(
        `UPDATE ${table} SET ${id} = ${idLiteral}, ${locked} = true WHERE _id = '${checkedRowId(chosen.key)}' AND (${locked} IS NOT TRUE OR ${id} IS NULL OR ${id} = ${idLiteral})`,
      );
      const [after] = await this.readGroupState([chosen]);
      if (!after) return { outcome: 'unknown-title' };
      if (after.locked && after.telegramId === chatId) {
        return { outcome: already ? 'already-registered' : 'registered', group: after };
      }
      return { outcome: 'locked-to-another-chat', group: after };
    });
    if (claim.outcome !== 'unknown-title') {
      const group = claim.group;
      this.afterWrite({
        ...this.current,
        groups: this.current.groups.map((entry) => (entry.key === group.key ? group : entry)),
      });
    }
    return claim;
  }

  async moveGroupChat(oldChatId: number, newChatId: number): Promise<void> {
    const moved = await this.write(`move group chat ${oldChatId} to ${newChatId}`, async () => {
      const schema = await this.currentSchema();
      const rows = await this.rowsWithTelegramId('Groups', oldChatId);
      if (rows.length === 0) return new Set<string>();
      const column = this.columnName('Groups', 'Telegram ID');
      const value = this.telegramIdValue(schema, 'Groups', newChatId);
      await this.options.client.updateRowsChecked(
        this.options.names.tables.Groups,
        rows.map((rowId) => ({ rowId, row: { [column]: value } })),
        { metadata: this.metadata ?? undefined },
      );
      return new Set(rows);
    });
    if (moved.size === 0) return;
    this.afterWrite({
      ...this.current,
      groups: this.current.groups.map((group) =>
        moved.has(group.key) ? { ...group, telegramId: newChatId } : group,
      ),
    });
  }

  /** Runs a write; any failure becomes DirectoryUnavailableError saying nothing was changed. */
  private async write<T>(what: string, action: () => Promise<T>): Promise<T> {
    try {
      return await action();
    } catch (error) {
      if (error instanceof DirectoryUnavailableError) throw error;
      const reason = this.options.scrubber.describe(error);
      this.options.logger.warn({ err: reason }, `SeaTable write failed: ${what}`);
      throw new DirectoryUnavailableError(
        `${this.serverLabel} did not take the change (${what}): ${reason}. The directory was not changed; try again later.`,
        { cause: error },
      );
    }
  }

  /** After a write landed: the copy in memory changes at once, and a full read follows. */
  private afterWrite(next: DirectorySnapshot): void {
    this.writeEpoch++;
    this.adopt(next, true);
    this.refresh().catch(() => {
      // already logged and alerted by the refresh itself
    });
  }

  /** The schema of the last read, or of a fresh metadata read when the bot started from its saved copy. */
  private async currentSchema(): Promise<ResolvedSchema> {
    if (this.schema) return this.schema;
    const metadata = await this.options.client.getMetadata();
    const check = checkSchema(metadata, this.options.names);
    if (!check.schema) throw new SeaTableSchemaError(check.problems);
    this.metadata = metadata;
    this.schema = check.schema;
    return check.schema;
  }

  private columnName<T extends 'Users' | 'Groups'>(table: T, column: DirectoryColumns[T]): string {
    return (this.options.names.columns[table] as Record<string, string>)[column]!;
  }

  private telegramIdType(schema: ResolvedSchema, table: 'Users' | 'Groups'): string | undefined {
    return schema.columns[table]['Telegram ID']?.type;
  }

  /** Telegram ids are written as text (exact, research §5), or as a number into a number column. */
  private telegramIdValue(schema: ResolvedSchema, table: 'Users' | 'Groups', id: number | null): unknown {
    if (id === null) return null;
    return this.telegramIdType(schema, table) === 'number' ? id : String(id);
  }

  /** Row ids whose Telegram ID is `id`: from SeaTable now, plus the copy in memory. */
  private async rowsWithTelegramId(table: 'Users' | 'Groups', id: number): Promise<string[]> {
    const schema = await this.currentSchema();
    const parameter: SeaTableSqlParameter = this.telegramIdType(schema, table) === 'number' ? id : String(id);
    const { results } = await this.options.client.sql(
      `SELECT _id FROM ${quoted(this.options.names.tables[table])} WHERE ${quoted(this.columnName(table, 'Telegram ID'))} = ? LIMIT 10000`,
      [parameter],
    );
    const entries: Array<UserEntry | GroupEntry> =
      table === 'Users' ? this.current.users : this.current.groups;
    return [
      ...new Set([
        ...results.map((row) => row._id),
        ...entries.filter((entry) => entry.telegramId === id).map((entry) => entry.key),
      ]),
    ];
  }

  /** The groups as SeaTable has them now (id, lock, active), other fields from the copy in memory. */
  private async readGroupState(groups: GroupEntry[]): Promise<GroupEntry[]> {
    const ids = groups.map((group) => checkedRowId(group.key));
    const id = this.columnName('Groups', 'Telegram ID');
    const locked = this.columnName('Groups', 'Locked');
    const active = this.columnName('Groups', 'Active');
    const { results } = await this.options.client.sql(
      `SELECT _id, ${quoted(id)}, ${quoted(locked)}, ${quoted(active)} FROM ${quoted(this.options.names.tables.Groups)} WHERE _id IN (${ids.map(() => '?').join(', ')}) LIMIT ${ids.length}`,
      ids,
    );
    const byId = new Map<string, SeaTableRow>(results.map((row) => [row._id, row]));
    return groups.flatMap((group) => {
      const row = byId.get(group.key);
      if (!row) return [];
      return [
        {
          ...group,
          telegramId: parseTelegramIdCell(row[id]),
          locked: row[locked] === true,
          active: row[active] === true,
        },
      ];
    });
  }

  private lockedToAnother(group: GroupEntry, chatId: number): boolean {
    return group.locked && group.telegramId !== null && group.telegramId !== chatId;
  }
}
