/**
 * The composition root: reads nothing itself but the validated config, builds the adapters (the state
 * in SQLite or PostgreSQL, directory, mailbox listeners) and wires them together; the leadership
 * decides when this instance does the leader's work. `start` in the CLI and the tests use it.
 */
import path from 'node:path';
import { Api } from 'grammy';
import { type Config, configWarnings } from './config.js';
import { DEFAULT_PLAN_LIMITS, type PlanLimits } from './core/message-plan.js';
import { parseQuietHours } from './core/quiet-hours.js';
import { createDirectory } from './directory/create-directory.js';
import { type Directory, isWebhookOnly, type MailboxEntry } from './directory/directory.js';
import { ConnectGate } from './imap/connect-gate.js';
import { ListenerSupervisor } from './imap/listener-supervisor.js';
import { MailboxHealthWatch } from './imap/mailbox-health-watch.js';
import { type ListenerTimings, MailboxListener } from './imap/mailbox-listener.js';
import { dnsResolverFor, ReportIntake } from './intake/report-intake.js';
import { leaderOnlyApi } from './leadership/leader-only-api.js';
import { type Leadership, LeaseLeadership, SoleLeadership } from './leadership/leadership.js';
import { type AdminAlerts, ChatAlerts, LoggedAlerts } from './observability/admin-alerts.js';
import type { Logger } from './observability/logger.js';
import { BotMetrics } from './observability/metrics.js';
import { OpsServer, type Readiness } from './observability/ops-server.js';
import type { SecretScrubber } from './observability/secret-scrubber.js';
import { StoredAlertQueue } from './store/admin-alert-queue.js';
import { ChatLanguages } from './store/chat-languages.js';
import type { Database } from './store/database.js';
import { GroupApprovals } from './store/group-approvals.js';
import { InstanceLock } from './store/instance-lock.js';
import { RefreshTokenStore } from './store/oauth2-refresh-tokens.js';
import { openStateDatabase } from './store/open-state-database.js';
import { OutboxStore } from './store/outbox-store.js';
import { ReportStore } from './store/report-store.js';
import { forgetOldReports, removeFinishedSpools, removeOrphanSpoolDirs, spoolRoot } from './store/spool.js';
import { type SpoolFiles, spoolFilesFor } from './store/spool-files.js';
import type { SqlDatabase } from './store/sql-database.js';
import { SqliteDatabase } from './store/sqlite-database.js';
import { BotPolling } from './telegram/bot-polling.js';
import { createChatHandlers, publishCommands } from './telegram/chat-handlers.js';
import { type DeliveryOutcome, OutboxDispatcher } from './telegram/outbox-dispatcher.js';
import { classifySendError } from './telegram/send-failure.js';
import { PAID_BROADCAST_MESSAGES_PER_SECOND } from './telegram/send-rate-limiter.js';
import { createTelegramProxy, proxyClientOptions } from './telegram/telegram-proxy.js';
import { WebhookServer } from './webhook/webhook-server.js';
import { webhookToken } from './webhook/webhook-token.js';

export interface AppDependencies {
  config: Config;
  logger: Logger;
  scrubber: SecretScrubber;
  /** Environment for `env:VAR` passwords (default: process.env). */
  env?: Record<string, string | undefined>;
  /** Overrides for the listener timings (tests use short ones). */
  timings?: Partial<ListenerTimings>;
  /** Polling interval of the local directory for changes made by other processes, ms. */
  directoryPollMs?: number;
  /** Overrides SEATABLE_REFRESH_SECONDS, in ms (tests use a short one). */
  seatableRefreshMs?: number;
  /** Observes delivery outcomes (metrics, tests). */
  onDeliveryOutcome?: (outcome: DeliveryOutcome) => void;
  /** First and longest wait between getMe probes while Telegram is unreachable, ms (default 2 s and 60 s). */
  telegramProbeMs?: { min: number; max: number };
  /**
   * The bot had to stop on its own (another bot took the lock of DATA_DIR): called once everything
   * is stopped, with the reason. The `start` command exits non-zero with it.
   */
  onFatal?: (error: Error) => void;
  /** Overrides for the webhook receiver's timeouts, ms (tests use short ones). */
  webhookTimings?: { idleTimeoutMs?: number; requestTimeoutMs?: number; drainTimeoutMs?: number };
}

