/**
 * Works the outbox: picks the next message that Telegram's limits allow, sends it, and commits its
 * progress before the next one. By default one request is in flight at a time, so a crash can repeat
 * at most one message; TELEGRAM_PARALLEL_SENDS trades that for speed on slow links.
 *
 * Scheduling is per message, not per report: while one group waits out its 20-per-minute window the
 * others keep receiving, and a chat that answered 429 is paused alone. A report is served chat by chat
 * (a chat part-way through it goes first), and reports queued at once take turns (send-schedule.ts).
 */
import type { Api } from 'grammy';
import { buildCaption } from '../core/caption.js';
import {
  countMessages,
  type MediaMode,
  type PlanLimits,
  type PlannedMessage,
  planMessages,
  type TallImageMode,
} from '../core/message-plan.js';
import { isQuietAt, type QuietHours } from '../core/quiet-hours.js';
import type { Directory } from '../directory/directory.js';
import { sanitizeFileName } from '../mail/file-naming.js';
import type { AdminAlerts } from '../observability/admin-alerts.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import { sanitizeServerText } from '../observability/server-text.js';
import type { Delivery, OutboxStore } from '../store/outbox-store.js';
import type { ReportStore, StoredReport } from '../store/report-store.js';
import { DiskSpoolFiles, type SpoolFiles } from '../store/spool-files.js';
import { FencedError, StateUnavailableError } from '../store/sql-database.js';
import { LANGUAGES, type Language, texts } from '../texts/index.js';
import { CurrentRecipients } from './current-recipients.js';
import { fileOf, ReportSender } from './report-sender.js';
import { classifySendError, type SendFailure } from './send-failure.js';
import { SendRateLimiter, type SendRateLimits } from './send-rate-limiter.js';
import { SendSchedule } from './send-schedule.js';
import { TelegramReachability } from './telegram-reachability.js';
import { filesWithBrokenTiles, withoutBrokenTiles } from './tile-fallback.js';

export interface OutboxDispatcherOptions {
  api: Api;
  outbox: OutboxStore;
  reports: ReportStore;
  /**
   * Where the reports' files are kept (`spoolFilesFor`): before a message is sent its files (tiles
   * included) are made local, fetched from the database when another instance recorded the report.
   * Default: on disk only (SQLite).
   */
  spoolFiles?: SpoolFiles;
  directory: Directory;
  logger: Logger;
  scrubber: SecretScrubber;
  alerts: AdminAlerts;
  limits: SendRateLimits;
  planLimits: PlanLimits;
  /** Attempts after errors that are neither rate limits nor permanent; then the delivery fails. */
  maxAttempts: number;
  /**
   * A delivery not done this long after it was queued is stale: it fails and the admin chat is told
   * (DELIVERY_MAX_AGE_HOURS; default 24 h).
   */
  maxAgeMs?: number;
  /** Media mode of mailboxes without one, for the directory check before each send (default 'photo'). */
  defaultMediaMode?: MediaMode;
  /** First and longest wait between getMe probes while Telegram is unreachable, ms (default 2 s and 60 s). */
  probeMinMs?: number;
  probeMaxMs?: number;
  /** Requests in flight at once (default 1). */
  parallelSends?: number;
  /** Longest pause between two attempts of one delivery, ms (default 5 min). */
  maxBackoffMs?: number;
  /** First pause before recording a sent message again after a database error, ms (default 250; doubles up to 30 s). */
  commitRetryMinMs?: number;
  /**
   * Paid broadcasts (TELEGRAM_PAID_BROADCAST): every message goes with `allow_paid_broadcast` and the
   * overall rate is `messagesPerSecond` (1000) instead of `limits.messagesPerSecond`, until Telegram
   * says the bot's Stars balance cannot pay: then the free rate, without the flag, until restarted.
   */
  paidBroadcast?: { messagesPerSecond: number };
  /**
   * QUIET_HOURS: every message of a report recorded inside this window goes without sound
   * (`disable_notification`). The report's recorded time decides, so a retry, a restart or a long
   * fan-out does not change how one report arrives.
   */
  quietHours?: QuietHours | null;
  /** Observes outcomes (metrics). */
  onOutcome?: (outcome: DeliveryOutcome) => void;
  /** A group moved to a new chat id (supergroup migration); state keyed by chat id should follow. */
  onChatMoved?: (oldChatId: number, newChatId: number) => void;
  /**
   * This instance lost the leader lease (a store write refused with {@link FencedError}): the
   * dispatcher has stopped sending (nothing new goes out; requests on the wire finish); the owner steps
   * down. Called once.
   */
  onFenced?: (error: FencedError) => void;
  /**
   * Whether this instance may send now (the leader lease still holds by the local clock), asked right
   * before each message; while it says no, nothing goes (default: always).
   */
  mayAct?: () => boolean;
  now?: () => number;
}

export interface DeliveryOutcome {
  delivery: Delivery;
  result: 'sent' | 'failed' | 'cancelled' | 'retry' | 'rate-limited';
  /** For 'sent': ms from the mail's arrival on the server to the last message sent. */
  latencyMs?: number;
  errorCode?: number;
}

interface QueuedDelivery {
  delivery: Delivery;
  /** Not before this time (backoff, 429). */
  notBefore: number;
  inFlight: boolean;
  /** Its record as sent (an empty plan) is being written. */
  recording?: boolean;
  /**
   * Set while its send task is starting (reading the row, checking the recipient): the task holds one
   * of the parallel slots until its request goes out (or it ends without one).
   */
  releaseSlot?: () => void;
}

interface PreparedReport {
  report: StoredReport;
  plans: Map<string, PlannedMessage[]>;
}

/** How often a dispatcher that may not send (lease not confirmed) looks again, ms. */
const NOT_LEADER_WAIT_MS = 250;
const isLanguage = (value: string): value is Language => (LANGUAGES as readonly string[]).includes(value);

/**
 * A delivery queued again for one chat by /last or `resend` (round 1 on), not the report's broadcast:
 * QUIET_HOURS does not silence it, and it is no paid broadcast (TELEGRAM_PAID_BROADCAST), being one
 * chat's request at the free per-chat pace.
 */
function isRequeued(delivery: Delivery): boolean {
  return (delivery.round ?? 0) > 0;
}

