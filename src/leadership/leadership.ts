/**
 * Leadership as the composition root (app.ts) sees it: one object that says whether this instance is
 * the leader, starts and stops the leader's work on the changes, and shows the role to /readyz,
 * /healthz and /metrics.
 *
 * - {@link LeaseLeadership} (DATABASE_URL set): instances compete for the lease row in PostgreSQL
 *   ({@link LeaderLease}, {@link LeaderRole}); the lease has its own small pool, so a store pool busy
 *   with long transactions cannot delay a renewal.
 * - {@link SoleLeadership} (SQLite): the instance lock on DATA_DIR already makes this the only bot; it
 *   is the leader from start to stop.
 */
import type pg from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { AdminAlerts } from '../observability/admin-alerts.js';
import type { Logger } from '../observability/logger.js';
import { LeaderLease, openLeasePool } from './leader-lease.js';
import { type FencedDatabase, LeaderRole, type Role, type RoleEvent } from './leader-role.js';

export type { Role } from './leader-role.js';

export interface Leadership {
  /** `leader` or `standby`, for /readyz, /healthz and the metrics. */
  readonly role: Role;
  /**
   * Whether this instance may act as leader right now (synchronous; false the moment the local lease
   * deadline passes). The leader's work checks it right before each outside action.
   */
  isLeader(): boolean;
  /** Starts (competing for) the leadership; the leader's work starts when this instance leads. */
  start(): void;
  /** A store write failed: if it was refused by the fence, step down at once. Any error may be passed. */
  reportFenced(error: unknown): void;
  /** Stops the leader's work (if running) and gives the leadership up (a standby takes over at once). */
  stop(): Promise<void>;
  /** Adds `stb_leader` (1 leader, 0 standby) and `stb_leader_generation` to the registry. */
  registerMetrics(registry: Registry): void;
}

/** What the leader runs, started and stopped by the leadership. */
export interface LeaderWork {
  /** Starts the leader's work (IMAP listeners, dispatcher, Telegram polling) under this lease generation. */
  startLeaderWork: (generation: number) => Promise<void>;
  /** Stops it at once (the request in flight may end, nothing new starts). */
  stopLeaderWork: () => Promise<void>;
}

export interface LeaseLeadershipOptions extends LeaderWork {
  /** DATABASE_URL (a secret: never logged, never in an error text here). */
  url: string;
  /** DATABASE_SCHEMA: where `leader_lease` is. */
  schema: string;
  /** LEASE_SECONDS. */
  leaseSeconds: number;
  /** The store, fenced to the lease's generation while this instance leads. */
  db: FencedDatabase;
  logger: Logger;
  /** The admin chat hears of a failover (the new leader tells). */
  alerts?: AdminAlerts;
  /**
   * The leader's work threw while stopping: it may still be running, so this process should exit
   * (like a lost DATA_DIR lock). Default: only logged.
   */
  onStopFailed?: (error: unknown) => void;
  /** Overrides for tests: the lease's holder id and the interval between tries/renewals, ms. */
  holder?: string;
  intervalMs?: number;
}

export class LeaseLeadership implements Leadership {
  readonly lease: LeaderLease;
  private readonly leaderRole: LeaderRole;
  private readonly pool: pg.Pool;
  private leaseFailing = false;

  constructor(private readonly options: LeaseLeadershipOptions) {
    this.pool = openLeasePool(options.url, options.leaseSeconds);
    this.lease = new LeaderLease({
      pool: this.pool,
      schema: options.schema,
      leaseSeconds: options.leaseSeconds,
      ...(options.holder ? { holder: options.holder } : {}),
    });
    this.leaderRole = new LeaderRole({
      lease: this.lease,
      db: options.db,
      startLeaderWork: options.startLeaderWork,
      stopLeaderWork: options.stopLeaderWork,
      onEvent: (event) => this.observe(event),
      ...(options.intervalMs ? { intervalMs: options.intervalMs } : {}),
    });
  }

  get role(): Role {
    return this.leaderRole.role;
  }

  isLeader(): boolean {
    return this.leaderRole.isLeader();
  }

  start(): void {
    this.options.logger.info(
      { holder: this.lease.holder, leaseSeconds: this.options.leaseSeconds },
      'competing for the leader lease',
    );
    this.leaderRole.start();
  }

