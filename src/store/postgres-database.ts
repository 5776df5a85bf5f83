/**
 * The PostgreSQL engine of {@link SqlDatabase} (`DATABASE_URL`), on the `pg` driver with a pool.
 *
 * - `?` parameters are numbered `$1…` (a `?` inside a quoted string, identifier or comment stays).
 * - bigint/numeric results are JS numbers when exact (ids, counts, epoch milliseconds), booleans are
 *   1/0 and timestamptz values ISO text, as SQLite gives them; bytea is a Buffer both ways.
 * - Every write is in a transaction that first takes one transaction-level advisory lock: write
 *   transactions run one at a time across all instances, as strict as SQLite's single writer (a
 *   read-then-write inside a transaction sees no other writer in between). A single `run` outside a
 *   transaction is such a transaction of its own.
 * - With a fence ({@link setFence}), each write transaction then checks under `FOR KEY SHARE` that the
 *   fence's generation still holds the leader lease (`leader_lease`), so a takeover (an UPDATE of that
 *   row) waits for the writes in flight and every later write of the old leader is refused.
 * - Each session has `idle_in_transaction_session_timeout`: a frozen process (SIGSTOP) loses its
 *   transaction and its locks after that time instead of holding them forever.
 * - A connection failure is a {@link StateUnavailableError}; the pool reconnects by itself.
 * - The URL (it holds the password) appears in no error text.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';
import {
  FencedError,
  type SqlDatabase,
  type SqlRunResult,
  type SqlValue,
  StateUnavailableError,
} from './sql-database.js';

/** The schema the bot's tables live in unless DATABASE_SCHEMA says otherwise. */
export const DEFAULT_POSTGRES_SCHEMA = 'superset_telegram_bot';

/** The `leader_lease` row the fence checks (the lease logic writes it). */
export const LEADER_LEASE_NAME = 'leader';

/** First key of the two-key advisory locks; the second is a hash of the schema name. */
export const WRITE_LOCK_CLASS = 0x53544201;
export const MIGRATION_LOCK_CLASS = 0x53544202;

export interface PostgresDatabaseOptions {
  /** `postgres://user:password@host:port/database` (a secret: never logged, never in an error). */
  url: string;
  /** The schema of the bot's tables (default {@link DEFAULT_POSTGRES_SCHEMA}); any name, quoted. */
  schema?: string;
  /**
   * How long a session may sit idle inside an open transaction before the server ends it (default
   * 10 s). The leader passes LEASE_SECONDS: a frozen leader's locks go when its lease does.
   */
  idleInTransactionTimeoutMs?: number;
  /** Longest statement, waiting for the write lock included (default 60 s). */
  statementTimeoutMs?: number;
  /** Longest wait for a new connection (default 10 s). */
  connectTimeoutMs?: number;
  /** Most connections this instance holds (default 10). */
  poolSize?: number;
  /** Shown in `pg_stat_activity` (default `superset-telegram-bot`). */
  applicationName?: string;
}

interface OpenTransaction {
  client: pg.PoolClient;
  savepoints: number;
}

/** Quotes an identifier for SQL (`"…"`, inner quotes doubled). */
export function quoteIdentifier(name: string): string {
  if (name.includes('\0')) throw new Error('an SQL identifier cannot contain a NUL character');
  return `"${name.replaceAll('"', '""')}"`;
}

/** A stable 32-bit signed hash of a text (FNV-1a), the second key of the advisory locks. */
export function lockKey(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return hash | 0;
}

const placeholderCache = new Map<string, string>();

/**
 * `?` → `$1`, `$2`, … outside single-quoted strings, double-quoted identifiers, dollar-quoted strings
 * and comments.
 */