export class OutboxDispatcher {
  private readonly queue = new Map<number, QueuedDelivery>();
  /** The queue by readiness: what may go next, without looking at every queued delivery. */
  private readonly schedule: SendSchedule<QueuedDelivery>;
  /**
   * TELEGRAM_PARALLEL_SENDS above 1: a send's slot is freed when its request returns and records are
   * committed in groups ({@link recordTogether}); a chat's next message still waits for its record.
   */
  private readonly groupCommit: boolean;
  /** Files (`sha256:as`) a request in flight is uploading: other sends of them wait for the file id. */
  private readonly uploading = new Set<string>();
  /** When the last record of sent messages was committed (performance.now()). */
  private lastCommitAt = Number.NEGATIVE_INFINITY;
  /** Send requests on the wire (at most TELEGRAM_PARALLEL_SENDS). */
  private requestsInFlight = 0;
  /** Send tasks picked but not yet on the wire (their row reads and checks are async). */
  private tasksStarting = 0;
  /** Chats with a message picked and not yet finished (its request may not have begun yet). */
  private readonly busyChats = new Set<number>();
  private readonly reports = new Map<number, PreparedReport>();
  /** Queued deliveries per report: its prepared plans go when the last one does. */
  private readonly queuedPerReport = new Map<number, number>();
  private readonly limiter: SendRateLimiter;
  private readonly sender: ReportSender;
  private readonly spoolFiles: SpoolFiles;
  private readonly log: Logger;
  private readonly now: () => number;
  private lastLoadedId = 0;
  /** Sent messages waiting to be recorded in the next batch ({@link recordTogether}). */
  private pendingRecords: Array<{
    step: Parameters<OutboxStore['stepsSent']>[0][number];
    resolve: () => void;
    reject: (error: unknown) => void;
  }> = [];
  /** Sending with `allow_paid_broadcast` (on with TELEGRAM_PAID_BROADCAST until the Stars run out). */
  private paidBroadcast: boolean;
  private running: Promise<void> | null = null;
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private idleWaiters: Array<() => void> = [];
  private poller: NodeJS.Timeout | null = null;
  /** The loads of new deliveries, one after the other (two at once would queue a row twice). */
  private loading: Promise<void> = Promise.resolve();
  /** The state database is unreachable: no message starts before this time (ms, `now`). */
  private stateRetryAt = 0;
  /** The pause after the next state error, growing while the database stays unreachable. */
  private statePauseMs = STATE_PAUSE_MIN_MS;
  /** This instance lost the leader lease: nothing is sent any more. */
  private fenced = false;
  /** Whether Telegram as a whole answers; sending pauses while it does not. */
  readonly reachability: TelegramReachability;
  private readonly recipients: CurrentRecipients;

  constructor(private readonly options: OutboxDispatcherOptions) {
    this.limiter = new SendRateLimiter(options.limits);
    this.groupCommit = (options.parallelSends ?? 1) > 1;
    this.paidBroadcast = options.paidBroadcast !== undefined;
    if (options.paidBroadcast) this.limiter.setMessagesPerSecond(options.paidBroadcast.messagesPerSecond);
    this.sender = new ReportSender(options.api, options.outbox);
    this.spoolFiles = options.spoolFiles ?? new DiskSpoolFiles();
    this.log = options.logger.child({ component: 'delivery' });
    this.now = options.now ?? Date.now;
    this.recipients = new CurrentRecipients(options.directory, options.defaultMediaMode ?? 'photo');
    this.reachability = new TelegramReachability({
      probe: async () => {
        await options.api.getMe(AbortSignal.timeout(15_000) as Parameters<Api['getMe']>[0]);
      },
      describe: (error) => options.scrubber.scrub(classifySendError(error).message),
      alerts: options.alerts,
      logger: options.logger,
      onResume: () => this.wakeUp?.(),
      ...(options.probeMinMs !== undefined ? { probeMinMs: options.probeMinMs } : {}),
      ...(options.probeMaxMs !== undefined ? { probeMaxMs: options.probeMaxMs } : {}),
      now: this.now,
    });
    this.schedule = new SendSchedule<QueuedDelivery>({
      chatOf: (entry) => entry.delivery.chatId,
      orderOf: (entry) => entry.delivery.id,
      // chat by chat: a chat part-way through a report first; reports not yet begun take turns
      groupOf: (entry) => entry.delivery.reportId,
      startedOf: (entry) => entry.delivery.stepsDone > 0,
      chatReadyAt: (entry, messages, now) =>
        this.busyChats.has(entry.delivery.chatId)
          ? Number.POSITIVE_INFINITY
          : Math.max(entry.notBefore, this.limiter.chatEarliest(entry.delivery.chatId, messages, now)),
      overallReadyAt: (messages, now) => this.limiter.overallEarliest(messages, now),
      overallFree: (now) => this.limiter.overallFree(now),
    });
  }

  /** Loads pending deliveries (those left by a previous run too) and starts sending. */
  start(): void {
    if (this.running) return;
    // deliveries queued by another process (the resend command) are picked up too
    this.poller = setInterval(() => this.wake(), 2000);
    this.poller.unref();
    this.running = this.loop();
  }

  /** Resolves when the loads of deliveries started so far (the first one, after `start`) are done. */
  async loaded(): Promise<void> {
    await this.loading.catch(() => undefined);
  }

  /** Whether this instance was fenced off (lost the leader lease) and stopped sending. */
  get isFenced(): boolean {
    return this.fenced;
  }

  /**
   * The send loop, kept alive: a database error (SQLITE_BUSY past the busy timeout while a CLI command
   * writes, SQLITE_FULL) is logged and the loop goes on after a pause, so it cannot stop delivery or
   * end the process as an unhandled rejection.
   */
  private async loop(): Promise<void> {
    // the deliveries left by a previous run (or another leader): read until the database answers
    while (!this.stopping) {
      try {
        await this.load();
        if (this.queue.size > 0) this.log.info({ pending: this.queue.size }, 'resuming pending deliveries');
        break;
      } catch (error) {
        if (!this.stateFailed(error))
          this.log.error(
            { err: this.options.scrubber.describe(error) },
            'could not read the pending deliveries',
          );
        if (this.fenced) return;
        await sleep(this.statePauseMs);
      }
    }
    while (!this.stopping) {
      try {
        await this.loopOnce();
        return;
      } catch (error) {
        this.log.error(
          { err: this.options.scrubber.describe(error) },
          'the send loop failed; it starts again in a moment',
        );
        await sleep(LOOP_RESTART_MS);
      }
    }
  }

