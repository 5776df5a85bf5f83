/**
 * The SeaTable directory: the admin keeps mailboxes, users and groups in three tables of a SeaTable
 * base; the bot reads them whole at start and every SEATABLE_REFRESH_SECONDS, and serves every
 * lookup from that in-memory copy, so delivery never waits on SeaTable.
 *
 * Outages: the last good copy is kept in the bot's state (`directory_cache`), so the bot keeps delivering
 * while SeaTable is down, and also starts during an outage. The admin is told once when SeaTable
 * becomes unreachable and once when it is back, not on every failed refresh.
 *
 * Writes (registration, delivery feedback) change the in-memory copy at once (in place, no re-read)
 * and go into a durable queue (write-queue.ts, write-back.ts) that carries them to SeaTable in order
 * and retries until SeaTable takes them, across restarts; every read shows the queued changes on
 * top. So SeaTable being away or rate-limited never refuses a registration nor stalls a send. A
 * group's lock is the one write SeaTable can refuse (the row was locked to another chat meanwhile):
 * then the registration is undone and `onWriteRejected` listeners are told.
 */
import type { CountryCode } from 'libphonenumber-js';
import { type AdminAlerts, LoggedAlerts } from '../../observability/admin-alerts.js';
import type { Logger } from '../../observability/logger.js';
import type { SecretScrubber } from '../../observability/secret-scrubber.js';
import { nowIso, type SqlDatabase } from '../../store/sql-database.js';
import {
  type DirectorySnapshot,
  type DirectorySource,
  DirectoryUnavailableError,
  type GroupClaim,
  type WriteRejection,
} from '../directory.js';
import { applyWrite, applyWrites, type DirectoryWrite } from './directory-writes.js';
import type { SeaTableClient } from './seatable-client.js';
import { SeaTableError } from './seatable-error.js';
import type { SeaTableMetadata } from './seatable-model.js';
import { type RowWarning, readDirectoryRows } from './seatable-rows.js';
import {
  checkSchema,
  type ResolvedSchema,
  type SeaTableNames,
  SeaTableSchemaError,
} from './seatable-schema.js';
import { lockedToAnother, SeaTableWriter } from './seatable-writer.js';
import { type WriteAttempt, WriteBack } from './write-back.js';
import { DirectoryWriteQueue, type QueuedWrite } from './write-queue.js';

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
  db: SqlDatabase;
  /** Whether this instance writes queued changes to SeaTable now (the leader; default always). */
  writesActive?: () => boolean;
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
  /**
   * How long `claimGroup` waits for SeaTable's conditional write before the copy's answer stands,
   * ms. Default 3000.
   */
  claimWaitMs?: number;
  /**
   * Least time between two re-reads for a lookup that found nothing (`refreshAfterMiss`), ms.
   * Default: `refreshIntervalMs`, or 60 000 when that is 0.
   */
  missRefreshIntervalMs?: number;
  /** First wait before a queued change is tried again, ms (doubles per attempt). Default 2000. */
  writeRetryBaseMs?: number;
  /** Longest wait between two tries of a queued change, ms. Default 60 000. */
  writeRetryMaxMs?: number;
}

/** Key of the directory in the `directory_cache` table. */
const CACHE_SOURCE = 'seatable';
/** Longest delay of the timer's re-read while changes wait for SeaTable (or 10 refresh intervals), ms. */
const MAX_READ_DELAY_FOR_WRITES_MS = 10 * 60_000;
/** Alert keys. */
const UNREACHABLE_ALERT = 'seatable-unreachable';
const SCHEMA_ALERT = 'seatable-schema';

/** The persisted copy: an `env:VAR` password is not stored, it is read from the environment again. */
interface PersistedSnapshot {
  format: 1;
  snapshot: DirectorySnapshot;
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
  /** Whether the saved copy holds the current content (else the next save writes it whole). */
  private cacheSaved = false;
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
  /** Carries queued changes to SeaTable. */
  private readonly writeBack: WriteBack;
  /** Reads in flight, and the changes that landed meanwhile (their reads may predate them). */
  private activeLoads = 0;
  private landedDuringLoad: DirectoryWrite[] = [];
  /** Queue ids of group claims whose caller is still waiting for SeaTable's answer. */
  private readonly claimsAwaited = new Set<number>();
  private readonly rejectionListeners = new Set<(rejection: WriteRejection) => void>();
  /** Refusals that happened before anyone listened. */
  private readonly unheardRejections: WriteRejection[] = [];
  /** The last re-read for a lookup that found nothing: when, and its error. */
  private lastMissRefresh: { at: number; error: unknown } | null = null;
  private missRefresh: Promise<void> | null = null;
  /** The saved copy's writes, one after the other, so an older copy never lands after a newer one. */
  private cacheWrites: Promise<void> = Promise.resolve();

