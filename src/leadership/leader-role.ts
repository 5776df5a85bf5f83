/**
 * Leader or standby: the state machine around the {@link LeaderLease}. A standby tries to take the
 * lease every third of the lease time; once it has it, it sets the database's fence to the lease's
 * generation and starts the leader's work (IMAP listeners, dispatcher, Telegram polling). The leader
 * renews every third of the lease time. It steps down — stops the leader's work at once, lifts the
 * fence only once everything has stopped, and competes again — when
 * - a renewal finds the lease taken, released or expired,
 * - its local monotonic deadline passes without a successful renewal (the database unreachable, or
 *   the process was frozen),
 * - any component reports a {@link FencedError} ({@link LeaderRole.reportFenced}).
 * On {@link LeaderRole.stop} (clean shutdown) it stops the work and releases the lease, so a standby
 * takes over at its next try instead of after the expiry.
 *
 * A standby that finds the lease held asks the database when it runs out and tries again right then
 * (or after a third of the lease, whichever comes first): the lease runs out at most LEASE_SECONDS after
 * the leader's last renewal, which came before its death, so the standby takes over within
 * LEASE_SECONDS of the death (plus one query).
 */
import { FencedError } from '../store/sql-database.js';
import type { HeldLease, LeaderLease } from './leader-lease.js';

/** What an instance is now. */
export type Role = 'leader' | 'standby';

/** Why a leader stepped down. */
export type StepDownReason =
  /** a renewal found the lease taken, released or expired */
  | 'lease-lost'
  /** the local deadline passed without a successful renewal (database unreachable, process frozen) */
  | 'deadline-passed'
  /** a component's write was refused by the fence */
  | 'fenced'
  /** the leader's work failed to start */
  | 'start-failed'
  /** clean shutdown */
  | 'shutdown';

/** What happened, for logs, metrics and the admin chat. */
export type RoleEvent =
  | {
      type: 'acquired';
      generation: number;
      holder: string;
      /** The holder before, and whether its lease ran out unrenewed (a failover) or was released. */
      previous: { holder: string; expired: boolean } | null;
    }
  | { type: 'stepping-down'; generation: number; reason: StepDownReason; error?: unknown }
  | { type: 'stepped-down'; generation: number; reason: StepDownReason }
  /** a renewal or an acquisition attempt could not reach the database (the leader stays leader until its deadline) */
  | { type: 'lease-error'; role: Role; error: unknown }
  /** the first successful lease statement after lease errors */
  | { type: 'lease-recovered'; role: Role }
  /** the leader's work threw while stopping: the fence stays on its generation, and this instance competes no more */
  | { type: 'stop-failed'; generation: number; error: unknown };

/** The database whose writes are fenced (`SqlDatabase.setFence`). */
export interface FencedDatabase {
  setFence(generation: number | null): void;
}

export interface LeaderRoleOptions {
  lease: LeaderLease;
  db: FencedDatabase;
  /**
   * Starts what only the leader runs. Called after the fence is set to `generation`. If it throws, the
   * instance steps down (its stop is called) and competes again.
   */
  startLeaderWork: (generation: number) => Promise<void>;
  /**
   * Stops what only the leader runs, at once (the request in flight may end; nothing new starts). The
   * fence is lifted only after it resolves. Called once per successful or failed start.
   */
  stopLeaderWork: () => Promise<void>;
  /** Observes every change (logs, metrics, admin alert). Must not throw. */
  onEvent?: (event: RoleEvent) => void;
  /** Between tries and renewals, ms. Default: a third of the lease time. */
  intervalMs?: number;
}

/** After the holder's expiry by the database's clock, before a standby tries: rounding and clock rates. */
const EXPIRY_SLACK_MS = 25;

type State = 'standby' | 'leader' | 'stepping-down' | 'stopped';

export class LeaderRole {
  private state: State = 'standby';
  private running = false;
  private loop: Promise<void> | null = null;
  private wakeLoop: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private deadlineTimer: NodeJS.Timeout | null = null;
  private generation: number | null = null;
  private leaseFailing = false;
  private starting: Promise<void> | null = null;
  private steppingDown: Promise<void> | null = null;
  private readonly intervalMs: number;

  constructor(private readonly options: LeaderRoleOptions) {
    this.intervalMs = options.intervalMs ?? Math.floor(options.lease.leaseMs / 3);
  }

  /**
   * `leader` while this instance holds the lease and runs (or is starting) the leader's work;
   * `standby` otherwise (stepping down included). For /readyz, /healthz and the metrics.
   */
  get role(): Role {
    return this.isLeader() ? 'leader' : 'standby';
  }

  /** The generation led under, while leader; null otherwise. */
  get leaderGeneration(): number | null {
    return this.isLeader() ? this.generation : null;
  }

  /**
   * Whether this instance may act as leader right now: it is leader and its local deadline has not
   * passed. Synchronous: the leader's work checks it right before each outside action (a send), so
   * that a process woken after a freeze sends nothing even before its timers have run.
   */
  isLeader(): boolean {
    return this.state === 'leader' && this.options.lease.isHeld();
  }

  /** Starts competing for the lease (in the background). */
  start(): void {
    if (this.running || this.state === 'stopped') return;
    this.running = true;
    this.loop = this.run();
  }

  /**
   * A component's write was refused by the fence: this instance is not the leader any more. Steps
   * down at once (idempotent). Other errors are ignored, so callers may pass any store error.
   */
  reportFenced(error: unknown): void {
    if (!(error instanceof FencedError)) return;
    if (this.state !== 'leader' || (this.generation !== null && error.generation !== this.generation)) return;
    void this.stepDown('fenced', error);
  }