  /** New deliveries were committed: pick them up. */
  wake(): void {
    if (this.stopping || !this.running) return;
    this.load()
      .catch((error: unknown) => {
        if (this.stateFailed(error)) return;
        // the database busy, full or unreachable: the next poll (2 s) reads again; a timer must not throw
        this.log.error({ err: this.options.scrubber.describe(error) }, 'could not read new deliveries');
      })
      .finally(() => this.wakeUp?.());
  }

  /** Deliveries waiting or in flight. */
  get depth(): number {
    return this.queue.size;
  }

  /** Steps the scheduler has taken so far (see {@link SendSchedule.operations}); for tests. */
  get schedulingOperations(): number {
    return this.schedule.operations;
  }

  /** Resolves when nothing is queued (for tests and graceful tools). */
  async idle(): Promise<void> {
    // a load under way (the first one after start) may queue deliveries
    await this.loading.catch(() => undefined);
    if (this.queue.size === 0) return;
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Lets the request in flight finish and record its outcome; the rest stays pending in the outbox. */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.poller) clearInterval(this.poller);
    this.wakeUp?.();
    await this.running;
    this.reachability.stop();
    this.recipients.stop();
  }

  /** Reads the deliveries queued since the last load (all pending ones the first time), one load at a time. */
  private load(): Promise<void> {
    const next = this.loading.catch(() => undefined).then(() => this.loadNew());
    this.loading = next;
    return next;
  }

  private async loadNew(): Promise<void> {
    // the first load starts the polls from the newest row there is, not the newest pending one: else
    // every poll would read again every finished delivery above it (a history that only grows)
    const newest = this.lastLoadedId === 0 ? await this.options.outbox.maxId() : 0;
    for (const delivery of await this.options.outbox.pendingAfter(this.lastLoadedId)) {
      if (this.fenced) return;
      if (this.queue.has(delivery.id)) {
        this.lastLoadedId = Math.max(this.lastLoadedId, delivery.id);
        continue;
      }
      // its report is read here (the schedule works from memory): a report gone fails its delivery
      if (!this.reports.has(delivery.reportId)) {
        const report = await this.options.reports.report(delivery.reportId);
        if (!report) {
          await this.options.outbox.fail(delivery.id, 'the report is no longer in the database');
          this.lastLoadedId = Math.max(this.lastLoadedId, delivery.id);
          continue;
        }
        if (!this.reports.has(delivery.reportId))
          this.reports.set(delivery.reportId, { report, plans: new Map() });
      }
      this.lastLoadedId = Math.max(this.lastLoadedId, delivery.id);
      const entry: QueuedDelivery = { delivery, notBefore: delivery.nextAttemptAt, inFlight: false };
      this.queue.set(delivery.id, entry);
      this.queuedPerReport.set(delivery.reportId, (this.queuedPerReport.get(delivery.reportId) ?? 0) + 1);
      this.enqueue(entry);
    }
    this.lastLoadedId = Math.max(this.lastLoadedId, newest);
  }

  /** Places an entry in the schedule by its next message; finishes it when nothing is left to send. */
  private enqueue(entry: QueuedDelivery): void {
    const plan = this.planFor(entry);
    if (!plan) return;
    const step = plan[entry.delivery.stepsDone];
    if (!step) {
      this.finishUnsent(entry);
      return;
    }
    this.schedule.place(entry, messagesIn(step), this.now());
  }

  /**
   * A send task for `chatId` ended (sent, failed, rescheduled, cancelled or moved): the chat is free,
   * and its deliveries, this one included, are placed again by their chat's new time.
   */
  private afterSend(entry: QueuedDelivery, chatId: number): void {
    this.busyChats.delete(chatId);
    if (this.queue.get(entry.delivery.id) === entry) this.enqueue(entry);
    else this.forget(entry);
    for (const queued of this.schedule.entriesOf(chatId)) {
      if (this.queue.get(queued.delivery.id) !== queued) this.forget(queued);
      else if (!this.schedule.isTaken(queued)) this.enqueue(queued);
    }
  }

  /** Drops an entry from the queue, the schedule and its report's count. */
  private forget(entry: QueuedDelivery): void {
    const { id, reportId } = entry.delivery;
    if (this.queue.get(id) === entry) this.queue.delete(id);
    if (this.schedule.remove(entry)) {
      const left = (this.queuedPerReport.get(reportId) ?? 1) - 1;
      if (left > 0) this.queuedPerReport.set(reportId, left);
      else {
        this.queuedPerReport.delete(reportId);
        this.reports.delete(reportId);
      }
    }
    if (this.queue.size === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async loopOnce(): Promise<void> {
    const parallel = Math.max(1, this.options.parallelSends ?? 1);
    const inFlight = new Set<Promise<void>>();
    try {
      await this.sendWhileRunning(parallel, inFlight);
    } finally {
      await Promise.allSettled(inFlight);
    }
  }

  private async sendWhileRunning(parallel: number, inFlight: Set<Promise<void>>): Promise<void> {
    while (!this.stopping) {
      let waitUntil = Number.POSITIVE_INFINITY;
      // requests on the wire count, not sends whose record is being committed: the disk sync of one
      // batch of records does not hold back the next requests (to other chats: a chat stays busy until
      // its record is durable, so a crash repeats at most one message per chat)
      while (this.requestsInFlight + this.tasksStarting < parallel && !this.stopping) {
        const next = this.pick();
        if ('waitUntil' in next) {
          // sending resumed after an outage and nothing is due: getMe answering ends it
          if (inFlight.size === 0) this.reachability.noteIdle();
          waitUntil = next.waitUntil;
          break;
        }
        const chatId = next.entry.delivery.chatId;
        this.busyChats.add(chatId);
        this.tasksStarting++;
        let holding = true;
        const releaseSlot = () => {
          if (!holding) return;
          holding = false;
          this.tasksStarting--;
        };
        next.entry.releaseSlot = releaseSlot;
        const task = this.sendNext(next.entry, next.step)
          .catch((error: unknown) => this.afterTaskError(next.entry, error))
          .finally(() => {
            releaseSlot();
            if (next.entry.releaseSlot === releaseSlot) next.entry.releaseSlot = undefined;
            inFlight.delete(task);
            try {
              this.afterSend(next.entry, chatId);
            } catch (error) {
              this.afterTaskError(next.entry, error);
            }
          });
        inFlight.add(task);
      }
      if (this.stopping) break;
      const waits: Array<Promise<unknown>> = [new Promise<void>((resolve) => (this.wakeUp = resolve))];
      if (inFlight.size > 0) waits.push(Promise.race(inFlight));
      let timer: NodeJS.Timeout | null = null;
      if (Number.isFinite(waitUntil)) {
        waits.push(
          new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(0, waitUntil - this.now())))),
        );
      }
      await Promise.race(waits);
      if (timer) clearTimeout(timer);
      this.wakeUp = null;
    }
  }

  /**
   * The files `step` would upload (no file id known for them yet), as `sha256:as` keys. With several
   * requests in flight, the first sends of a fan-out would otherwise each upload the same files.
   */
  private async uploadsOf(report: StoredReport, step: PlannedMessage): Promise<string[]> {
    const items = step.kind === 'single' ? [step.item] : step.kind === 'album' ? step.items : [];
    const keys: string[] = [];
    for (const item of items) {
      const file = fileOf(report.files, item);
      if (file && !(await this.options.outbox.fileId(file.sha256, item.as)))
        keys.push(`${file.sha256}:${item.as}`);
    }
    return keys;
  }

  /**
   * A database error around a send (reading the row before it, recording a failure after it): the
   * delivery stays pending in the outbox and is tried again after a pause, with what is in memory.
   */
  private afterTaskError(entry: QueuedDelivery, error: unknown): void {
    if (this.stateFailed(error)) return;
    entry.notBefore = this.now() + LOOP_RESTART_MS;
    this.log.error(
      { err: this.options.scrubber.describe(error), deliveryId: entry.delivery.id },
      'a database error around this delivery; it is tried again in a moment',
    );
  }

  /**
   * The queued delivery whose next message may go now ({@link SendSchedule.next}: a ready album before
   * a single, then the one ready first), or when to look again.
   */
  private pick(): { entry: QueuedDelivery; step: PlannedMessage } | { waitUntil: number } {
    // Telegram is unreachable: nothing goes until a getMe probe answers (and wakes the loop)
    if (this.reachability.paused || this.fenced) return { waitUntil: Number.POSITIVE_INFINITY };
    // the state database is unreachable: nothing goes until the pause is over (then a row read tries)
    if (this.now() < this.stateRetryAt) return { waitUntil: this.stateRetryAt };
    // past the lease by the local clock: the leadership stops this dispatcher (or renews) shortly
    if (this.options.mayAct && !this.options.mayAct()) return { waitUntil: this.now() + NOT_LEADER_WAIT_MS };
    for (;;) {
      const next = this.schedule.next(this.now());
      if (!('entry' in next)) return next;
      const plan = this.planFor(next.entry);
      if (!plan) continue;
      const step = plan[next.entry.delivery.stepsDone];
      if (step) return { entry: next.entry, step };
      this.finishUnsent(next.entry);
    }
  }

  private planFor(entry: QueuedDelivery): PlannedMessage[] | null {
    const { delivery } = entry;
    // read when the delivery was loaded, kept while one of its deliveries is queued
    const prepared = this.reports.get(delivery.reportId);
    if (!prepared) {
      // cannot happen (a queued delivery holds its report); the row stays pending for the next start
      this.log.error(
        { deliveryId: delivery.id, reportId: delivery.reportId },
        'a queued delivery without its report',
      );
      this.forget(entry);
      return null;
    }
    // fixed when its first message went out
    if (delivery.plan) return delivery.plan;
    const language = isLanguage(delivery.language) ? delivery.language : 'ru';
    const tallImageMode = (delivery.tallImageMode ?? 'document') as TallImageMode;
    const key = `${language}:${delivery.mediaMode}:${tallImageMode}`;
    let plan = prepared.plans.get(key);
    if (!plan && prepared.report.notice) {
      // SUPERSET_NOTICES=subscribers: Superset could not produce the report; one short text says so
      const name = sanitizeServerText(prepared.report.notice.reportName, this.options.scrubber, 120);
      plan = [{ kind: 'notice', text: texts(language).reportNotProduced(name), entities: [] }];
      prepared.plans.set(key, plan);
    }
    if (!plan) {
      const report = prepared.report;
      const words = texts(language);
      plan = planMessages({
        files: report.files,
        tooLarge: report.skipped
          .filter((part) => part.tooLargeBytes !== undefined)
          .map((part) => ({
            filename: sanitizeFileName(part.filename) || 'file',
            size: part.tooLargeBytes!,
          })),
        caption: buildCaption({ subject: report.subject, link: report.link, linkLabel: words.linkLabel }),
        mediaMode: delivery.mediaMode as MediaMode,
        tallImageMode,
        limits: this.options.planLimits,
        tooLargeNotice: (file) =>
          words.tooLargeNotice(file.filename, file.size, this.options.planLimits.uploadMaxBytes),
        textTable: report.textTable?.delivery === 'message' ? report.textTable.monospace : null,
      });
      prepared.plans.set(key, plan);
    }
    return plan;
  }

  private async sendNext(entry: QueuedDelivery, step: PlannedMessage): Promise<void> {
    // before the row read: a held delivery looks again every few seconds, at the cost of a map lookup
    const held = this.reports.get(entry.delivery.reportId)?.report;
    if (held && this.holdWhilePaused(entry, held.mailbox)) return;
    // the chat handlers may have cancelled (/stop, blocked) or moved (migration) this delivery since it
    // was loaded: the database decides, one row read per message
    const current = await this.options.outbox.delivery(entry.delivery.id);
    this.stateAnswered();
    if (current?.state !== 'pending') {
      this.finish(
        entry,
        current?.state === 'sent' ? 'sent' : current?.state === 'failed' ? 'failed' : 'cancelled',
      );
      return;
    }
    if (current.chatId !== entry.delivery.chatId) {
      entry.delivery.chatId = current.chatId;
      return;
    }
    const { delivery } = entry;
    const plan = this.planFor(entry)!;
    const recorded = this.reports.get(delivery.reportId)!.report;
    // a chat that is no recipient any more is cancelled before a stale delivery is reported as failed
    if (
      (await this.refuseRecipient(entry, recorded.mailbox)) ||
      (await this.refuseStale(entry, current.createdAt))
    )
      return;
    // its files here, on this instance (outside any transaction): streamed from the database when
    // another instance recorded the report; an unreachable database throws StateUnavailableError (a
    // pause, no attempt spent), a file kept nowhere keeps its path and goes as "file gone"
    const report: StoredReport = { ...recorded, files: await this.spoolFiles.localCopies(recorded.files) };
    const sendable = await this.withoutBrokenTiles(delivery, plan, report);
    if (!sendable) {
      // all this message carried were unreadable tiles whose original goes in another message
      await this.stepDone(entry, plan, [], false);
      return;
    }
    step = sendable;
    const uploads = await this.uploadsOf(report, step);
    if (uploads.some((key) => this.uploading.has(key))) {
      // another request is uploading one of its files: this one goes by file id once that is known
      entry.notBefore = this.now() + UPLOAD_WAIT_MS;
      return;
    }
    for (const key of uploads) this.uploading.add(key);
    try {
      await this.sendStep(entry, plan, step, report);
    } finally {
      // its file ids are recorded (or it failed): the sends waiting for them may go
      for (const key of uploads) this.uploading.delete(key);
    }
  }

  /** Sends the delivery's current message and records it (or the failure). */
  private async sendStep(
    entry: QueuedDelivery,
    plan: PlannedMessage[],
    step: PlannedMessage,
    report: StoredReport,
  ): Promise<void> {
    const { delivery } = entry;
    // the last check before the request (the awaits since pick() may have outlived the lease)
    if (this.fenced || (this.options.mayAct && !this.options.mayAct())) return;
    entry.inFlight = true;
    const chatId = delivery.chatId;
    this.limiter.begin(chatId, messagesIn(step), this.now());
    // on the wire now: the slot held while starting becomes a request in flight
    entry.releaseSlot?.();
    entry.releaseSlot = undefined;
    this.requestsInFlight++;
    const language = isLanguage(delivery.language) ? delivery.language : 'ru';
    let learnt: Awaited<ReturnType<ReportSender['send']>>;
    try {
      const words = texts(language);
      learnt = await this.sender.send(
        { chatId: delivery.chatId, threadId: delivery.threadId },
        step,
        {
          subject: report.subject,
          link: report.link,
          files: report.files,
          linkLabel: words.linkLabel,
          filesNotAllowedNotice: words.filesNotAllowedNotice,
          textTable: report.textTable?.monospace ?? null,
        },
        { onMissingRight: (right, fallback) => this.tellMissingRight(delivery, right, fallback) },
        {
          silent: this.isQuiet(report, delivery),
          paidBroadcast: this.paidBroadcast && !isRequeued(delivery),
        },
      );
    } catch (error) {
      entry.inFlight = false;
      this.requestEnded();
      // whatever was sent (an upload, perhaps) counts from now
      this.limiter.end(chatId, this.now(), true);
      // the state could not be read (a file id): nothing was sent, no attempt is spent
      if (error instanceof StateUnavailableError || error instanceof FencedError) throw error;
      await this.handleFailure(entry, classifySendError(error));
      return;
    }
    entry.inFlight = false;
    // an upload taught file ids, which the next sends read from the database: they wait for its record
    // with one send at a time, its slot is held until its record is durable: a crash repeats at most
    // one message in all; with several (group commit) at most one per chat
    const holdSlot = learnt.length > 0 || !this.groupCommit;
    if (!holdSlot) this.requestEnded();
    // the message is out: from here on nothing may send it again, whatever the database says
    this.limiter.end(chatId, this.now(), learnt.length > 0);
    this.reachability.noteSuccess();
    await this.stepDone(entry, plan, learnt, holdSlot);
  }

  /**
   * Records the delivery's current message as sent; `holdSlot`: its request still counts as in flight
   * until the record is durable (see sendNext).
   */
  private async stepDone(
    entry: QueuedDelivery,
    plan: PlannedMessage[],
    learnt: Awaited<ReturnType<ReportSender['send']>>,
    holdSlot: boolean,
  ): Promise<void> {
    const { delivery } = entry;
    const finished = delivery.stepsDone + 1 >= plan.length;
    // the first of several messages fixes the plan for the rest, whatever the settings after a restart
    const fixPlan = !finished && !delivery.plan ? plan : undefined;
    if (fixPlan) delivery.plan = fixPlan;
    delivery.stepsDone++;
    delivery.attempts = 0;
    entry.notBefore = 0;
    try {
      await this.commitStep(delivery, finished, learnt, fixPlan);
    } finally {
      if (holdSlot) this.requestEnded();
    }
    if (finished) this.finish(entry, 'sent');
  }

  /** A request came back: the send loop may start another (TELEGRAM_PARALLEL_SENDS). */
  private requestEnded(): void {
    this.requestsInFlight--;
    this.wakeUp?.();
  }

  /**
   * The delivery's current message without tiles that are gone or truncated in the spool (see
   * tile-fallback.ts): the original PNG goes as a document instead, and the admin chat hears it once per
   * report. Null when nothing is left to send in this message.
   */
  private async withoutBrokenTiles(
    delivery: Delivery,
    plan: PlannedMessage[],
    report: StoredReport,
  ): Promise<PlannedMessage | null> {
    const step = plan[delivery.stepsDone]!;
    // the spool first (a stat per tile); the file ids are read only for the tiles it lost
    let broken = filesWithBrokenTiles(report.files, step, () => false);
    if (broken.size === 0) return step;
    const known = new Set<string>();
    for (const index of broken) {
      for (const tile of report.files[index]?.tiles ?? []) {
        if ((await this.options.outbox.fileId(tile.sha256, 'photo')) !== null) known.add(tile.sha256);
      }
    }
    broken = filesWithBrokenTiles(report.files, step, (sha256) => known.has(sha256));
    if (broken.size === 0) return step;
    const names = [...broken].map((index) => report.files[index]?.filename ?? `file ${index + 1}`);
    this.options.alerts.raise(
      `tiles-unreadable:${report.id}`,
      `Report "${sanitizeServerText(report.subject, this.options.scrubber, 120)}" (${report.id}): the tiles of ${names.join(', ')} are missing or damaged in the spool; the original image is sent as a document instead.`,
    );
    return withoutBrokenTiles(plan, delivery.stepsDone, broken);
  }

  /**
   * Records a message sent. The database may refuse for a while (SQLITE_BUSY while a CLI command holds
   * the write lock, SQLITE_FULL): the progress stays in memory and the commit is tried again with a
   * growing pause until it goes in. It is never taken as a failed send, which would send the message
   * again. Only a stop gives up (after a few more tries): then a restart repeats at most this message.
   */
  private async commitStep(
    delivery: Delivery,
    finished: boolean,
    learnt: Awaited<ReturnType<ReportSender['send']>>,
    fixPlan: PlannedMessage[] | undefined,
  ): Promise<void> {
    let pauseMs = this.options.commitRetryMinMs ?? 250;
    for (let tries = 1; ; tries++) {
      try {
        await this.recordTogether({
          id: delivery.id,
          finished,
          fileIds: learnt,
          ...(fixPlan ? { plan: fixPlan } : {}),
        });
        if (tries > 1) this.log.info({ deliveryId: delivery.id, tries }, 'message sent recorded at last');
        return;
      } catch (error) {
        if (error instanceof FencedError) {
          // another instance leads now and resumes this delivery: at most this message repeats there
          this.stateFailed(error);
          return;
        }
        const givingUp = this.stopping && tries >= 5;
        this.log.error(
          { err: this.options.scrubber.describe(error), deliveryId: delivery.id, tries, retryInMs: pauseMs },
          givingUp
            ? 'could not record a message sent before stopping: a restart may send it again'
            : 'could not record a message sent; it is not sent again, the record is tried again',
        );
        if (givingUp) return;
        await sleep(pauseMs);
        pauseMs = Math.min(pauseMs * 2, 30_000);
      }
    }
  }

  /**
   * Records a sent message together with the others answered in the same turn of the event loop, or
   * with TELEGRAM_PARALLEL_SENDS above 1 since the previous commit (group commit, at most one per
   * {@link COMMIT_GATHER_MS}; the first after a quiet spell at once): one transaction, one disk sync
   * (synchronous=FULL) for all of them. At 1000 messages/s a sync per message would be the limit.
   * What "never twice" keeps: a chat stays busy until its record is durable (no next message to it
   * before), so a crash repeats at most one message per chat (those answered but not yet committed);
   * with one send at a time the slot is held too, so at most one message in all.
   * Rejects for the whole batch when the database refuses; {@link commitStep} then tries again.
   */
  private recordTogether(step: Parameters<OutboxStore['stepsSent']>[0][number]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingRecords.push({ step, resolve, reject });
      if (this.pendingRecords.length > 1) return;
      const flush = async () => {
        const batch = this.pendingRecords.splice(0);
        try {
          // one transaction for the batch gathered; the records of the next batch gather meanwhile
          await this.options.outbox.stepsSent(batch.map((record) => record.step));
        } catch (error) {
          for (const record of batch) record.reject(error);
          return;
        } finally {
          this.lastCommitAt = performance.now();
        }
        for (const record of batch) record.resolve();
      };
      // the disk sync blocks the event loop (~8 ms on a plain disk): at most one per COMMIT_GATHER_MS,
      // so at 1000 messages/s the loop spends most of its time sending, not syncing
      const waitMs = this.groupCommit ? this.lastCommitAt + COMMIT_GATHER_MS - performance.now() : 0;
      if (waitMs > 0) setTimeout(flush, waitMs);
      else setImmediate(flush);
    });
  }

  private async handleFailure(entry: QueuedDelivery, failure: SendFailure): Promise<void> {
    const { delivery } = entry;
    const { outbox, directory, alerts } = this.options;
    const reason = this.options.scrubber.scrub(failure.message);
    const log = this.log.child({
      deliveryId: delivery.id,
      reportId: delivery.reportId,
      chatId: delivery.chatId,
    });
    switch (failure.kind) {
      case 'rate-limited': {
        const until = this.now() + (failure.details.retryAfterMs ?? 5000);
        this.limiter.pause(delivery.chatId, until);
        entry.notBefore = until;
        await outbox.reschedule(delivery.id, until, reason, false);
        log.info(
          { retryAfterMs: failure.details.retryAfterMs },
          'Telegram asked to slow down (429); this chat waits',
        );
        this.options.onOutcome?.({ delivery, result: 'rate-limited', errorCode: 429 });
        return;
      }
      case 'stars-exhausted': {
        // without TELEGRAM_PAID_BROADCAST nothing was paid for: an error like any other
        if (!this.options.paidBroadcast) break;
        this.stopPaidBroadcast(reason);
        // the message was not sent (nothing was billed): it goes again at once, at the free rate
        entry.notBefore = this.now();
        await outbox.reschedule(delivery.id, entry.notBefore, reason, false);
        this.options.onOutcome?.({ delivery, result: 'retry', errorCode: failure.details.errorCode });
        return;
      }
      case 'migrated': {
        const newChatId = failure.details.newChatId!;
        log.info({ newChatId }, 'the group became a supergroup: moving its deliveries to the new chat id');
        try {
          await directory.moveGroupChat(delivery.chatId, newChatId);
        } catch (error) {
          log.warn(
            { err: this.options.scrubber.describe(error) },
            'could not store the new group id in the directory',
          );
        }
        await outbox.moveChat(delivery.chatId, newChatId);
        this.options.onChatMoved?.(delivery.chatId, newChatId);
        for (const queued of this.schedule.entriesOf(delivery.chatId)) {
          const fresh = await outbox.delivery(queued.delivery.id);
          if (fresh?.state === 'pending') queued.delivery = fresh;
          else this.queue.delete(queued.delivery.id);
        }
        return;
      }
      case 'chat-gone': {
        const cancelled = await outbox.cancelChat(delivery.chatId, reason);
        for (const id of cancelled) {
          const queued = this.queue.get(id);
          if (queued) this.finish(queued, 'cancelled', failure.details.errorCode);
        }
        log.warn(
          { reason, recipient: delivery.recipientName },
          'this chat cannot receive reports any more: recipient marked inactive',
        );
        try {
          await directory.deactivateChat(delivery.chatId);
        } catch (error) {
          log.warn(
            { err: this.options.scrubber.describe(error) },
            'could not mark the recipient inactive in the directory',
          );
        }
        alerts.raise(
          `chat-gone:${delivery.chatId}`,
          `${delivery.recipientKind === 'group' ? 'Group' : 'User'} "${delivery.recipientName}" (${delivery.chatId}) can no longer receive reports and was marked inactive: ${reason}`,
        );
        return;
      }
      case 'missing-right': {
        // nothing this chat allows could carry the report; the chat stays active for the next one
        await outbox.fail(delivery.id, reason, delivery.attempts);
        log.error({ reason }, 'the group does not let the bot send this report');
        this.finish(entry, 'failed', failure.details.errorCode);
        this.tellMissingRight(delivery, failure.details.right ?? 'messages', null);
        return;
      }
      case 'telegram-down': {
        // Telegram as a whole failing is no fault of this delivery: it waits for the outage to end
        if (
          await this.reachability.noteFailure(delivery.chatId, reason, {
            probeOnly: failure.details.notBotApi === true,
          })
        ) {
          entry.notBefore = this.now();
          await outbox.reschedule(delivery.id, entry.notBefore, reason, false);
          log.info(
            { reason },
            'Telegram is unreachable; this delivery waits for it without losing an attempt',
          );
          this.options.onOutcome?.({ delivery, result: 'retry', errorCode: failure.details.errorCode });
          return;
        }
        await this.retryLater(entry, reason, failure.details.errorCode);
        return;
      }
      default:
        await this.retryLater(entry, reason, failure.details.errorCode);
        return;
    }
    await this.retryLater(entry, reason, failure.details.errorCode);
  }

  /**
   * Whether a report's messages go without sound: it was recorded inside QUIET_HOURS. A report queued
   * again (/last, `resend`) was asked for by someone now, so it rings like any answer.
   */
  private isQuiet(report: StoredReport, delivery: Delivery): boolean {
    const window = this.options.quietHours;
    if (!window || isRequeued(delivery)) return false;
    const recordedAt = new Date(report.recordedAt);
    return !Number.isNaN(recordedAt.getTime()) && isQuietAt(window, recordedAt);
  }

  /**
   * The bot's Stars balance cannot pay for paid broadcasts: back to the free rate without the flag, and
   * the admin chat is told once. It stays so until the bot is restarted (after the balance is topped up).
   */
  private stopPaidBroadcast(reason: string): void {
    if (!this.paidBroadcast) return;
    this.paidBroadcast = false;
    this.limiter.setMessagesPerSecond(this.options.limits.messagesPerSecond);
    this.log.error(
      { reason, messagesPerSecond: this.options.limits.messagesPerSecond },
      "paid broadcasts refused: the bot's Telegram Stars balance is too low; sending at the free rate",
    );
    this.options.alerts.raise(
      'paid-broadcast-stars',
      `Paid broadcasts stopped: Telegram refused them because the bot's Stars balance is too low (${reason}). Reports now go at the free rate of ${this.options.limits.messagesPerSecond} messages per second. Top up the bot's Stars balance and restart the bot to send at 1000 per second again (TELEGRAM_PAID_BROADCAST).`,
    );
  }

  /** Counts a failed attempt of the delivery: tries again after a backoff, or gives up at the limit. */
  private async retryLater(
    entry: QueuedDelivery,
    reason: string,
    errorCode: number | undefined,
  ): Promise<void> {
    const { delivery } = entry;
    const { outbox, alerts } = this.options;
    const log = this.log.child({
      deliveryId: delivery.id,
      reportId: delivery.reportId,
      chatId: delivery.chatId,
    });
    delivery.attempts++;
    if (delivery.attempts >= this.options.maxAttempts) {
      await outbox.fail(delivery.id, reason, delivery.attempts);
      log.error({ reason, attempts: delivery.attempts }, 'delivery failed for good');
      this.finish(entry, 'failed', errorCode);
      alerts.raise(
        `delivery-failed:${delivery.reportId}:${delivery.chatId}`,
        `Report ${delivery.reportId} could not be delivered to "${delivery.recipientName}" (${delivery.chatId}) after ${delivery.attempts} attempts: ${reason}`,
      );
      return;
    }
    const ceiling = Math.min(this.options.maxBackoffMs ?? 300_000, 1000 * 2 ** delivery.attempts);
    const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
    entry.notBefore = this.now() + delay;
    await outbox.reschedule(delivery.id, entry.notBefore, reason, true);
    log.warn({ reason, attempts: delivery.attempts, retryInMs: delay }, 'send failed; will try again');
    this.options.onOutcome?.({ delivery, result: 'retry', errorCode });
  }

  /** Tells the admin chat which right the bot lacks in a group, and what it did instead. */
  private tellMissingRight(delivery: Delivery, right: string, fallback: string | null): void {
    const chat = `${delivery.recipientKind === 'group' ? 'Group' : 'Chat'} "${delivery.recipientName}" (${delivery.chatId})`;
    const outcome = fallback
      ? `report ${delivery.reportId} went ${fallback} instead`
      : `report ${delivery.reportId} could not be sent (resend it once the right is given)`;
    // one alert per report, so the admin learns which reports went otherwise (or not at all); the
    // admin alerts remember a bounded number of keys
    this.options.alerts.raise(
      `missing-right:${delivery.chatId}:${right}:${delivery.reportId}`,
      `${chat} does not let the bot send ${right}: ${outcome}. Allow members to send ${right} in the group's permissions, or make the bot an administrator.`,
    );
  }

  /**
   * A delivery of a paused mailbox (a report POSTed to its webhook URL while paused, or queued before
   * the pause) waits until the mailbox is resumed, as the mailbox's mail waits on the IMAP server; then
   * the recipients of that moment decide, and one older than DELIVERY_MAX_AGE_HOURS fails as stale. A
   * delivery part-way through its messages is finished: a report is not cut in two.
   */
  private holdWhilePaused(entry: QueuedDelivery, mailbox: string): boolean {
    if (entry.delivery.stepsDone > 0 || !this.recipients.mailboxPaused(mailbox)) return false;
    entry.notBefore = this.now() + PAUSED_MAILBOX_RECHECK_MS;
    return true;
  }

  /** A delivery older than DELIVERY_MAX_AGE_HOURS fails as stale, and the admin chat is told. */
  private async refuseStale(entry: QueuedDelivery, createdAt: string): Promise<boolean> {
    const { delivery } = entry;
    const maxAgeMs = this.options.maxAgeMs ?? 24 * 3600_000;
    const queuedAt = Date.parse(createdAt);
    if (!(this.now() - queuedAt > maxAgeMs)) return false;
    const hours = Math.round((maxAgeMs / 3600_000) * 10) / 10;
    const reason = `stale: not delivered within ${hours} h of being queued (DELIVERY_MAX_AGE_HOURS)`;
    await this.options.outbox.fail(delivery.id, reason);
    this.log.error(
      { deliveryId: delivery.id, reportId: delivery.reportId, chatId: delivery.chatId },
      'delivery is stale: given up',
    );
    this.finish(entry, 'failed');
    this.options.alerts.raise(
      `delivery-stale:${delivery.reportId}:${delivery.chatId}`,
      `Report ${delivery.reportId} was not delivered to "${delivery.recipientName}" (${delivery.chatId}) within ${hours} h and is now stale; it will not be sent (resend it with: superset-telegram-bot resend ${delivery.reportId}).`,
    );
    return true;
  }

  /**
   * The chat must still be an active recipient of the report's mailbox in the directory of now;
   * otherwise the delivery is cancelled with the reason.
   */
  private async refuseRecipient(entry: QueuedDelivery, mailbox: string): Promise<boolean> {
    const { delivery } = entry;
    if (this.recipients.refusal(delivery, mailbox) === null) return false;
    // not a recipient under its id: a group that moved may still be one under its old id(s)
    const movedFrom = new Map<number, number>();
    for (let chatId = delivery.chatId, hops = 0; hops < 10; hops++) {
      const old = await this.options.outbox.migratedFrom(chatId);
      if (old === undefined || movedFrom.has(chatId)) break;
      movedFrom.set(chatId, old);
      chatId = old;
    }
    const refusal = this.recipients.refusal(delivery, mailbox, (chatId) => movedFrom.get(chatId));
    if (refusal === null) return false;
    await this.options.outbox.cancel(delivery.id, refusal);
    this.log.info(
      { deliveryId: delivery.id, reportId: delivery.reportId, chatId: delivery.chatId, reason: refusal },
      'delivery cancelled: the chat is no longer a recipient',
    );
    this.finish(entry, 'cancelled');
    return true;
  }

  /**
   * A delivery with nothing to send (an empty plan): recorded as sent, then finished. It is out of the
   * schedule meanwhile; when the database refuses, it is placed again after a pause.
   */
  private finishUnsent(entry: QueuedDelivery): void {
    if (entry.delivery.stepsDone > 0 || entry.delivery.state !== 'pending') {
      this.finish(entry, 'sent');
      return;
    }
    // out of the schedule meanwhile (taken by `pick`, or not placed by `enqueue`)
    if (entry.recording) return;
    entry.recording = true;
    this.options.outbox.markSent(entry.delivery.id).then(
      () => {
        entry.recording = false;
        this.finish(entry, 'sent');
      },
      (error: unknown) => {
        entry.recording = false;
        this.afterTaskError(entry, error);
        const retry = setTimeout(
          () => {
            if (this.queue.get(entry.delivery.id) === entry && !this.stopping) {
              this.enqueue(entry);
              this.wakeUp?.();
            }
          },
          Math.max(0, entry.notBefore - this.now(), this.stateRetryAt - this.now()),
        );
        retry.unref();
      },
    );
  }

  /**
   * A store call failed for want of the state database: `StateUnavailableError` pauses all sending
   * (growing pauses, like a Telegram outage; no attempt spent, nothing failed), `FencedError` stops
   * it for good. Returns true when the error was one of them (handled here).
   */
  private stateFailed(error: unknown): boolean {
    if (error instanceof FencedError) {
      if (!this.fenced) {
        this.fenced = true;
        this.stopping = true;
        if (this.poller) clearInterval(this.poller);
        this.log.error(
          { generation: error.generation },
          'this instance lost the leader lease: sending stopped',
        );
        this.wakeUp?.();
        this.options.onFenced?.(error);
      }
      return true;
    }
    if (error instanceof StateUnavailableError) {
      const wasAnswering = this.stateRetryAt === 0;
      this.stateRetryAt = this.now() + this.statePauseMs;
      this.log[wasAnswering ? 'error' : 'warn'](
        { err: this.options.scrubber.describe(error), retryInMs: this.statePauseMs },
        'the state database is unreachable: sending paused, no attempt is spent',
      );
      this.statePauseMs = Math.min(this.statePauseMs * 2, STATE_PAUSE_MAX_MS);
      return true;
    }
    return false;
  }

  /** A row read answered: the state database is back. */
  private stateAnswered(): void {
    if (this.stateRetryAt === 0) return;
    this.stateRetryAt = 0;
    this.statePauseMs = STATE_PAUSE_MIN_MS;
    this.log.info('the state database answers again: sending resumed');
  }

  private finish(entry: QueuedDelivery, result: 'sent' | 'failed' | 'cancelled', errorCode?: number): void {
    const { delivery } = entry;
    if (result === 'sent' && delivery.state === 'pending') delivery.state = 'sent';
    const report = this.reports.get(delivery.reportId)?.report;
    this.forget(entry);
    const arrived = report?.internalDate ?? report?.recordedAt;
    this.options.onOutcome?.({
      delivery,
      result,
      ...(result === 'sent' && arrived ? { latencyMs: this.now() - Date.parse(arrived) } : {}),
      ...(errorCode !== undefined ? { errorCode } : {}),
    });
    if (result === 'sent')
      this.log.info(
        { deliveryId: delivery.id, reportId: delivery.reportId, chatId: delivery.chatId },
        'report delivered',
      );
  }
}

/** Pause before the send loop, or a delivery after a database error, goes on. */
const LOOP_RESTART_MS = 1000;
/** First and longest pause of all sending while the state database (PostgreSQL) is unreachable, ms. */
const STATE_PAUSE_MIN_MS = 500;
const STATE_PAUSE_MAX_MS = 15_000;
/** How often a delivery held for a paused mailbox looks again whether it was resumed, ms. */
const PAUSED_MAILBOX_RECHECK_MS = 5000;
/**
 * Least time between two commits of sent messages (group commit). Far below a chat's one-second
 * interval, so a chat's next message never waits for it; long enough that the disk sync takes a small
 * share of the event loop at 1000 messages/s.
 */
const COMMIT_GATHER_MS = 40;
/** How long a send whose file another request is uploading waits before it looks again. */
const UPLOAD_WAIT_MS = 50;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function messagesIn(step: PlannedMessage): number {
  return countMessages([step]);
}