/** Another process holds the lock of DATA_DIR now: this bot must not send another message. */
export class InstanceLockLostError extends Error {
  constructor(dataDir: string) {
    super(
      `the lock file of DATA_DIR ${path.resolve(dataDir)} was replaced and another bot holds the new one: this bot stopped sending and exits, so that no report goes twice. Run one bot per DATA_DIR.`,
    );
    this.name = 'InstanceLockLostError';
  }
}

const MB = 1024 * 1024;

/** Longest {@link App.halt} waits for the orderly stop before it reports the fatal error anyway. */
const HALT_BOUND_MS = 15_000;

/** A mailbox's secrets, for the scrubber: its password, or its OAuth2 client secret and refresh token. */
export function mailboxSecrets(mailbox: MailboxEntry): Array<string | null> {
  return [mailbox.password, mailbox.oauth2?.clientSecret ?? null, mailbox.oauth2?.refreshToken ?? null];
}

/** The running bot. */
export class App {
  /** The bot's state (SQLite in DATA_DIR, or PostgreSQL with DATABASE_URL): one instance every store shares. */
  readonly state: SqlDatabase;
  /**
   * Who works: with DATABASE_URL the instances compete for a lease and only the leader runs the
   * mailbox listeners, the dispatcher, Telegram polling and the janitor; with SQLite this bot always.
   */
  readonly leadership: Leadership;
  readonly store: ReportStore;
  readonly directory: Directory;
  readonly listeners: ListenerSupervisor;
  readonly intake: ReportIntake;
  readonly outbox: OutboxStore;
  private halting = false;
  readonly languages: ChatLanguages;
  readonly alerts: AdminAlerts;
  /** Present when TELEGRAM_BOT_TOKEN is set and this instance leads (a new one each time it starts leading). */
  dispatcher: OutboxDispatcher | null = null;
  polling: BotPolling | null = null;
  private readonly createDispatcher: ((generation: number) => OutboxDispatcher) | null;
  private readonly createPolling: (() => BotPolling) | null;
  /** The leader's work is running (listeners follow the directory only then). */
  private leading = false;
  private directoryStarted = false;
  readonly metrics: BotMetrics;
  private readonly health: MailboxHealthWatch;
  private ops: OpsServer | null = null;
  /** The port of the operations endpoints, once started (0 when off). */
  opsPort = 0;
  /** Present when WEBHOOK_PORT is set. */
  private webhook: WebhookServer | null = null;
  /** The port of the webhook receiver, once started (0 when off). */
  webhookPort = 0;
  private unsubscribe: (() => void) | null = null;
  private janitor: NodeJS.Timeout | null = null;
  /** The reports' spooled files: on disk (SQLite), or in the database too (DATABASE_URL). */
  readonly spoolFiles: SpoolFiles;
  private stopped = false;
  private started = false;
  /** Rotated OAuth2 refresh tokens; their values join the scrubber when the bot runs. */
  private readonly refreshTokens: RefreshTokenStore;