export function numberPlaceholders(sql: string): string {
  const cached = placeholderCache.get(sql);
  if (cached !== undefined) return cached;
  let out = '';
  let index = 0;
  let i = 0;
  while (i < sql.length) {
    const char = sql[i] as string;
    if (char === "'" || char === '"') {
      const end = closingQuote(sql, i, char);
      out += sql.slice(i, end);
      i = end;
    } else if (char === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (char === '/' && sql[i + 1] === '*') {
      const end = sql.indexOf('*/', i + 2);
      const stop = end === -1 ? sql.length : end + 2;
      out += sql.slice(i, stop);
      i = stop;
    } else if (char === '$' && /^\$[A-Za-z_]*\$/.test(sql.slice(i)) && !/[\w$]/.test(sql[i - 1] ?? '')) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))?.[0] as string;
      const end = sql.indexOf(tag, i + tag.length);
      const stop = end === -1 ? sql.length : end + tag.length;
      out += sql.slice(i, stop);
      i = stop;
    } else if (char === '?') {
      out += `$${++index}`;
      i++;
    } else {
      out += char;
      i++;
    }
  }
  if (placeholderCache.size > 1000) placeholderCache.clear();
  placeholderCache.set(sql, out);
  return out;
}

/** The index just past the quote closing the one at `start` (a doubled quote is an escaped one). */
function closingQuote(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}

const BUILTIN_TYPES = pg.types;
const parseTimestamptz = BUILTIN_TYPES.getTypeParser(BUILTIN_TYPES.builtins.TIMESTAMPTZ, 'text');

/** Result types as SQLite gives them: numbers, 1/0, ISO text. */
const typeParsers = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (format === 'binary') return BUILTIN_TYPES.getTypeParser(oid, 'binary');
    switch (oid) {
      case BUILTIN_TYPES.builtins.INT8:
        return (value: string) => {
          const number = Number(value);
          return Number.isSafeInteger(number) ? number : value;
        };
      case BUILTIN_TYPES.builtins.NUMERIC:
        return (value: string) => {
          const number = Number(value);
          return Number.isFinite(number) && (!Number.isInteger(number) || Number.isSafeInteger(number))
            ? number
            : value;
        };
      case BUILTIN_TYPES.builtins.BOOL:
        return (value: string) => (value === 't' ? 1 : 0);
      case BUILTIN_TYPES.builtins.TIMESTAMPTZ:
        return (value: string) => {
          const date = parseTimestamptz(value) as Date;
          return Number.isNaN(date.getTime()) ? value : date.toISOString();
        };
      default:
        return BUILTIN_TYPES.getTypeParser(oid, 'text');
    }
  },
} as pg.CustomTypesConfig;

/** Error codes of the socket and of the server that mean "unreachable now, try later". */
const UNAVAILABLE_SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ENOENT',
]);
const UNAVAILABLE_SERVER_CODES = new Set([
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '53300', // too_many_connections
  '25P03', // idle_in_transaction_session_timeout: our session was ended
  '57014', // query_canceled: statement_timeout (e.g. waiting for the write lock)
  '55P03', // lock_not_available
  '40001', // serialization_failure
  '40P01', // deadlock_detected
]);
const UNAVAILABLE_MESSAGES =
  /Connection terminated|not queryable|connection error|timeout exceeded when trying to connect|Client was closed|Connection timed out|terminating connection|Query read timeout/i;

/** Whether an error of the driver means the database cannot be reached (rather than a bad statement). */
export function isUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (UNAVAILABLE_SOCKET_CODES.has(code) || UNAVAILABLE_SERVER_CODES.has(code)) return true;
    if (code.startsWith('08')) return true;
  }
  if (error instanceof AggregateError) return error.errors.some(isUnavailable);
  return UNAVAILABLE_MESSAGES.test(error.message);
}

export class PostgresDatabase implements SqlDatabase {
  readonly engine = 'postgres' as const;
  readonly schema: string;
  /** `host:port/database`, for messages (no user, no password). */
  readonly location: string;
  private readonly pool: pg.Pool;
  private readonly open = new AsyncLocalStorage<OpenTransaction>();
  private readonly secrets: string[];
  private readonly writeLockKey: number;
  private fence: number | null = null;
  private closed = false;

