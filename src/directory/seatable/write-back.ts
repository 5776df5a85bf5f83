/**
 * Carries the queued directory changes to SeaTable, one at a time and in order, retrying with
 * capped backoff (honouring a wait SeaTable announces) for as long as SeaTable is away or busy.
 * Nothing waits on it: the copy in memory already shows every queued change. A change SeaTable
 * refuses for good (a deleted row, a column of the wrong type) is dropped with an admin alert, so it
 * cannot hold up the changes behind it.
 */
import type { AdminAlerts } from '../../observability/admin-alerts.js';
import type { Logger } from '../../observability/logger.js';
import type { SecretScrubber } from '../../observability/secret-scrubber.js';
import { type DirectoryWrite, describeWrite } from './directory-writes.js';
import { SeaTableError } from './seatable-error.js';
import { SeaTableSchemaError } from './seatable-schema.js';
import type { WriteOutcome } from './seatable-writer.js';
import type { DirectoryWriteQueue, QueuedWrite } from './write-queue.js';

/** How one attempt at a queued change ended. */
export type WriteAttempt =
  /** SeaTable took the change, or (a group claim) refused it because the row belongs to another chat. */
  | { kind: 'done'; result: WriteOutcome }
  /** SeaTable could not be reached or was busy: the change stays queued. */
  | { kind: 'deferred'; error: unknown }
  /** SeaTable refused the change for good: it left the queue. */
  | { kind: 'dropped'; error: unknown };

export interface WriteBackOptions {
  queue: DirectoryWriteQueue;
  /** Carries one change to SeaTable. */
  apply: (write: DirectoryWrite) => Promise<WriteOutcome>;
  /** A change left the queue (done or dropped): the directory brings its copy in line. */
  onSettled: (entry: QueuedWrite, attempt: Exclude<WriteAttempt, { kind: 'deferred' }>) => void;
  /** Each failed attempt (SeaTable away or busy). */
  onDeferred?: (error: unknown) => void;
  logger: Logger;
  scrubber: SecretScrubber;
  alerts: AdminAlerts;
  /** First wait after a failed attempt, ms; doubles per attempt (with jitter). Default 2000. */
  retryBaseMs?: number;
  /** Longest wait between two attempts, ms. Default 60 000. */
  retryMaxMs?: number;
  /** How long `stop` waits for an attempt in flight, ms. Default 5000. */
  stopWaitMs?: number;
  /**
   * Whether this instance carries the queue now (the leader; default always): a standby that keeps the
   * directory for the webhook writes nothing to SeaTable, and reads the queue again when it leads.
   */
  active?: () => boolean;
  now?: () => number;
}

/** How often a write-back that may not carry the queue (a standby) looks again, ms. */
const INACTIVE_LOOK_MS = 2000;
/** Alert key while changes wait for SeaTable. */
const WAITING_ALERT = 'seatable-writes-waiting';
/** Failed attempts of the oldest change before the admin chat hears about the wait. */
const ALERT_AFTER_ATTEMPTS = 3;
/** Longest wait SeaTable may announce that is honoured as such, ms. */
const MAX_ANNOUNCED_WAIT_MS = 10 * 60_000;

/**
 * Whether SeaTable may take the change later: it was away, busy, or refused the token (fixed by an
 * admin without losing the change). A refusal of the change itself (400, 404, a write that did not
 * land, a validation error) will not go away by waiting.
 */
export function isTransientWriteError(error: unknown): boolean {
  // a renamed column: the schema alert tells the admin, and the change lands once it is back
  if (error instanceof SeaTableSchemaError) return true;
  if (!(error instanceof SeaTableError)) return false;
  switch (error.kind) {
    case 'network':
    case 'timeout':
    case 'invalid-response':
      return true;
    case 'http':
      return (
        error.status === 401 ||
        error.status === 403 ||
        error.status === 408 ||
        error.status === 429 ||
        error.status >= 500
      );
    default:
      return false;
  }
}

export class WriteBack {
  private readonly retryBaseMs: number;
  private readonly retryMaxMs: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private lookAgain = false;
  private inFlight: Promise<void> | null = null;
  private stopped = true;
  private alerted = false;
  /** Callers waiting for the next attempt at a change, by queue id. */
  private readonly attemptWaiters = new Map<number, Array<(attempt: WriteAttempt) => void>>();
  /** Callers waiting for the queue to drain. */
  private drainWaiters: Array<() => void> = [];

  constructor(private readonly options: WriteBackOptions) {
    this.retryBaseMs = options.retryBaseMs ?? 2000;
    this.retryMaxMs = options.retryMaxMs ?? 60_000;
    this.now = options.now ?? Date.now;
  }

  /** Reads the changes left by an earlier run (see `pending`); `start` carries them first. */
  load(): Promise<void> {
    return this.options.queue.load();
  }

  /** Starts carrying changes, the ones left by an earlier run (`load`) first. */
  start(): void {
    this.stopped = false;
    this.kick();
  }

  /** Stops; an attempt in flight is given a moment to finish (its change stays queued if it does not). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const inFlight = this.inFlight;
    // read again at the next start (`load`): another instance may carry on with the queue meanwhile
    this.options.queue.unload();
    if (!inFlight) return;
    let timeout: NodeJS.Timeout | undefined;
    await Promise.race([
      inFlight,
      new Promise<void>((resolve) => {
        timeout = setTimeout(resolve, this.options.stopWaitMs ?? 5000);
      }),
    ]);
    clearTimeout(timeout);
  }

  /** Queues a change durably and starts on it when nothing is ahead of it. Returns its queue id. */
  async enqueue(write: DirectoryWrite): Promise<number> {
    const id = await this.options.queue.add(write, this.now());
    // a new change does not cut a backoff short: SeaTable is asked again when the wait is over
    if (this.timer === null) this.kick();
    return id;
  }