  private constructor(
    private readonly deps: AppDependencies,
    /** This process's hold on DATA_DIR, released last on stop. */
    private readonly lock: InstanceLock,
    state: SqlDatabase,
  ) {
    const { config, logger, scrubber } = deps;
    this.state = state;
    this.spoolFiles = spoolFilesFor(this.state, spoolRoot(config.DATA_DIR));
    this.store = new ReportStore(this.state);
    const token = config.TELEGRAM_BOT_TOKEN;
    // one agent for every Bot API call, so none can bypass TELEGRAM_PROXY
    const viaProxy = proxyClientOptions(
      config.TELEGRAM_PROXY ? createTelegramProxy(config.TELEGRAM_PROXY) : null,
    );
    const adminApi = token
      ? new Api(token, { apiRoot: config.TELEGRAM_API_ROOT, timeoutSeconds: 30, ...viaProxy })
      : null;
    this.alerts =
      adminApi && config.ADMIN_CHAT_ID
        ? new ChatAlerts({
            logger,
            send: async (text) => {
              await adminApi.sendMessage(Number(config.ADMIN_CHAT_ID), text, {
                link_preview_options: { is_disabled: true },
              });
            },
            // alerts raised while Telegram is down wait for it, in order, like the reports, restarts included
            // with SQLite only: the instances sharing PostgreSQL would share (and each send) one queue
            ...(state instanceof SqliteDatabase ? { persist: new StoredAlertQueue(state) } : {}),
            retryDelayMs: (error, failures) => {
              const failure = classifySendError(error);
              if (failure.kind === 'rate-limited') return failure.details.retryAfterMs ?? 5000;
              if (failure.kind === 'telegram-down' || failure.kind === 'transient')
                return Math.min(60_000, 1000 * 2 ** Math.min(failures, 6));
              return null;
            },
          })
        : new LoggedAlerts(logger);
    this.directory = createDirectory({
      config,
      db: this.state,
      logger,
      scrubber,
      alerts: this.alerts,
      env: deps.env,
      localPollMs: deps.directoryPollMs,
      seatableRefreshMs: deps.seatableRefreshMs,
      // a standby (kept for the webhook) writes nothing back: the leader carries the queue
      ...(config.DATABASE_URL ? { seatableWritesActive: () => this.leading } : {}),
    });
    this.languages = new ChatLanguages(this.state);
    this.outbox = new OutboxStore(this.state);
    this.createDispatcher = null;
    this.createPolling = null;
    if (token) {
      const planLimits: PlanLimits = {
        ...DEFAULT_PLAN_LIMITS,
        uploadMaxBytes: Math.min(config.MAX_FILE_MB * MB, DEFAULT_PLAN_LIMITS.uploadMaxBytes),
        photoMaxRatio: config.PHOTO_MAX_ASPECT_RATIO,
      };
      this.createDispatcher = (generation) =>
        new OutboxDispatcher({
          // no auto-retry here: the dispatcher schedules retries itself, so other chats go on meanwhile
          api: leaderOnlyApi(
            new Api(token, { apiRoot: config.TELEGRAM_API_ROOT, timeoutSeconds: 120, ...viaProxy }),
            () => this.leadership.isLeader(),
            generation,
          ),
          outbox: this.outbox,
          reports: this.store,
          spoolFiles: this.spoolFiles,
          directory: this.directory,
          logger,
          scrubber,
          alerts: this.alerts,
          limits: {
            messagesPerSecond: config.TELEGRAM_MESSAGES_PER_SECOND,
            chatIntervalMs: config.TELEGRAM_CHAT_INTERVAL_MS,
            groupMessagesPerMinute: config.TELEGRAM_GROUP_MESSAGES_PER_MINUTE,
          },
          planLimits,
          ...(config.TELEGRAM_PAID_BROADCAST
            ? { paidBroadcast: { messagesPerSecond: PAID_BROADCAST_MESSAGES_PER_SECOND } }
            : {}),
          quietHours: config.QUIET_HOURS ? parseQuietHours(config.QUIET_HOURS, config.TZ) : null,
          maxAttempts: config.DELIVERY_MAX_ATTEMPTS,
          maxAgeMs: config.DELIVERY_MAX_AGE_HOURS * 3600_000,
          defaultMediaMode: config.MEDIA_MODE,
          ...(deps.telegramProbeMs
            ? { probeMinMs: deps.telegramProbeMs.min, probeMaxMs: deps.telegramProbeMs.max }
            : {}),
          parallelSends: config.TELEGRAM_PARALLEL_SENDS,
          onChatMoved: (oldChatId, newChatId) => {
            this.languages.move(oldChatId, newChatId).catch((error: unknown) => {
              logger.warn(
                { err: scrubber.describe(error) },
                'could not move the chat language to the new group id',
              );
            });
          },
          onOutcome: (outcome) => {
            this.countDelivery(outcome);
            deps.onDeliveryOutcome?.(outcome);
          },
          // checked right before every send: an instance past its lease (frozen, cut off) sends nothing
          mayAct: () => this.leadership.isLeader(),
          onFenced: (error) => this.leadership.reportFenced(error),
        });
      this.createPolling = () =>
        new BotPolling({
          token,
          apiRoot: config.TELEGRAM_API_ROOT,
          ...viaProxy,
          logger,
          scrubber,
          onReady: (bot) => publishCommands(bot.api),
          handlers: createChatHandlers({
            config,
            directory: this.directory,
            languages: this.languages,
            outbox: this.outbox,
            alerts: this.alerts,
            logger,
            scrubber,
            api: new Api(token, { apiRoot: config.TELEGRAM_API_ROOT, timeoutSeconds: 30, ...viaProxy }),
            approvals: new GroupApprovals(this.state),
            reports: this.store,
            spoolFiles: this.spoolFiles,
            onQueued: () => this.dispatcher?.wake(),
          }),
        });
    }
    this.intake = new ReportIntake({
      store: this.store,
      spoolFiles: this.spoolFiles,
      directory: this.directory,
      logger,
      defaultMediaMode: config.MEDIA_MODE,
      defaultTallImageMode: config.TALL_IMAGE_MODE,
      images: {
        tileLimits: {
          photoMaxRatio: config.PHOTO_MAX_ASPECT_RATIO,
          photoMaxDimensionSum: DEFAULT_PLAN_LIMITS.photoMaxDimensionSum,
        },
        blankScreenshots: config.BLANK_SCREENSHOTS,
        blankShare: config.BLANK_SCREENSHOT_SHARE,
      },
      // read inside the recording transaction
      languageOf: (chatId) => this.languages.get(chatId),
      onRecorded: () => this.dispatcher?.wake(),
      onResult: (mailbox, result) => this.metrics.reports.inc({ mailbox, result: result.status }),
      alerts: this.alerts,
      senderAuth: config.SENDER_AUTH,
      authservId: config.SENDER_AUTHSERV_ID ?? null,
      supersetUrl: config.SUPERSET_URL ?? null,
      dnsResolver: dnsResolverFor(config.DNS_SERVERS),
      supersetNotices: config.SUPERSET_NOTICES,
      scrubber,
    });
    const timings: ListenerTimings = {
      idleRestartMs: config.IMAP_IDLE_RESTART_SECONDS * 1000,
      socketTimeoutMs: config.IMAP_SOCKET_TIMEOUT_SECONDS * 1000,
      catchUpMs: config.IMAP_CATCHUP_SECONDS * 1000,
      reconnectBaseMs: 1000,
      reconnectMaxMs: config.IMAP_RECONNECT_MAX_SECONDS * 1000,
      connectTimeoutMs: 30_000,
      ...deps.timings,
    };
    const spool = spoolRoot(config.DATA_DIR);
    const connectGate = new ConnectGate(config.IMAP_CONNECT_CONCURRENCY);
    const refreshTokens = new RefreshTokenStore(this.state);
    this.refreshTokens = refreshTokens;
    this.listeners = new ListenerSupervisor(
      (mailbox) =>
        new MailboxListener({
          mailbox,
          store: this.store,
          intake: this.intake,
          logger,
          scrubber,
          spoolRoot: spool,
          maxMailBytes: config.MAX_MAIL_MB * MB,
          maxFileBytes: config.MAX_FILE_MB * MB,
          forwardTypes: config.FORWARD_FILE_TYPES,
          markSeen: mailbox.markSeen ?? config.MARK_SEEN,
          timings,
          connectGate,
          firstSyncLookbackMs: config.IMAP_FIRST_SYNC_LOOKBACK_HOURS * 3600_000,
          reportRetentionMs: config.REPORT_RETENTION_DAYS * 24 * 3600_000,
          refreshTokens,
        }),
      logger,
    );
    this.metrics = new BotMetrics({
      listeners: () => this.listeners.statuses(),
      outboxDepth: () => this.dispatcher?.depth ?? 0,
      directoryLoadedAt: () => this.directory.snapshot().loadedAt,
    });
    this.health = new MailboxHealthWatch({
      statuses: () => this.listeners.statuses(),
      alerts: this.alerts,
      downAfterMs: config.MAILBOX_DOWN_ALERT_MINUTES * 60_000,
    });
    const work = {
      startLeaderWork: (generation: number) => this.startLeaderWork(generation),
      stopLeaderWork: () => this.stopLeaderWork(),
    };
    this.leadership = config.DATABASE_URL
      ? new LeaseLeadership({
          url: config.DATABASE_URL,
          schema: config.DATABASE_SCHEMA,
          leaseSeconds: config.LEASE_SECONDS,
          db: state,
          logger,
          alerts: this.alerts,
          ...work,
          // the leader's work may still be running: exit rather than risk a second sender
          onStopFailed: (error) => this.halt(error instanceof Error ? error : new Error(String(error))),
        })
      : new SoleLeadership(work);
    this.leadership.registerMetrics(this.metrics.registry);
  }