  reportFenced(error: unknown): void {
    this.leaderRole.reportFenced(error);
  }

  async stop(): Promise<void> {
    await this.leaderRole.stop();
    await this.pool.end();
  }

  registerMetrics(registry: Registry): void {
    registerLeadershipMetrics(registry, this, () => this.leaderRole.leaderGeneration);
  }

  /** Logs every change; the new leader tells the admin chat of a failover. */
  private observe(event: RoleEvent): void {
    const { logger, alerts } = this.options;
    const holder = this.lease.holder;
    switch (event.type) {
      case 'acquired': {
        logger.info({ holder, generation: event.generation, previous: event.previous }, 'leading now');
        if (event.previous?.expired) {
          alerts?.raise(
            `leader-takeover:${event.generation}`,
            `Failover: ${holder} took over as leader (lease generation ${event.generation}); the previous leader ${event.previous.holder} stopped renewing its lease (stopped, frozen or cut off from PostgreSQL). Deliveries go on where it stopped.`,
          );
        }
        return;
      }
      case 'stepping-down':
        (event.reason === 'shutdown' ? logger.info.bind(logger) : logger.warn.bind(logger))(
          {
            holder,
            generation: event.generation,
            reason: event.reason,
            ...(event.error instanceof Error ? { err: event.error.message } : {}),
          },
          'no longer leader: stopping the leader work',
        );
        return;
      case 'stepped-down':
        logger.info({ holder, generation: event.generation, reason: event.reason }, 'standing by');
        return;
      case 'lease-error':
        // once per outage at warn level: a standby tries every few seconds
        if (!this.leaseFailing || event.role === 'leader') {
          logger.warn(
            { holder, role: event.role, err: describeLeaseError(event.error) },
            event.role === 'leader'
              ? 'could not renew the leader lease; trying again until the lease runs out'
              : 'could not reach PostgreSQL for the leader lease; trying again',
          );
        }
        this.leaseFailing = true;
        return;
      case 'lease-recovered':
        this.leaseFailing = false;
        logger.info({ holder, role: event.role }, 'PostgreSQL answers the leader lease again');
        return;
      case 'stop-failed':
        logger.error({ holder, err: describeLeaseError(event.error) }, 'the leader work failed to stop');
        this.options.onStopFailed?.(event.error);
        return;
    }
  }
}

/**
 * The error's message and code without anything of the URL: pg's errors quote the server, not the
 * connection string, but a DNS error names the host, which is fine.
 */
function describeLeaseError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' ? `${error.message} (${code})` : error.message;
}

/** SQLite: this process is the only bot (the DATA_DIR lock); it leads from start to stop. */
export class SoleLeadership implements Leadership {
  private running = false;
  private starting: Promise<void> | null = null;

  constructor(private readonly work: LeaderWork) {}

  get role(): Role {
    return this.running ? 'leader' : 'standby';
  }

  isLeader(): boolean {
    return this.running;
  }

  start(): void {
    this.running = true;
    this.starting = this.work.startLeaderWork(0);
  }

  /** Startup of the leader work, for the caller to await (errors included). */
  get started(): Promise<void> {
    return this.starting ?? Promise.resolve();
  }

  reportFenced(): void {
    // SQLite has no fence
  }

  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    await this.starting?.catch(() => undefined);
    await this.work.stopLeaderWork();
  }

  registerMetrics(registry: Registry): void {
    registerLeadershipMetrics(registry, this, () => null);
  }
}

/**
 * `stb_leader` 1/0 rather than a `role` label on every metric: a label that changes at a failover
 * would split every counter's series in two, and a standby's counters stand still anyway. Join on the
 * instance when a query needs it (`… * on(instance) group_left stb_leader`).
 */
function registerLeadershipMetrics(
  registry: Registry,
  leadership: Pick<Leadership, 'role'>,
  generation: () => number | null,
): void {
  new Gauge({
    name: 'stb_leader',
    help: '1 while this instance is the leader (sends reports), 0 while it stands by.',
    registers: [registry],
    collect() {
      this.set(leadership.role === 'leader' ? 1 : 0);
    },
  });
  new Gauge({
    name: 'stb_leader_generation',
    help: 'The leader lease generation this instance leads under (PostgreSQL; 0 while standing by): a change is a failover.',
    registers: [registry],
    collect() {
      this.set(generation() ?? 0);
    },
  });
}
