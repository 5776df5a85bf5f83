/**
 * The leader lease: one row of `leader_lease` in the bot's PostgreSQL schema says which instance
 * leads, until when, and under which generation (the fencing token every write of the leader carries).
 *
 * Why a row with an expiry and not a session advisory lock: a leader frozen with SIGSTOP (or a VM
 * paused, a process stuck in swap) keeps its TCP connection and so its PostgreSQL session, and with
 * it a session lock, for as long as it is frozen: the standby would never take over. A row is only as
 * good as its last renewal: a frozen leader stops renewing and the lease expires on its own.
 *
 * Every time of the lease is the DATABASE's clock (`now()`), so instances with skewed clocks agree.
 * The holder also keeps a local deadline on the monotonic clock (the start of its last successful
 * renewal + the lease time − a margin): past it, it no longer counts itself the holder, whatever the
 * database would still say. CLOCK_MONOTONIC runs on while a process is stopped, so a leader woken with
 * SIGCONT knows it lost the lease before it does anything, without asking the database first. The
 * deadline is measured from the START of the renewal: the database extended the lease at some moment
 * after that start, so the local deadline always falls before the database's.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { performance } from 'node:perf_hooks';
import pg from 'pg';

/** The lease's table; engineer "pg"'s schema creates it, {@link createLeaderLeaseTable} in tests. */
export const LEADER_LEASE_TABLE = 'leader_lease';

/** The lease's row: one bot deployment has one leader (the PostgreSQL engine's fence checks this row). */
export const DEFAULT_LEASE_NAME = 'leader';

export interface LeaderLeaseOptions {
  /**
   * The pool the lease's statements run on. Give the lease a small pool of its own (max 2): a store
   * pool busy with long transactions must not delay a renewal past the lease's expiry.
   */
  pool: pg.Pool;
  /** The bot's PostgreSQL schema (where `leader_lease` is). */
  schema: string;
  /** Seconds a lease lasts after each renewal (LEASE_SECONDS). At least 2; the setting accepts 5 and up. */
  leaseSeconds: number;
  /** Which lease (row) to compete for. Default {@link DEFAULT_LEASE_NAME}. */
  name?: string;
  /** This instance's id in the row. Default: host, pid and a random part ({@link newHolderId}). */
  holder?: string;
  /**
   * How much earlier than the database's expiry the holder stops counting itself leader, ms: room for
   * clock rate differences and for the moment between its check and its action. Default: a fifth of
   * the lease, at least 1 s.
   */
  marginMs?: number;
  /** The monotonic clock, ms (tests may replace it). Default `performance.now()`. */
  monotonicNow?: () => number;
}

/** The lease as held by this instance. */
export interface HeldLease {
  /** The fencing token: bumped by every acquisition, so a former holder's writes can be refused. */
  generation: number;
  /** When the database lets the lease expire (ISO, the database's clock). */
  expiresAt: string;
  /**
   * Who held it before this acquisition and whether that lease had run out unrenewed (rather than
   * being released); null when the lease was never taken or the previous holder was this one.
   */
  previous?: { holder: string; expired: boolean } | null;
}

/** Who holds a lease now, as the database sees it (for `status` output and tests). */
export interface LeaseRow {
  holder: string;
  generation: number;
  expiresAt: string;
  renewedAt: string;
  /** Whether the lease has not yet expired by the database's clock. */
  valid: boolean;
}

/** The default margin of the local deadline: a fifth of the lease, at least 1 s. */
export function defaultMarginMs(leaseMs: number): number {
  return Math.max(1000, leaseMs / 5);
}

/**
 * Longest a lease statement may take (client side, and the server's `statement_timeout` for the
 * lease's pool): past the local deadline its answer is worthless anyway.
 */
export function leaseStatementTimeoutMs(leaseMs: number, marginMs = defaultMarginMs(leaseMs)): number {
  return Math.floor(leaseMs - marginMs);
}