  /** The raw SQLite connection (SQLite state only: tests and SQLite-only tools). */
  get db(): Database {
    if (!(this.state instanceof SqliteDatabase)) throw new Error('the state is in PostgreSQL, not SQLite');
    return this.state.connection;
  }

  private countDelivery(outcome: DeliveryOutcome): void {
    this.metrics.deliveries.inc({
      result: outcome.result === 'rate-limited' ? 'rate_limited' : outcome.result,
    });
    if (outcome.latencyMs !== undefined) this.metrics.deliveryLatency.observe(outcome.latencyMs / 1000);
    if (outcome.errorCode !== undefined || outcome.result === 'retry') {
      this.metrics.telegramErrors.inc({ code: String(outcome.errorCode ?? 0) });
    }
  }

  /** What /readyz reports: ready when the directory is loaded, Telegram polls, and every mailbox has a listener. */
  readiness(): Readiness {
    const snapshot = this.directory.snapshot();
    const statuses = this.listeners.statuses();
    const active = snapshot.mailboxes
      .filter((mailbox) => mailbox.active && !isWebhookOnly(mailbox))
      .map((mailbox) => mailbox.email);
    const listening = new Set(statuses.map((status) => status.mailbox));
    const polling = this.polling ? this.polling.isPolling : null;
    const mailboxesReady =
      active.every((email) => listening.has(email)) && statuses.every((status) => status.state !== 'stopped');
    // a standby is ready (to take over) once it runs; the leader once its work runs
    const working = this.leadership.role === 'leader' ? mailboxesReady && polling !== false : true;
    return {
      ready: this.started && !this.stopped && working,
      directory: { kind: this.directory.kind, loadedAt: snapshot.loadedAt },
      telegram: { polling },
      outbox: { pending: this.dispatcher?.depth ?? 0 },
      // 'connected' only once a catch-up has completed; lastError holds the server's words, made safe
      mailboxes: statuses.map((status) => ({
        mailbox: status.mailbox,
        state: status.state === 'connected' ? 'connected' : 'retrying',
        failures: status.failures,
        lastError: status.lastError,
        lastErrorAt: status.lastErrorAt,
        downSince: status.state === 'connected' ? null : status.disconnectedAt,
        connectedAt: status.connectedAt,
        lastMailAt: status.lastMailAt,
        lastSyncAt: status.lastSyncAt,
      })),
    };
  }