  constructor(options: PostgresDatabaseOptions) {
    this.schema = options.schema ?? DEFAULT_POSTGRES_SCHEMA;
    this.writeLockKey = lockKey(this.schema);
    const parsed = parseUrl(options.url);
    this.location = parsed.location;
    this.secrets = parsed.secrets;
    // the startup packet's options: a backslash escapes a space or a backslash
    const searchPath = quoteIdentifier(this.schema).replace(/[\\ ]/g, '\\$&');
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 10_000,
      idleTimeoutMillis: 30_000,
      keepAlive: true,
      application_name: options.applicationName ?? 'superset-telegram-bot',
      statement_timeout: options.statementTimeoutMs ?? 60_000,
      // the server enforces statement_timeout only while it answers: a server gone silent (powered off,
      // a partition that drops packets) is noticed by the client's own timeout and TCP keep-alives
      query_timeout: (options.statementTimeoutMs ?? 60_000) + 10_000,
      keepAliveInitialDelayMillis: 10_000,
      idle_in_transaction_session_timeout: options.idleInTransactionTimeoutMs ?? 10_000,
      options: `-c search_path=${searchPath}`,
      types: typeParsers,
    });
    // an idle client whose server went away: the pool drops it; nothing to crash over
    this.pool.on('error', () => undefined);
    // a checked-out client's connection error comes as an event too; the query in flight fails with it
    this.pool.on('connect', (client) => {
      client.on('error', () => undefined);
    });
  }

  /** The fence in force (the lease generation writes must hold), or null. */
  get fenceGeneration(): number | null {
    return this.fence;
  }

  async all<T>(sql: string, params: readonly SqlValue[] = []): Promise<T[]> {
    return (await this.query<T>(sql, params)).rows;
  }

  async get<T>(sql: string, params: readonly SqlValue[] = []): Promise<T | undefined> {
    return (await this.query<T>(sql, params)).rows[0];
  }

  async run(sql: string, params: readonly SqlValue[] = []): Promise<SqlRunResult> {
    return { changes: (await this.query(sql, params)).rowCount ?? 0 };
  }

  async exec(sql: string): Promise<void> {
    const open = this.open.getStore();
    if (open) {
      await this.send(open.client, sql);
      return;
    }
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await this.send(client, sql);
    } catch (error) {
      if (error instanceof StateUnavailableError) broken = error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  async transaction<T>(work: () => Promise<T>): Promise<T> {
    const outer = this.open.getStore();
    if (outer) return this.savepoint(outer, work);
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await this.send(client, 'BEGIN');
      await this.send(client, 'SELECT pg_advisory_xact_lock($1, $2)', [WRITE_LOCK_CLASS, this.writeLockKey]);
      const fence = this.fence;
      if (fence !== null) await this.checkFence(client, fence);
      const result = await this.open.run({ client, savepoints: 0 }, work);
      const commit = await this.send(client, 'COMMIT');
      // COMMIT of a transaction that failed inside (an error the work caught) is a rollback
      if (commit.command === 'ROLLBACK') {
        throw new Error('the transaction was rolled back: a statement inside it failed');
      }
      return result;
    } catch (error) {
      try {
        await client.query('ROLLBACK');
      } catch (rollbackError) {
        broken = rollbackError as Error;
      }
      if (error instanceof StateUnavailableError) broken = error;
      throw error;
    } finally {
      client.release(broken);
    }
  }

  /**
   * Runs `work` on one pooled session of its own, outside the write lock and the fence (migrations,
   * the lease itself): `query` runs plain SQL (`$1` parameters) and returns the rows.
   */
  async withClient<T>(
    work: (query: (sql: string, params?: unknown[]) => Promise<Record<string, unknown>[]>) => Promise<T>,
  ): Promise<T> {
    const client = await this.connect();
    let broken: Error | undefined;
    const query = async (sql: string, params: unknown[] = []) => {
      try {
        return (await client.query(sql, params)).rows as Record<string, unknown>[];
      } catch (error) {
        const translated = this.translate(error);
        if (translated instanceof StateUnavailableError) broken = translated;
        throw translated;
      }
    };
    try {
      return await work(query);
    } finally {
      client.release(broken);
    }
  }

  setFence(generation: number | null): void {
    this.fence = generation;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** A statement: in the open transaction of this call chain, else a read on the pool or a write alone. */
  private async query<T>(
    sql: string,
    params: readonly SqlValue[],
  ): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
    const open = this.open.getStore();
    if (open) return this.send<T>(open.client, sql, params);
    if (isWrite(sql)) return this.transaction(() => this.query<T>(sql, params));
    try {
      return await this.pool.query<T & pg.QueryResultRow>(numberPlaceholders(sql), params as SqlValue[]);
    } catch (error) {
      throw this.translate(error);
    }
  }

  private async send<T = pg.QueryResultRow>(
    client: pg.PoolClient,
    sql: string,
    params: readonly SqlValue[] = [],
  ): Promise<pg.QueryResult<T & pg.QueryResultRow>> {
    try {
      return params.length === 0 && !sql.includes('?')
        ? await client.query<T & pg.QueryResultRow>(sql)
        : await client.query<T & pg.QueryResultRow>(numberPlaceholders(sql), params as SqlValue[]);
    } catch (error) {
      throw this.translate(error);
    }
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (error) {
      throw this.translate(error);
    }
  }

  private async checkFence(client: pg.PoolClient, generation: number): Promise<void> {
    const held = await this.send(
      client,
      // KEY SHARE: the leader's renewal (no key column changed) need not wait for its own writes; a
      // takeover locks the row FOR UPDATE first, and so waits for them
      'SELECT generation FROM leader_lease WHERE name = $1 AND generation = $2 AND expires_at > now() FOR KEY SHARE',
      [LEADER_LEASE_NAME, generation],
    );
    if (held.rows.length === 0) throw new FencedError(generation);
  }

  private async savepoint<T>(outer: OpenTransaction, work: () => Promise<T>): Promise<T> {
    const name = `nested_${++outer.savepoints}`;
    await this.send(outer.client, `SAVEPOINT ${name}`);
    try {
      const result = await work();
      await this.send(outer.client, `RELEASE SAVEPOINT ${name}`);
      return result;
    } catch (error) {
      if (!(error instanceof StateUnavailableError)) {
        await this.send(outer.client, `ROLLBACK TO SAVEPOINT ${name}`);
        await this.send(outer.client, `RELEASE SAVEPOINT ${name}`);
      }
      throw error;
    }
  }

  /** The driver's error as the seam's: unavailable → StateUnavailableError; never the password. */
  private translate(error: unknown): Error {
    if (error instanceof StateUnavailableError || error instanceof FencedError) return error;
    const detail = this.scrub(describe(error));
    if (isUnavailable(error)) {
      return new StateUnavailableError(`PostgreSQL at ${this.location} is unavailable: ${detail}`, {
        cause: error,
      });
    }
    if (error instanceof Error && error.message === detail) return error;
    const scrubbed = new Error(detail, { cause: error });
    Object.assign(scrubbed, { code: (error as { code?: unknown }).code });
    return scrubbed;
  }

  private scrub(text: string): string {
    let out = text;
    for (const secret of this.secrets) out = out.split(secret).join('[REDACTED]');
    return out;
  }
}