/**
 * The lease's own small pool (so a store pool busy with long transactions cannot delay a renewal).
 * - `statement_timeout`: an acquisition that waits on the old leader's fenced write must not commit
 *   after we gave up on it (harmless then, the row names us and we take it again, but pointless).
 * - `idle_in_transaction_session_timeout` of the margin: a takeover holds the row FOR UPDATE across
 *   a few round trips; an instance frozen (or cut off) between them would otherwise keep that lock,
 *   and with it every renewal, fenced write and other takeover, until TCP gives up (hours).
 * - An error handler on every client: a connection the server ends while a client is checked out
 *   (a restart in the middle of a takeover) is an `'error'` event that would otherwise end the process.
 */
export function openLeasePool(url: string, leaseSeconds: number): pg.Pool {
  const leaseMs = leaseSeconds * 1000;
  const pool = new pg.Pool({
    connectionString: url,
    max: 2,
    connectionTimeoutMillis: Math.max(1000, Math.floor(leaseMs / 3)),
    idleTimeoutMillis: 0,
    keepAlive: true,
    application_name: 'superset-telegram-bot lease',
    statement_timeout: leaseStatementTimeoutMs(leaseMs),
    idle_in_transaction_session_timeout: Math.floor(defaultMarginMs(leaseMs)),
  });
  // an idle connection the server ended (restart): the pool drops it; the next renewal reconnects
  pool.on('error', () => undefined);
  // a checked-out client's: the statement in flight fails with it, and the client is released broken
  pool.on('connect', (client) => {
    client.on('error', () => undefined);
  });
  return pool;
}

/** A holder id that no other instance has: host, pid and a random part (a pid recurs in containers). */
export function newHolderId(): string {
  return `${hostname()}:${process.pid}:${randomBytes(4).toString('hex')}`;
}

/** `"schema"."leader_lease"`, quoted so any schema name is safe. */
export function leaseTableName(schema: string): string {
  return `${quoteIdentifier(schema)}.${quoteIdentifier(LEADER_LEASE_TABLE)}`;
}

/** A timestamptz as pg's default parser (Date) or the store's parsers (ISO text) give it. */
function isoTime(value: Date | string): string {
  return new Date(value).toISOString();
}