  /** Builds and starts the bot. */
  static async start(deps: AppDependencies): Promise<App> {
    // before anything touches DATA_DIR: a second bot must not send, sweep the spool or migrate
    let app: App | undefined;
    const lock = InstanceLock.acquire(deps.config.DATA_DIR, {
      checkIntervalMs: deps.config.INSTANCE_LOCK_CHECK_SECONDS * 1000,
      onReplaced: (outcome) => {
        if (outcome === 'relocked') {
          deps.logger.warn('the lock file of DATA_DIR was removed under the running bot; it is back');
          return;
        }
        const error = new InstanceLockLostError(deps.config.DATA_DIR);
        deps.logger.fatal(error.message);
        app?.halt(error);
      },
    });
    let state: SqlDatabase | undefined;
    try {
      // a frozen leader's open transaction (and its locks) goes with its lease
      state = await openStateDatabase(deps.config, {
        // half a lease: a standby's takeover (which waits for those locks) stays within its attempt
        idleInTransactionTimeoutMs: deps.config.LEASE_SECONDS * 500,
      });
      app = new App(deps, lock, state);
    } catch (error) {
      await state?.close().catch(() => undefined);
      lock.release();
      throw error;
    }
    try {
      await app.run();
    } catch (error) {
      await app.stop();
      throw error;
    }
    return app;
  }