  /**
   * Clean shutdown: stops the leader's work (if leader), lifts the fence, releases the lease so a
   * standby takes over at once, and stops competing.
   */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    this.running = false;
    this.clearTimers();
    this.wakeLoop?.();
    await this.loop;
    if (this.state === 'leader') await this.stepDown('shutdown');
    await this.steppingDown;
    // the leader's work did not stop: its lease is left to run out, not handed on at once
    if ((this.state as State) === 'stopped') return; // (set by the failed step-down meanwhile)
    this.state = 'stopped';
    try {
      await this.options.lease.release();
    } catch (error) {
      // unreachable: the lease simply expires
      this.emit({ type: 'lease-error', role: 'standby', error });
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      if (this.state === 'stepping-down') await this.steppingDown;
      if (!this.running) break;
      let pause = this.intervalMs;
      if (this.state === 'standby') pause = await this.tryToLead();
      else if (this.state === 'leader') await this.renew();
      if (!this.running) break;
      await this.sleep(pause);
    }
  }

  /** One try to take the lease; resolves with the pause before the next turn. */
  private async tryToLead(): Promise<number> {
    let held: HeldLease | null;
    try {
      held = await this.options.lease.tryAcquire();
      this.leaseAnswered('standby');
      if (!held) {
        // try again right when the holder's lease runs out (a dead leader's lease runs out unrenewed)
        const untilExpiry = await this.options.lease.msUntilExpiry();
        return Math.min(this.intervalMs, untilExpiry + EXPIRY_SLACK_MS);
      }
    } catch (error) {
      this.leaseFailed('standby', error);
      return this.intervalMs;
    }
    if (!this.running) {
      await this.releaseQuietly();
      return this.intervalMs;
    }
    this.generation = held.generation;
    this.options.db.setFence(held.generation);
    this.state = 'leader';
    this.armDeadline();
    this.emit({
      type: 'acquired',
      generation: held.generation,
      holder: this.options.lease.holder,
      previous: held.previous ?? null,
    });
    // not awaited: renewals go on while the work starts, however long that takes
    const starting = this.options.startLeaderWork(held.generation);
    const settled = starting.then(
      () => undefined,
      () => undefined,
    );
    this.starting = settled;
    void settled.then(() => {
      if (this.starting === settled) this.starting = null;
    });
    starting.catch((error: unknown) => {
      if (this.generation === held.generation) void this.stepDown('start-failed', error);
    });
    return this.intervalMs;
  }

  private async renew(): Promise<void> {
    let renewed: boolean;
    try {
      renewed = await this.options.lease.renew();
      this.leaseAnswered('leader');
    } catch (error) {
      this.leaseFailed('leader', error);
      // the deadline timer steps down if no renewal succeeds in time; after a freeze it may be late
      if (!this.options.lease.isHeld()) await this.stepDown('deadline-passed', error);
      return;
    }
    if (this.state !== 'leader') return;
    if (!renewed) await this.stepDown('lease-lost');
    else if (!this.options.lease.isHeld()) await this.stepDown('deadline-passed');
    else this.armDeadline();
  }

  /** Steps down when the local deadline passes with no renewal in between. */
  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    const check = () => {
      this.deadlineTimer = null;
      if (this.state !== 'leader') return;
      if (this.options.lease.isHeld()) {
        this.deadlineTimer = setTimeout(check, Math.max(1, this.options.lease.msUntilDeadline()));
        return;
      }
      void this.stepDown('deadline-passed');
    };
    this.deadlineTimer = setTimeout(check, Math.max(1, this.options.lease.msUntilDeadline()));
  }

  private stepDown(reason: StepDownReason, error?: unknown): Promise<void> {
    if (this.state !== 'leader') return this.steppingDown ?? Promise.resolve();
    const generation = this.generation ?? 0;
    this.state = 'stepping-down';
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
    this.emit({ type: 'stepping-down', generation, reason, ...(error !== undefined ? { error } : {}) });
    this.steppingDown = (async () => {
      // a start still under way finishes first, so the stop stops everything it started
      await this.starting;
      try {
        await this.options.stopLeaderWork();
      } catch (stopError) {
        // the work may still be running: the fence stays on its generation (so it commits nothing once
        // another instance leads), and this instance competes no more (it cannot win the lease back
        // and lift that fence); the lease runs out unrenewed and the process is expected to end
        this.running = false;
        this.clearTimers();
        this.state = 'stopped';
        this.steppingDown = null;
        this.wakeLoop?.();
        this.emit({ type: 'stop-failed', generation, error: stopError });
        return;
      }
      // only now: the stopped work can write nothing more under this generation
      this.options.db.setFence(null);
      this.generation = null;
      if (reason !== 'shutdown') this.options.lease.forget();
      this.state = 'standby';
      this.steppingDown = null;
      this.emit({ type: 'stepped-down', generation, reason });
      this.wakeLoop?.();
    })();
    return this.steppingDown;
  }

  private async releaseQuietly(): Promise<void> {
    try {
      await this.options.lease.release();
    } catch {
      // it expires on its own
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.wakeLoop = () => {
        this.wakeLoop = null;
        if (this.timer) clearTimeout(this.timer);
        this.timer = null;
        resolve();
      };
      this.timer = setTimeout(() => this.wakeLoop?.(), ms);
    });
  }

  private clearTimers(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = null;
  }

  private leaseFailed(role: Role, error: unknown): void {
    this.leaseFailing = true;
    this.emit({ type: 'lease-error', role, error });
  }

  private leaseAnswered(role: Role): void {
    if (!this.leaseFailing) return;
    this.leaseFailing = false;
    this.emit({ type: 'lease-recovered', role });
  }

  private emit(event: RoleEvent): void {
    this.options.onEvent?.(event);
  }
}