  constructor(private readonly options: SeaTableDirectoryOptions) {
    this.alerts = options.alerts ?? new LoggedAlerts(options.logger);
    this.env = options.env ?? process.env;
    const writer = new SeaTableWriter({
      client: options.client,
      names: options.names,
      schema: () => this.currentSchema(),
      metadata: () => this.metadata,
      snapshot: () => this.current,
    });
    this.writeBack = new WriteBack({
      queue: new DirectoryWriteQueue(options.db, CACHE_SOURCE),
      ...(options.writesActive ? { active: options.writesActive } : {}),
      apply: (write) => writer.apply(write),
      onSettled: (entry, attempt) => this.settled(entry, attempt),
      logger: options.logger,
      scrubber: options.scrubber,
      alerts: this.alerts,
      retryBaseMs: options.writeRetryBaseMs,
      retryMaxMs: options.writeRetryMaxMs,
    });
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
    // the changes an earlier run left queued are in effect again from the first copy on
    await this.writeBack.load();
    const cached = await this.readCache();
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
      this.writeBack.start();
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
    this.writeBack.start();
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
    // changes still queued from the last run are in effect again at once
    this.adopt(applyWrites(cached, this.writeBack.pending()), false);
    this.options.logger.warn(
      { loadedAt: cached.loadedAt, err: this.options.scrubber.describe(error) },
      'SeaTable is unreachable at start: serving the directory copy saved by an earlier run',
    );
    this.markUnreachable(error);
  }