  private async run(): Promise<void> {
    const { logger, scrubber, config } = this.deps;
    for (const warning of configWarnings(config)) logger.warn(warning);
    scrubber.add(...(await this.refreshTokens.all()));
    const removed = removeOrphanSpoolDirs(spoolRoot(config.DATA_DIR), await this.store.referencedSpoolDirs());
    if (removed > 0) logger.info({ removed }, 'removed spool directories left by an interrupted run');
    // a standby needs the directory only for the webhook (recipients of what it records); else it reads
    // it when it takes over
    if (this.leadership instanceof SoleLeadership || config.WEBHOOK_PORT > 0) {
      await this.directory.start();
      this.directoryStarted = true;
    }
    const snapshot = this.directory.snapshot();
    // a webhook URL is a credential too: its token never shows in a log line
    const addSecrets = (mailboxes: typeof snapshot.mailboxes) => {
      for (const mailbox of mailboxes) {
        scrubber.add(...mailboxSecrets(mailbox));
        if (config.WEBHOOK_SECRET) scrubber.add(webhookToken(config.WEBHOOK_SECRET, mailbox.email));
      }
    };
    addSecrets(snapshot.mailboxes);
    // a webhook-only mailbox (in SeaTable: a row whose Host is empty, perhaps by mistake) is read by no
    // listener: without the receiver nothing of it arrives, and the admin should hear so, not only `check`
    const warnWebhookOff = (mailboxes: typeof snapshot.mailboxes) => {
      if (config.WEBHOOK_PORT > 0) return;
      for (const mailbox of mailboxes) {
        if (!mailbox.active || !isWebhookOnly(mailbox)) continue;
        this.alerts.raise(
          `webhook-off:${mailbox.email}`,
          `Mailbox ${mailbox.email} has no IMAP server (webhook-only), but the webhook receiver is off (WEBHOOK_PORT unset): none of its reports can arrive. Set WEBHOOK_PORT and WEBHOOK_SECRET, or give the mailbox its IMAP host back.`,
        );
      }
    };
    warnWebhookOff(snapshot.mailboxes);
    this.unsubscribe = this.directory.onChange((next) => {
      addSecrets(next.mailboxes);
      warnWebhookOff(next.mailboxes);
      if (this.leading) void this.listeners.apply(next.mailboxes);
    });
    const active = snapshot.mailboxes.filter((mailbox) => mailbox.active);
    if (active.length === 0) {
      logger.warn('no active mailbox in the directory: add one with `superset-telegram-bot mailbox add`');
    }
    if (config.WEBHOOK_PORT > 0 && config.WEBHOOK_SECRET) {
      this.webhook = new WebhookServer({
        host: config.WEBHOOK_HOST,
        port: config.WEBHOOK_PORT,
        secret: config.WEBHOOK_SECRET,
        tls:
          config.WEBHOOK_TLS_CERT && config.WEBHOOK_TLS_KEY
            ? { certFile: config.WEBHOOK_TLS_CERT, keyFile: config.WEBHOOK_TLS_KEY }
            : null,
        directory: this.directory,
        intake: this.intake,
        logger,
        scrubber,
        spoolRoot: spoolRoot(config.DATA_DIR),
        maxBodyBytes: config.MAX_MAIL_MB * MB,
        maxFileBytes: config.MAX_FILE_MB * MB,
        forwardTypes: config.FORWARD_FILE_TYPES,
        ...this.deps.webhookTimings,
        onAnswer: (status, outcome) => this.metrics.webhookRequests.inc({ status: String(status), outcome }),
      });
      this.webhookPort = await this.webhook.start();
    }
    if (config.HTTP_PORT > 0) {
      this.ops = new OpsServer({
        host: config.HTTP_HOST,
        port: config.HTTP_PORT,
        registry: this.metrics.registry,
        readiness: () => this.readiness(),
        role: () => this.leadership.role,
      });
      this.opsPort = await this.ops.start();
    }
    this.leadership.start();
    // SQLite: the leader's work has started when `start` returns; PostgreSQL: it starts when (if) this
    // instance takes the lease, maybe much later
    if (this.leadership instanceof SoleLeadership) await this.leadership.started;
    this.started = true;
    logger.info(
      {
        directory: this.directory.kind,
        state: this.state.engine,
        role: this.leadership.role,
        mailboxes: active.length,
        dataDir: path.resolve(config.DATA_DIR),
        ...(this.opsPort ? { http: `http://${config.HTTP_HOST}:${this.opsPort}` } : {}),
        ...(this.webhookPort
          ? {
              webhook: `${config.WEBHOOK_TLS_CERT ? 'https' : 'http'}://${config.WEBHOOK_HOST}:${this.webhookPort}`,
            }
          : {}),
      },
      'superset-telegram-bot started',
    );
  }