  /** The queued changes, oldest first. */
  pending(): DirectoryWrite[] {
    return this.options.queue.pending().map((entry) => entry.write);
  }

  /** Whether the queue is waiting out a backoff (SeaTable was away or busy a moment ago). */
  get waitingForRetry(): boolean {
    return this.timer !== null;
  }

  get size(): number {
    return this.options.queue.size;
  }

  /** The outcome of the next attempt at change `id`, or null when there was none within `timeoutMs`. */
  nextAttempt(id: number, timeoutMs: number): Promise<WriteAttempt | null> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        const list = this.attemptWaiters.get(id) ?? [];
        this.attemptWaiters.set(
          id,
          list.filter((waiter) => waiter !== done),
        );
        resolve(null);
      }, timeoutMs);
      const done = (attempt: WriteAttempt) => {
        clearTimeout(timer);
        resolve(attempt);
      };
      this.attemptWaiters.set(id, [...(this.attemptWaiters.get(id) ?? []), done]);
    });
  }

  /** Resolves when the queue is empty. */
  drained(): Promise<void> {
    if (this.options.queue.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      // the loop may be past its last look at the queue: it looks again when it ends
      this.lookAgain = true;
      return;
    }
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.lookAgain = false;
    this.running = this.pump()
      .catch((error: unknown) => {
        // e.g. the database away a moment (PostgreSQL restarting): the queue is looked at again soon
        this.options.logger.error(
          { err: this.options.scrubber.describe(error) },
          'the SeaTable write-back stopped unexpectedly; it resumes in a moment',
        );
        if (!this.stopped && this.timer === null) {
          this.timer = setTimeout(() => {
            this.timer = null;
            this.kick();
          }, this.retryBaseMs);
          this.timer.unref();
        }
      })
      .finally(() => {
        this.running = null;
        if (this.lookAgain && this.timer === null) this.kick();
      });
  }

  private async pump(): Promise<void> {
    while (!this.stopped) {
      if (this.options.active && !this.options.active()) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.kick();
        }, INACTIVE_LOOK_MS);
        this.timer.unref();
        return;
      }
      const head = this.options.queue.head();
      if (!head) {
        this.onDrained();
        return;
      }
      const wait = head.nextAttemptAt - this.now();
      if (wait > 0) {
        this.timer = setTimeout(() => {
          this.timer = null;
          this.kick();
        }, wait);
        this.timer.unref();
        return;
      }
      const attempt = this.attempt(head);
      // stop waits for it, and never on its failure (which the loop's caller logs)
      this.inFlight = attempt.catch(() => undefined);
      try {
        await attempt;
      } finally {
        this.inFlight = null;
      }
    }
  }

  private async attempt(entry: QueuedWrite): Promise<void> {
    const { logger, scrubber, queue } = this.options;
    const what = describeWrite(entry.write);
    let result: WriteOutcome;
    try {
      result = await this.options.apply(entry.write);
    } catch (error) {
      // after stop the database may be closed: the change simply stays queued for the next run
      if (this.stopped) return;
      const reason = scrubber.describe(error);
      if (!isTransientWriteError(error)) {
        await queue.remove(entry.id);
        logger.error({ write: what, err: reason }, 'SeaTable refused a directory change for good; dropped');
        this.options.alerts.raise(
          `seatable-write-dropped:${entry.id}`,
          `SeaTable refused a change to the directory for good, so it was dropped: ${what} (${reason}). Make the change in SeaTable by hand if it is still wanted.`,
        );
        const attempt = { kind: 'dropped', error } as const;
        this.options.onSettled(entry, attempt);
        this.notify(entry.id, attempt);
        return;
      }
      const attempts = entry.attempts + 1;
      const announced =
        error instanceof SeaTableError && error.retryAfterMs !== null
          ? Math.min(error.retryAfterMs, MAX_ANNOUNCED_WAIT_MS)
          : 0;
      const delay = Math.max(announced, this.backoff(attempts));
      await queue.reschedule(entry.id, this.now() + delay, reason);
      logger[attempts === 1 ? 'warn' : 'debug'](
        { write: what, attempts, retryInMs: delay, err: reason },
        'SeaTable did not take a directory change yet; it stays queued and is retried',
      );
      if (attempts >= ALERT_AFTER_ATTEMPTS && !this.alerted) {
        this.alerted = true;
        this.options.alerts.raise(
          WAITING_ALERT,
          `Changes to the SeaTable directory (registrations, group migrations) are waiting for SeaTable since ${entry.createdAt} (${reason}). They are in effect for the bot already and are written to SeaTable as soon as it takes them.`,
        );
      }
      this.options.onDeferred?.(error);
      this.notify(entry.id, { kind: 'deferred', error });
      return;
    }
    if (this.stopped) return;
    await queue.remove(entry.id);
    logger.info({ write: what, outcome: result.outcome }, 'SeaTable took a directory change');
    const attempt = { kind: 'done', result } as const;
    this.options.onSettled(entry, attempt);
    this.notify(entry.id, attempt);
  }

  private notify(id: number, attempt: WriteAttempt): void {
    const waiters = this.attemptWaiters.get(id);
    this.attemptWaiters.delete(id);
    for (const waiter of waiters ?? []) waiter(attempt);
  }

  private onDrained(): void {
    if (this.alerted) {
      this.alerted = false;
      this.options.alerts.clear(WAITING_ALERT, 'SeaTable has taken every waiting change to the directory.');
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private backoff(attempts: number): number {
    const ceiling = Math.min(this.retryMaxMs, this.retryBaseMs * 2 ** (attempts - 1));
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }
}