  private startRefreshTimer(): void {
    const interval = this.options.refreshIntervalMs ?? 60_000;
    if (interval <= 0) return;
    const longestDelay = Math.max(10 * interval, MAX_READ_DELAY_FOR_WRITES_MS);
    let lastRead = Date.now();
    this.timer = setInterval(() => {
      // Queued writes go first: a full read is several calls, and while SeaTable rate-limits the base
      // they would take turns with the writes' calls (and, in lockstep, always win). Reads are
      // delayed, never dropped: one goes at least every `longestDelay`.
      if (this.writeBack.size > 0 && Date.now() - lastRead < longestDelay) return;
      lastRead = Date.now();
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
    // queued changes stay in the database for the next start
    await this.writeBack.stop();
    await this.cacheWrites;
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

  async refreshAfterMiss(): Promise<void> {
    if (this.missRefresh) return this.missRefresh;
    const interval = this.options.missRefreshIntervalMs ?? (this.options.refreshIntervalMs || 60_000);
    const last = this.lastMissRefresh;
    if (last && Date.now() - last.at < interval) {
      if (last.error === null) return;
      // the answer of the last read stands until the next one is due
      throw last.error instanceof SeaTableSchemaError || last.error instanceof DirectoryUnavailableError
        ? last.error
        : new DirectoryUnavailableError(`${this.serverLabel} is unreachable`, { cause: last.error });
    }
    const current = { at: Date.now(), error: null as unknown };
    this.lastMissRefresh = current;
    this.missRefresh = this.refresh()
      .catch((error: unknown) => {
        current.error = error;
        throw error;
      })
      .finally(() => {
        this.missRefresh = null;
      });
    return this.missRefresh;
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

  /** Reads metadata and the three tables; adopts the result with the queued changes on top. */
  private async load(): Promise<void> {
    this.activeLoads++;
    const landedBefore = this.landedDuringLoad.length;
    try {
      await this.loadTables(landedBefore);
    } finally {
      this.activeLoads--;
      if (this.activeLoads === 0) this.landedDuringLoad = [];
    }
  }

  private async loadTables(landedBefore: number): Promise<void> {
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
    if (this.stopped) return;
    this.loadedFromSource = true;
    const fresh = { mailboxes: read.mailboxes, users: read.users, groups: read.groups, loadedAt: nowIso() };
    // what SeaTable took while this read ran, then what it has yet to take
    const landed = this.landedDuringLoad.slice(landedBefore);
    this.adopt(applyWrites(applyWrites(fresh, landed), this.writeBack.pending()), true);
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
    for (const mailbox of snapshot.mailboxes) {
      this.options.scrubber.add(mailbox.password, mailbox.oauth2?.clientSecret, mailbox.oauth2?.refreshToken);
    }
    this.current = snapshot;
    const fingerprint = JSON.stringify({ ...snapshot, loadedAt: '' });
    const changed = fingerprint !== this.fingerprint;
    // an unchanged directory only moves the saved copy's time, instead of rewriting it every refresh
    if (persist) {
      this.cacheWrites = this.cacheWrites.then(() => this.writeCache(snapshot, changed));
    }
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

  private async readCache(): Promise<DirectorySnapshot | null> {
    const row = await this.options.db.get<{ snapshot: string; loaded_at: string }>(
      'SELECT snapshot, loaded_at FROM directory_cache WHERE source = ?',
      [CACHE_SOURCE],
    );
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
          const fromEnv = (source: string | null) =>
            source?.startsWith('env:') ? (this.env[source.slice(4)] ?? null) : null;
          const oauth2 = mailbox.oauth2
            ? {
                ...mailbox.oauth2,
                clientSecret: fromEnv(mailbox.oauth2.clientSecretSource),
                refreshToken: fromEnv(mailbox.oauth2.refreshTokenSource),
              }
            : null;
          const resolved = oauth2 ? { ...mailbox, oauth2 } : mailbox;
          return variable ? { ...resolved, password: this.env[variable] ?? null } : resolved;
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

  /** Never rejects: a copy that could not be saved is logged, and the next one is saved in full. */
  private async writeCache(snapshot: DirectorySnapshot, contentChanged: boolean): Promise<void> {
    try {
      if (!contentChanged && this.cacheSaved) {
        await this.options.db.run('UPDATE directory_cache SET loaded_at = ? WHERE source = ?', [
          snapshot.loadedAt,
          CACHE_SOURCE,
        ]);
        return;
      }
      const persisted: PersistedSnapshot = {
        format: 1,
        snapshot: {
          ...snapshot,
          // a password from the environment stays there
          // and so do the OAuth2 secrets (they come only from there)
          mailboxes: snapshot.mailboxes.map((mailbox) => ({
            ...mailbox,
            password: mailbox.passwordSource === 'directory' ? mailbox.password : null,
            ...(mailbox.oauth2
              ? { oauth2: { ...mailbox.oauth2, clientSecret: null, refreshToken: null } }
              : {}),
          })),
        },
      };
      this.cacheSaved = false;
      await this.options.db.run(
        `INSERT INTO directory_cache (source, snapshot, loaded_at) VALUES (?, ?, ?)
         ON CONFLICT (source) DO UPDATE SET snapshot = excluded.snapshot, loaded_at = excluded.loaded_at`,
        [CACHE_SOURCE, JSON.stringify(persisted), snapshot.loadedAt],
      );
      this.cacheSaved = true;
    } catch (error) {
      this.options.logger.error(
        { err: this.options.scrubber.describe(error) },
        'could not save the copy of the SeaTable directory',
      );
    }
  }

  // ---- writes ------------------------------------------------------------------------------------

  async setUserTelegramId(userKey: string, telegramId: number | null): Promise<void> {
    await this.record({ kind: 'user-telegram-id', userKey, telegramId });
  }

  async setUserActive(userKey: string, active: boolean): Promise<void> {
    await this.record({ kind: 'user-active', userKey, active });
  }

  /**
   * Registers `chatId` as the group titled `title` (exact, case-sensitive match after trimming).
   * The copy decides at once whether the title exists and is free; the lock is then written with
   * SeaTable's conditional write (only if the row is unlocked, has no id, or already has this id)
   * and read back. When SeaTable answers within `claimWaitMs` its word is final; otherwise the copy's
   * answer stands, and a later refusal undoes the registration and reaches `onWriteRejected`.
   */
  async claimGroup(title: string, chatId: number): Promise<GroupClaim> {
    if (!Number.isSafeInteger(chatId)) throw new Error(`${chatId} is not a Telegram chat id`);
    const wanted = title.trim();
    const titled = () => this.current.groups.filter((group) => group.title === wanted);
    let candidates = titled();
    if (candidates.length === 0) {
      // the admin may have added the row since the last refresh
      await this.refreshAfterMiss();
      candidates = titled();
    }
    const chosen =
      candidates.find((group) => group.locked && group.telegramId === chatId) ??
      candidates.find((group) => !lockedToAnother(group, chatId)) ??
      candidates[0];
    if (!chosen) return { outcome: 'unknown-title' };
    if (lockedToAnother(chosen, chatId)) return { outcome: 'locked-to-another-chat', group: chosen };
    const already = chosen.locked && chosen.telegramId === chatId;
    // SeaTable away a moment ago (the queue is backing off): the copy answers without waiting
    const waitMs = this.writeBack.waitingForRetry ? 0 : (this.options.claimWaitMs ?? 3000);
    const id = await this.record({ kind: 'claim-group', groupKey: chosen.key, title: chosen.title, chatId });
    this.claimsAwaited.add(id);
    const attempt = waitMs > 0 ? await this.writeBack.nextAttempt(id, waitMs) : null;
    this.claimsAwaited.delete(id);
    if (attempt?.kind === 'done' && attempt.result.outcome === 'rejected') {
      const group = attempt.result.group;
      return group ? { outcome: 'locked-to-another-chat', group } : { outcome: 'unknown-title' };
    }
    const group = this.current.groups.find((entry) => entry.key === chosen.key) ?? {
      ...chosen,
      telegramId: chatId,
      locked: true,
    };
    return { outcome: already ? 'already-registered' : 'registered', group };
  }

  async moveGroupChat(oldChatId: number, newChatId: number): Promise<void> {
    await this.record({ kind: 'move-group-chat', oldChatId, newChatId });
  }

  writesSettled(): Promise<void> {
    return this.writeBack.drained();
  }

  onWriteRejected(listener: (rejection: WriteRejection) => void): () => void {
    this.rejectionListeners.add(listener);
    for (const rejection of this.unheardRejections.splice(0)) this.tell(listener, rejection);
    return () => this.rejectionListeners.delete(listener);
  }

  /** Queues a change durably, then shows it in the copy (which listeners and intake see at once). */
  private async record(write: DirectoryWrite): Promise<number> {
    const id = await this.writeBack.enqueue(write);
    // in place: a write never triggers a full re-read (a read adopted meanwhile already shows it as
    // pending; applying it again changes nothing)
    this.adopt(applyWrite(this.current, write), true);
    return id;
  }

  /** A queued change left the queue: the copy follows what SeaTable decided. */
  private settled(entry: QueuedWrite, attempt: Exclude<WriteAttempt, { kind: 'deferred' }>): void {
    if (attempt.kind !== 'done') return;
    // SeaTable answered: an outage alert can be cleared without waiting for the next read
    this.markReachable();
    const { write } = entry;
    if (attempt.result.outcome === 'landed') {
      // a read in flight started before this landed: it must not put the old value back
      if (this.activeLoads > 0) this.landedDuringLoad.push(write);
      return;
    }
    if (write.kind !== 'claim-group') return;
    // the registration is undone: the row as SeaTable has it, later queued changes on top
    const refused = attempt.result.group;
    const groups = refused
      ? this.current.groups.map((group) =>
          group.key === write.groupKey
            ? { ...group, telegramId: refused.telegramId, locked: refused.locked, active: refused.active }
            : group,
        )
      : this.current.groups.filter((group) => group.key !== write.groupKey);
    this.adopt(applyWrites({ ...this.current, groups }, this.writeBack.pending()), true);
    this.options.logger.warn(
      { chatId: write.chatId, title: write.title, lockedTo: refused?.telegramId ?? null },
      'SeaTable refused a group registration confirmed from the copy; it is undone',
    );
    if (this.claimsAwaited.has(entry.id)) return; // the caller hears it from claimGroup
    const rejection: WriteRejection = {
      kind: 'group-claim',
      chatId: write.chatId,
      title: write.title,
      lockedTo: refused?.telegramId ?? null,
    };
    if (this.rejectionListeners.size === 0) this.unheardRejections.push(rejection);
    for (const listener of this.rejectionListeners) this.tell(listener, rejection);
  }

  private tell(listener: (rejection: WriteRejection) => void, rejection: WriteRejection): void {
    try {
      listener(rejection);
    } catch (error) {
      this.options.logger.error(
        { err: this.options.scrubber.describe(error) },
        'a listener for refused directory changes failed',
      );
    }
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
}