  /**
   * The leader's work, started when this instance takes the lease (SQLite: at start): the mailbox
   * listeners, Telegram polling, the dispatcher (each new, so a second term starts clean), the janitor.
   */
  private async startLeaderWork(generation: number): Promise<void> {
    const { logger, scrubber, config } = this.deps;
    this.leading = true;
    if (!(this.leadership instanceof SoleLeadership)) {
      // what the previous leader wrote since this instance read the directory (the SeaTable write
      // queue, chats found gone, the local copy) is read again before this one acts on it
      if (this.directoryStarted) await this.directory.stop();
      await this.directory.start();
      this.directoryStarted = true;
    }
    this.dispatcher = this.createDispatcher?.(generation) ?? null;
    this.polling = this.createPolling?.() ?? null;
    await this.polling?.start();
    this.dispatcher?.start();
    const cleanSpool = async () => {
      const cleaned = await removeFinishedSpools(
        this.store,
        config.SPOOL_RETENTION_HOURS * 3600_000,
        Date.now(),
        this.spoolFiles,
      );
      if (cleaned > 0) logger.info({ reports: cleaned }, 'removed spooled files of finished reports');
      try {
        const forgotten = await forgetOldReports(
          this.store,
          config.REPORT_RETENTION_DAYS * 86_400_000,
          Date.now(),
          undefined,
          undefined,
          this.spoolFiles,
        );
        if (forgotten > 0) {
          logger.info(
            { reports: forgotten, retentionDays: config.REPORT_RETENTION_DAYS },
            'forgot reports past the retention time',
          );
        }
      } catch (error) {
        logger.warn({ err: scrubber.describe(error) }, 'could not forget old reports; trying again later');
      }
      const swept = await this.spoolFiles.sweep();
      if (swept.unkeptStaged + swept.staleLocalCopies > 0)
        logger.info(swept, 'removed spooled files no report keeps');
    };
    await cleanSpool();
    this.janitor = setInterval(() => {
      // a timer must not end the process with an unhandled rejection: the next round tries again
      cleanSpool().catch((error: unknown) => {
        logger.warn(
          { err: scrubber.describe(error) },
          'could not remove finished spools; trying again later',
        );
      });
    }, 10 * 60_000);
    this.janitor.unref();
    await this.listeners.apply(this.directory.snapshot().mailboxes);
    this.health.start();
  }