function quoteIdentifier(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * The table, for tests and tools that run without the bot's migrations; the PostgreSQL schema of the
 * store defines the same.
 */
export async function createLeaderLeaseTable(pool: pg.Pool, schema: string): Promise<void> {
  await pool.query(`CREATE SCHEMA IF NOT EXISTS ${quoteIdentifier(schema)}`);
  await pool.query(
    `CREATE TABLE IF NOT EXISTS ${leaseTableName(schema)} (
       name text PRIMARY KEY,
       holder text NOT NULL,
       generation bigint NOT NULL,
       expires_at timestamptz NOT NULL,
       renewed_at timestamptz NOT NULL
     )`,
  );
}

export class LeaderLease {
  readonly holder: string;
  readonly name: string;
  readonly leaseMs: number;
  private readonly marginMs: number;
  private readonly table: string;
  private readonly monotonicNow: () => number;
  private held: HeldLease | null = null;
  /** Monotonic ms past which this instance no longer counts itself the holder. */
  private localDeadline = Number.NEGATIVE_INFINITY;

  constructor(private readonly options: LeaderLeaseOptions) {
    if (!(options.leaseSeconds >= 2)) throw new RangeError('leaseSeconds must be at least 2');
    this.holder = options.holder ?? newHolderId();
    this.name = options.name ?? DEFAULT_LEASE_NAME;
    this.leaseMs = options.leaseSeconds * 1000;
    this.marginMs = options.marginMs ?? defaultMarginMs(this.leaseMs);
    if (this.marginMs >= this.leaseMs) throw new RangeError('marginMs must be shorter than the lease');
    this.table = leaseTableName(options.schema);
    this.monotonicNow = options.monotonicNow ?? (() => performance.now());
  }

  /**
   * The generation this instance holds, while its local deadline has not passed; otherwise null.
   * Synchronous and without the database: callers check it right before acting as leader.
   */
  get generation(): number | null {
    return this.isHeld() ? (this.held?.generation ?? null) : null;
  }

  /** Whether this instance holds the lease by its own monotonic deadline. */
  isHeld(): boolean {
    return this.held !== null && this.monotonicNow() < this.localDeadline;
  }

  /** Milliseconds until the local deadline (negative when past; -Infinity when not held). */
  msUntilDeadline(): number {
    return this.held ? this.localDeadline - this.monotonicNow() : Number.NEGATIVE_INFINITY;
  }

  /**
   * Takes the lease when it is free, expired or already ours, bumping its generation; resolves with
   * the lease, or null when another instance holds a valid one. Database errors are thrown (the caller
   * tries again at its next turn).
   */
  async tryAcquire(): Promise<HeldLease | null> {
    const started = this.monotonicNow();
    const result = await this.takeoverTransaction<{
      generation: string;
      expires_at: Date | string;
      previous_holder: string | null;
      previous_renewed_at: Date | string | null;
      previous_expires_at: Date | string | null;
    }>(
      // the CTE reads the row as it was before this statement (for the takeover's log and alert)
      `WITH previous AS (SELECT holder, renewed_at, expires_at FROM ${this.table} WHERE name = $1)
       INSERT INTO ${this.table} AS lease (name, holder, generation, expires_at, renewed_at)
       VALUES ($1, $2, 1, now() + make_interval(secs => $3), now())
       ON CONFLICT (name) DO UPDATE
         SET holder = excluded.holder, generation = lease.generation + 1,
             expires_at = excluded.expires_at, renewed_at = excluded.renewed_at
         WHERE lease.expires_at <= now() OR lease.holder = excluded.holder
       RETURNING generation, lease.expires_at,
         (SELECT holder FROM previous) AS previous_holder,
         (SELECT renewed_at FROM previous) AS previous_renewed_at,
         (SELECT expires_at FROM previous) AS previous_expires_at`,
      [this.name, this.holder, this.leaseMs / 1000],
    );
    const row = result.rows[0];
    if (!row) return null;
    const previous =
      row.previous_holder !== null && row.previous_holder !== this.holder
        ? {
            holder: row.previous_holder,
            // released = made to expire at its last moment; run out = expired a whole lease after a renewal
            expired:
              row.previous_renewed_at !== null &&
              row.previous_expires_at !== null &&
              new Date(row.previous_expires_at).getTime() > new Date(row.previous_renewed_at).getTime(),
          }
        : null;
    this.held = { generation: Number(row.generation), expiresAt: isoTime(row.expires_at), previous };
    this.localDeadline = started + this.leaseMs - this.marginMs;
    return { ...this.held };
  }

  /**
   * Extends the lease by the lease time from the database's now, only while this holder and this
   * generation still hold it unexpired. Resolves true when extended; false when the lease is lost
   * (taken, released, expired): then this instance is no longer the holder. Database errors are
   * thrown and change nothing: the local deadline stays where the last renewal put it.
   */
  async renew(): Promise<boolean> {
    const held = this.held;
    if (!held) return false;
    const started = this.monotonicNow();
    const result = await this.query<{ expires_at: Date | string }>(
      `UPDATE ${this.table}
         SET expires_at = now() + make_interval(secs => $4), renewed_at = now()
       WHERE name = $1 AND holder = $2 AND generation = $3 AND expires_at > now()
       RETURNING expires_at`,
      [this.name, this.holder, held.generation, this.leaseMs / 1000],
    );
    // released or re-acquired meanwhile: this answer is about a lease no longer held
    if (this.held !== held) return this.held !== null;
    const row = result.rows[0];
    if (!row) {
      this.forget();
      return false;
    }
    held.expiresAt = isoTime(row.expires_at);
    this.localDeadline = started + this.leaseMs - this.marginMs;
    return true;
  }

  /**
   * Gives the lease up at once (clean shutdown) by letting it expire now: a standby takes over at its
   * next try instead of waiting, and the fence refuses this generation from now on. Only our own,
   * unchanged lease is touched; the holder stays in the row (the last one, for `status`).
   */
  async release(): Promise<void> {
    const held = this.held;
    this.forget();
    if (!held) return;
    await this.query(
      // renewed_at = expires_at marks a release (a lease that ran out has expires_at a lease later)
      `UPDATE ${this.table} SET expires_at = now(), renewed_at = now()
       WHERE name = $1 AND holder = $2 AND generation = $3`,
      [this.name, this.holder, held.generation],
    );
  }

  /** Stops counting this instance as the holder (locally; the row expires on its own). */
  forget(): void {
    this.held = null;
    this.localDeadline = Number.NEGATIVE_INFINITY;
  }

  /**
   * Milliseconds until the lease, held by anyone, runs out by the database's clock: 0 when it is free
   * or expired. A standby sleeps this long (at most its usual interval) before its next try, so it
   * takes over right when a dead leader's lease runs out.
   */
  async msUntilExpiry(): Promise<number> {
    const result = await this.query<{ remaining_ms: number | string | null }>(
      `SELECT greatest(0, extract(epoch FROM expires_at - now()) * 1000) AS remaining_ms
       FROM ${this.table} WHERE name = $1`,
      [this.name],
    );
    return Math.ceil(Number(result.rows[0]?.remaining_ms ?? 0));
  }

  /** The lease's row as the database sees it now, or null when no instance ever took it. */
  async read(): Promise<LeaseRow | null> {
    const result = await this.query<{
      holder: string;
      generation: string;
      expires_at: Date | string;
      renewed_at: Date | string;
      valid: boolean;
    }>(
      `SELECT holder, generation, expires_at, renewed_at, expires_at > now() AS valid
       FROM ${this.table} WHERE name = $1`,
      [this.name],
    );
    const row = result.rows[0];
    if (!row) return null;
    return {
      holder: row.holder,
      generation: Number(row.generation),
      expiresAt: isoTime(row.expires_at),
      renewedAt: isoTime(row.renewed_at),
      // as a pool with the store's type parsers gives it, or pg's default
      valid: row.valid === true || (row.valid as unknown) === 1,
    };
  }

  /**
   * The acquisition's upsert in a transaction that first locks the row FOR UPDATE: that waits for the
   * writes in flight, which checked the fence under FOR KEY SHARE, so none of the old generation commits
   * after the new one exists. (The upsert alone would not wait: it changes no key column, and neither
   * does a renewal, which so never waits for the leader's own writes.)
   */
  private async takeoverTransaction<Row extends pg.QueryResultRow>(
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<Row>> {
    const query_timeout = leaseStatementTimeoutMs(this.leaseMs, this.marginMs);
    const client = await this.options.pool.connect();
    let broken: Error | undefined;
    try {
      await client.query('BEGIN');
      await client.query({
        text: `SELECT 1 FROM ${this.table} WHERE name = $1 FOR UPDATE`,
        values: [this.name],
        query_timeout,
      } as pg.QueryConfig);
      const result = await client.query<Row>({ text, values, query_timeout } as pg.QueryConfig);
      await client.query('COMMIT');
      return result;
    } catch (error) {
      broken = error instanceof Error ? error : new Error(String(error));
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      // a connection that failed mid-transaction is not handed out again
      client.release(broken);
    }
  }

  private query<Row extends pg.QueryResultRow>(
    text: string,
    values: unknown[],
  ): Promise<pg.QueryResult<Row>> {
    // a statement stuck on a dead connection must not outlive the lease it is about
    // (pg reads `query_timeout` from the query's config too; its types only know the client option)
    const config: pg.QueryConfig & { query_timeout: number } = {
      text,
      values,
      query_timeout: leaseStatementTimeoutMs(this.leaseMs, this.marginMs),
    };
    return this.options.pool.query<Row>(config);
  }
}