function describe(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) {
    return error.errors.map(describe).join('; ');
  }
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && !error.message.includes(code)
    ? `${error.message} (${code})`
    : error.message;
}

/** A statement that writes (and so needs the write lock and the fence). */
function isWrite(sql: string): boolean {
  return !/^\s*(SELECT|WITH\s+(?![\s\S]*\b(INSERT|UPDATE|DELETE)\b)|SHOW|EXPLAIN|VALUES)\b/i.test(sql);
}

/** The printable location of a URL and the texts that must never be shown (password, whole URL). */
function parseUrl(url: string): { location: string; secrets: string[] } {
  const secrets = [url];
  try {
    const parsed = new URL(url);
    const password = parsed.password || parsed.searchParams.get('password') || '';
    if (password) {
      secrets.push(password);
      try {
        secrets.push(decodeURIComponent(password));
      } catch {
        // as written only
      }
    }
    const database = parsed.pathname.replace(/^\//, '') || '(default)';
    return {
      location: `${parsed.hostname || 'localhost'}:${parsed.port || '5432'}/${decodeURIComponent(database)}`,
      secrets: [...new Set(secrets.filter((secret) => secret.length >= 4))].sort(
        (a, b) => b.length - a.length,
      ),
    };
  } catch {
    return { location: '(unparsable DATABASE_URL)', secrets };
  }
}