  /**
   * Stops the leader's work: nothing more is sent, read from the mailboxes or polled. A stop that hangs
   * (a request to a database gone silent) is an error past a bound: the leadership then ends the process
   * rather than compete again with work perhaps still running.
   */
  private async stopLeaderWork(): Promise<void> {
    const boundMs = Math.max(30_000, this.deps.config.LEASE_SECONDS * 2000);
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`the leader's work did not stop within ${boundMs / 1000} s`)),
        boundMs,
      );
    });
    try {
      await Promise.race([this.stopLeaderWorkInOrder(), bound]);
    } finally {
      clearTimeout(timer);
    }
  }

  private async stopLeaderWorkInOrder(): Promise<void> {
    this.leading = false;
    if (this.janitor) clearInterval(this.janitor);
    this.janitor = null;
    this.health.stop();
    // the dispatcher first (it sends nothing more from this call on: not one message more once the
    // lease is in doubt); its request in flight is awaited beside the rest, so a request that hangs
    // does not keep the mailboxes and polling running under a leader that is gone
    // (its failure kept as a value until awaited: a rejection meanwhile must not go unhandled)
    const dispatcherStopped = this.dispatcher?.stop().then(
      () => null,
      (error: unknown) => ({ error }),
    );
    await this.listeners.stop();
    await this.polling?.stop();
    const failed = await dispatcherStopped;
    if (failed) throw failed.error;
    // a standby without the webhook reads no directory (and writes nothing back to SeaTable)
    if (
      !(this.leadership instanceof SoleLeadership) &&
      this.deps.config.WEBHOOK_PORT === 0 &&
      this.directoryStarted
    ) {
      this.directoryStarted = false;
      await this.directory.stop();
    }
  }

  /**
   * Stops at once because this bot may not go on (another holds DATA_DIR, or the leader's work did not
   * stop): the dispatcher sends nothing more (the request in flight ends), then everything stops and
   * {@link AppDependencies.onFatal} is told — after {@link HALT_BOUND_MS} at the latest, since what
   * could not stop before may hang this stop too, and the process must end for its supervisor.
   */
  halt(error: Error): void {
    if (this.halting) return;
    this.halting = true;
    // before the orderly stop, which closes the mail listeners first: not one message more meanwhile
    const dispatcherStopped = this.dispatcher?.stop();
    const stopped = Promise.all([dispatcherStopped, this.stop()]).catch((stopError: unknown) =>
      this.deps.logger.error({ err: this.deps.scrubber.describe(stopError) }, 'error while stopping'),
    );
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        this.deps.logger.error({ boundMs: HALT_BOUND_MS }, 'the bot did not stop in time; ending anyway');
        resolve();
      }, HALT_BOUND_MS);
    });
    void Promise.race([stopped, bound]).finally(() => {
      clearTimeout(timer);
      this.deps.onFatal?.(error);
    });
  }

  /** Stops everything in order: no new mail, listeners closed, the database closed last. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.unsubscribe?.();
    await this.ops?.stop();
    // intake first (no new reports): the webhook stops accepting, answers 503 and lets the POSTs in
    // flight be recorded; then the leader's work (the request in flight finishes) and the lease, which
    // a standby takes at once
    await this.webhook?.stop();
    await this.leadership.stop();
    if (this.alerts instanceof ChatAlerts) this.alerts.stop();
    if (this.directoryStarted) await this.directory.stop();
    await this.state.close();
    this.lock.release();
    this.deps.logger.info('superset-telegram-bot stopped');
  }
}
