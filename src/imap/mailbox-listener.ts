import { type FetchMessageObject, ImapFlow } from 'imapflow';
import type { ForwardFileType } from '../core/report.js';
import type { MailboxEntry } from '../directory/directory.js';
import type { ReportIntake } from '../intake/report-intake.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import { sanitizeServerText } from '../observability/server-text.js';
import type { RefreshTokenStore } from '../store/oauth2-refresh-tokens.js';
import type { ReportStore, Watermark } from '../store/report-store.js';
import type { ConnectGate } from './connect-gate.js';
import { firstSyncCutoff, mailboxIdentity, rescanCutoff } from './first-sync.js';
import { imapConnectionOptions } from './imap-connection.js';
import { describeImapError, isLoginRejected } from './imap-errors.js';
import { isoOf, MailRecorder } from './mail-recorder.js';
import { OAuth2TokenSource, TokenEndpointError } from './oauth2-token-source.js';

/** Timings of a listener, all in milliseconds. */
export interface ListenerTimings {
  /** Re-issue IDLE this often; also the NOOP poll interval on servers without IDLE. */
  idleRestartMs: number;
  /** A silent socket is probed with NOOP after this long; a dead one is dropped after about twice this. */
  socketTimeoutMs: number;
  /** Safety-net catch-up interval. */
  catchUpMs: number;
  /** First reconnect delay; doubles per failure up to `reconnectMaxMs`. */
  reconnectBaseMs: number;
  reconnectMaxMs: number;
  /** Limit for TCP connect + greeting + login. */
  connectTimeoutMs: number;
}

export interface MailboxListenerOptions {
  mailbox: MailboxEntry;
  store: ReportStore;
  intake: ReportIntake;
  logger: Logger;
  scrubber: SecretScrubber;
  /** Root of the file spool; each mail gets its own directory inside. */
  spoolRoot: string;
  maxMailBytes: number;
  maxFileBytes: number;
  /** FORWARD_FILE_TYPES (default pdf, png). */
  forwardTypes?: readonly ForwardFileType[];
  markSeen: boolean;
  timings: ListenerTimings;
  /** Extra CA certificates for servers with a private CA. */
  tlsCa?: string;
  /** Shared limit on connection attempts at once (all mailboxes of the process). */
  connectGate?: ConnectGate;
  /**
   * Without a watermark, start at the mailbox's `addedAt` only when it is at most this old (ms);
   * otherwise from now (IMAP_FIRST_SYNC_LOOKBACK_HOURS). Default 24 h.
   */
  firstSyncLookbackMs?: number;
  /**
   * REPORT_RETENTION_DAYS in ms: a rescan after a UIDVALIDITY change stays a day inside it, where no
   * report has been forgotten yet. Default 90 days.
   */
  reportRetentionMs?: number;
  /** Where an OAuth2 mailbox keeps a refresh token its token endpoint rotated (see RefreshTokenStore). */
  refreshTokens?: RefreshTokenStore;
}

/**
 * `connecting`: connecting, logging in, or logged in but not yet caught up; `connected`: a catch-up
 * has completed on the current connection (the mailbox is up); `waiting`: backing off.
 */
export type ListenerState = 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface ListenerStatus {
  mailbox: string;
  state: ListenerState;
  /** Consecutive failures (refused logins, failed catch-ups, …); 0 once a catch-up completes. */
  failures: number;
  /** The last problem, with the server's words made safe (secrets masked, one bounded line). */
  lastError: string | null;
  lastErrorAt: string | null;
  /** The server refused the login (not a connection limit): the password or login is wrong. */
  loginRejected: boolean;
  /**
   * OAuth2: the token endpoint refused to give an access token (invalid_grant, invalid_client…):
   * only the admin can fix it. False once the mailbox is up again.
   */
  tokenRefused?: boolean;
  connectedAt: string | null;
  /** When the mailbox last stopped being up (connection lost or catch-up failed); null while it never was up. */
  disconnectedAt: string | null;
  lastMailAt: string | null;
  lastSyncAt: string | null;
  /** Whether the server advertises IDLE (null until connected). */
  idleSupported: boolean | null;
}

const DEFAULT_FIRST_SYNC_LOOKBACK_MS = 24 * 3600_000;
const DEFAULT_REPORT_RETENTION_MS = 90 * 24 * 3600_000;

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      // one listener per pause would pile up over thousands of reconnects
      signal.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** `promise`, or undefined as soon as `signal` aborts. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | undefined> {
  if (signal.aborted) return Promise.resolve(undefined);
  let onAbort = () => {};
  const aborted = new Promise<undefined>((resolve) => {
    onAbort = () => resolve(undefined);
    signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, aborted]).finally(() => signal.removeEventListener('abort', onAbort));
}

export class MailboxListener {
  private readonly abort = new AbortController();
  private client: ImapFlow | null = null;
  private running: Promise<void> | null = null;
  private syncing: Promise<void> | null = null;
  private syncAgain = false;
  /** The current connection was closed by a failed catch-up, whose error is already noted. */
  private failedOnThisConnection = false;
  private readonly log: Logger;
  private readonly current: ListenerStatus;
  private readonly recorder: MailRecorder;
  /** Access tokens of an OAuth2 mailbox; null for a password mailbox. */
  private readonly tokens: OAuth2TokenSource | null;
  /** A login with a fresh token was already retried at once since the last successful login. */
  private retriedWithFreshToken = false;

  constructor(private readonly options: MailboxListenerOptions) {
    this.log = options.logger.child({ mailbox: options.mailbox.email });
    this.recorder = new MailRecorder(options);
    this.tokens = options.mailbox.oauth2
      ? new OAuth2TokenSource({
          mailbox: options.mailbox.email,
          settings: options.mailbox.oauth2,
          scrubber: options.scrubber,
          refreshTokens: options.refreshTokens,
          logger: this.log,
          timeoutMs: options.timings.connectTimeoutMs,
        })
      : null;
    this.current = {
      mailbox: options.mailbox.email,
      state: 'connecting',
      failures: 0,
      lastError: null,
      lastErrorAt: null,
      loginRejected: false,
      tokenRefused: false,
      connectedAt: null,
      disconnectedAt: null,
      lastMailAt: null,
      lastSyncAt: null,
      idleSupported: null,
    };
  }

  get mailbox(): MailboxEntry {
    return this.options.mailbox;
  }

  status(): ListenerStatus {
    return { ...this.current };
  }

  /** Starts connecting; returns at once. */
  start(): void {
    if (this.running) return;
    this.running = this.supervise().catch((error: unknown) => {
      // supervise() catches everything it can; this is the last line of defence for the process
      this.log.error({ err: this.options.scrubber.describe(error) }, 'mailbox listener stopped unexpectedly');
      this.current.state = 'stopped';
    });
  }

  /** Stops: finishes the mail being recorded, logs out, and resolves when the connection is closed. */
  async stop(): Promise<void> {
    this.abort.abort();
    const client = this.client;
    if (this.syncing) await this.syncing.catch(() => undefined);
    if (client?.usable) await client.logout().catch(() => client.close());
    else client?.close();
    await this.running;
    this.current.state = 'stopped';
  }

  /** Asks for a catch-up now (also used by tests and the supervisor). */
  checkNow(): void {
    if (this.client) this.kick(this.client);
  }

  private async supervise(): Promise<void> {
    const { timings } = this.options;
    while (!this.abort.signal.aborted) {
      const retryAtOnce = await this.connectAndListen();
      if (this.abort.signal.aborted) break;
      if (retryAtOnce) continue;
      const ceiling = Math.min(
        timings.reconnectMaxMs,
        timings.reconnectBaseMs * 2 ** Math.min(this.current.failures, 20),
      );
      // full jitter keeps hundreds of mailboxes from reconnecting in lockstep after a server restart
      const delay = Math.round(ceiling / 2 + Math.random() * (ceiling / 2));
      this.current.state = 'waiting';
      this.log.info({ retryInMs: delay, failures: this.current.failures }, 'reconnecting after a pause');
      await sleep(delay, this.abort.signal);
    }
  }

  private createClient(accessToken: string | undefined): ImapFlow {
    const { mailbox, timings } = this.options;
    return new ImapFlow({
      ...imapConnectionOptions(mailbox, this.options.tlsCa, accessToken),
      id: `mbx-${mailbox.email}`,
      // IDLE as soon as the connection is free: with the 15 s default new mail would wait that long
      autoIdleDelay: 200,
      maxIdleTime: timings.idleRestartMs,
      missingIdleCommand: 'NOOP',
      socketTimeout: timings.socketTimeoutMs,
      connectionTimeout: timings.connectTimeoutMs,
      greetingTimeout: Math.min(timings.connectTimeoutMs, 16_000),
    });
  }

  /**
   * One connection's life: connect, catch up, idle, until the connection closes. Resolves true when
   * the next attempt should follow at once (an OAuth2 login refused once: a fresh token is tried).
   */
  private async connectAndListen(): Promise<boolean> {
    const { mailbox, timings, scrubber } = this.options;
    let accessToken: string | undefined;
    if (this.tokens) {
      this.current.state = 'connecting';
      try {
        // stopping does not wait for a slow token endpoint
        accessToken = await untilAborted(this.tokens.accessToken(), this.abort.signal);
      } catch (error) {
        if (!this.abort.signal.aborted) this.tokenFailed(error);
        return false;
      }
      if (accessToken === undefined || this.abort.signal.aborted) return false;
    } else if (mailbox.password === null) {
      this.fail(new Error(`no password: ${mailbox.passwordSource} is not set`), false);
      return false;
    }
    const client = this.createClient(accessToken);
    this.client = client;
    this.failedOnThisConnection = false;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', (error: Error) => {
      // emitted at most once per connection, then 'close' follows
      this.log.warn({ err: describeImapError(error, scrubber) }, 'IMAP connection error');
    });
    client.on('exists', () => this.kick(client));
    this.current.state = 'connecting';
    let catchUp: NodeJS.Timeout | null = null;
    let release: (() => void) | null = null;
    try {
      if (this.options.connectGate) {
        release = await this.options.connectGate.acquire(this.abort.signal);
        if (!release) return false;
      }
      try {
        await client.connect();
      } finally {
        release?.();
      }
      this.retriedWithFreshToken = false;
      const wasDown = this.current.disconnectedAt !== null || this.current.failures > 0;
      // logged in; the mailbox counts as up only once a catch-up has completed (markInSync)
      this.current.connectedAt = new Date().toISOString();
      this.current.idleSupported = client.capabilities.has('IDLE');
      this.log.info(
        { idle: this.current.idleSupported, folder: mailbox.folder },
        wasDown ? 'reconnected to the mailbox' : 'connected to the mailbox',
      );
      if (!this.current.idleSupported) {
        this.log.warn({ pollMs: timings.idleRestartMs }, 'server has no IDLE: polling with NOOP instead');
      }
      this.kick(client);
      catchUp = setInterval(() => this.kick(client), timings.catchUpMs);
      catchUp.unref();
      if (!this.abort.signal.aborted) await closed;
      if (this.syncing) await this.syncing.catch(() => undefined);
      if (!this.abort.signal.aborted && !this.failedOnThisConnection) {
        const reason = client.byeReason
          ? `server said BYE: ${sanitizeServerText(client.byeReason, scrubber)}`
          : 'connection closed';
        if (this.isUp()) {
          // an up mailbox lost its connection: reconnect soon (the backoff starts over)
          this.current.disconnectedAt = new Date().toISOString();
          this.noteError(reason);
        } else {
          // closed before a catch-up completed: a failure like a refused login
          this.current.failures++;
          this.noteError(reason);
        }
        this.log.warn({ reason, failures: this.current.failures }, 'lost the mailbox connection');
      }
    } catch (error) {
      const rejected = isLoginRejected(error);
      client.close();
      if (rejected && this.tokens) {
        // the token may have been revoked or expired early: never present it again
        this.tokens.invalidate();
        if (!this.retriedWithFreshToken && !this.abort.signal.aborted) {
          this.retriedWithFreshToken = true;
          this.log.warn(
            { err: describeImapError(error, scrubber) },
            'the IMAP server refused the access token: trying once more with a fresh one',
          );
          return true;
        }
      }
      this.fail(error, rejected);
    } finally {
      if (catchUp) clearInterval(catchUp);
      if (this.syncing) await this.syncing.catch(() => undefined);
      if (!this.abort.signal.aborted) this.current.state = 'waiting';
      this.client = null;
    }
    return false;
  }

  /** No access token: the endpoint refused (alerted, backs off like a refused login) or is unreachable. */
  private tokenFailed(error: unknown): void {
    const refused = error instanceof TokenEndpointError && error.kind === 'refused';
    this.current.failures++;
    this.current.loginRejected = false;
    this.current.tokenRefused = refused;
    const description = this.noteError(
      error instanceof TokenEndpointError ? error.message : describeImapError(error, this.options.scrubber),
    );
    const fields = { err: description, grant: this.tokens?.grant, failures: this.current.failures };
    if (refused) {
      this.log.error(
        fields,
        'the OAuth2 token endpoint refused to give an access token: check the client secret, refresh token and app permissions of this mailbox',
      );
    } else {
      this.log.warn(fields, 'could not get an OAuth2 access token; retrying');
    }
  }

  private fail(error: unknown, loginRejected: boolean): void {
    this.current.failures++;
    this.current.loginRejected = loginRejected;
    this.current.tokenRefused = false;
    const description = this.noteError(describeImapError(error, this.options.scrubber));
    if (loginRejected) {
      this.log.error(
        { err: description, login: this.options.mailbox.login, failures: this.current.failures },
        this.tokens
          ? 'the IMAP server refused the OAuth2 access token: check that the app may access this mailbox (its permission on the mailbox, the scope)'
          : 'the IMAP server rejected the login: check the login and password of this mailbox',
      );
    } else {
      this.log.warn(
        { err: description, failures: this.current.failures },
        'could not connect to the mailbox',
      );
    }
  }

  private noteError(description: string): string {
    this.current.lastError = description;
    this.current.lastErrorAt = new Date().toISOString();
    return description;
  }

  /** Up: a catch-up has completed on the current connection. */
  private isUp(): boolean {
    return this.current.state === 'connected';
  }

  /** A catch-up completed on `client`: the mailbox is up. */
  private markInSync(client: ImapFlow): void {
    this.current.lastSyncAt = new Date().toISOString();
    if (this.isUp() || this.client !== client || !client.usable) return;
    const recovering = this.current.failures > 0 || this.current.disconnectedAt !== null;
    this.current.state = 'connected';
    this.current.failures = 0;
    this.current.loginRejected = false;
    this.current.tokenRefused = false;
    if (recovering) this.log.info('caught up: the mailbox is in sync again');
    else this.log.info('caught up: the mailbox is in sync');
  }

  /**
   * A catch-up failed after login (folder missing, FETCH refused, disk full, database busy): the
   * watermark stays, the connection is closed, and the next one waits like after a refused login.
   */
  private catchUpFailed(client: ImapFlow, error: unknown): void {
    const description = describeImapError(error, this.options.scrubber);
    if (!client.usable) {
      // the connection went first; its close is what is recorded (connectAndListen)
      this.log.debug({ err: description }, 'catch-up ended with the connection');
      return;
    }
    if (this.client === client && !this.failedOnThisConnection && !this.abort.signal.aborted) {
      this.failedOnThisConnection = true;
      if (this.isUp()) this.current.disconnectedAt = new Date().toISOString();
      this.current.failures++;
      this.current.loginRejected = false;
      this.noteError(description);
    }
    this.log.warn({ err: description, failures: this.current.failures }, 'catch-up failed; reconnecting');
    // a fresh connection starts over from the durable watermark
    client.close();
  }

  /** Runs a catch-up now, or right after the one in progress. Never runs two at once. */
  private kick(client: ImapFlow): void {
    if (this.abort.signal.aborted) return;
    if (this.syncing) {
      this.syncAgain = true;
      return;
    }
    this.syncing = (async () => {
      try {
        do {
          this.syncAgain = false;
          if (await this.catchUp(client)) this.markInSync(client);
        } while (this.syncAgain && client.usable && !this.abort.signal.aborted);
      } catch (error) {
        this.catchUpFailed(client, error);
      } finally {
        this.syncing = null;
      }
    })();
  }

  /**
   * Records every mail after the watermark, in UID order. Resolves true when it went through to the
   * end, false when the connection went away first; throws when a mail could not be read or recorded.
   */
  private async catchUp(client: ImapFlow): Promise<boolean> {
    if (!client.usable) return false;
    const { mailbox, store } = this.options;
    const lock = await client.getMailboxLock(mailbox.folder);
    try {
      const opened = client.mailbox;
      if (!opened) throw new Error(`folder ${mailbox.folder} could not be opened`);
      const uidValidity = opened.uidValidity.toString();
      const identity = mailboxIdentity(mailbox);
      let watermark: Watermark | null = await store.watermark(mailbox.email);
      if (watermark?.mailboxIdentity && watermark.mailboxIdentity !== identity) {
        this.log.warn(
          { previous: watermark.mailboxIdentity, current: identity },
          'this mailbox was removed and added again: starting afresh; mail that arrived while it was removed is not forwarded',
        );
        watermark = await this.startingPoint(client, uidValidity, null, opened.uidNext);
        await store.setWatermark(mailbox.email, { ...watermark, mailboxIdentity: identity });
      } else if (!watermark || watermark.uidValidity !== uidValidity) {
        watermark = await this.startingPoint(
          client,
          uidValidity,
          watermark?.uidValidity ?? null,
          opened.uidNext,
        );
        await store.setWatermark(mailbox.email, { ...watermark, mailboxIdentity: identity });
      } else if (!watermark.mailboxIdentity) {
        await store.setWatermarkIdentity(mailbox.email, identity);
      }
      const pending: FetchMessageObject[] = [];
      for await (const message of client.fetch(
        `${watermark.lastUid + 1}:*`,
        { uid: true, size: true, internalDate: true, envelope: true },
        { uid: true },
      )) {
        // "N:*" also returns the highest message when N is above it (RFC 9051 §6.4.8)
        if (message.uid > watermark.lastUid) pending.push(message);
      }
      pending.sort((a, b) => a.uid - b.uid);
      for (const message of pending) {
        if (this.abort.signal.aborted || !client.usable) return false;
        await this.processMessage(client, uidValidity, message);
      }
      return client.usable && !this.abort.signal.aborted;
    } finally {
      lock.release();
    }
  }

  /**
   * Where to start when there is no usable watermark. Without one (first connect, DATA_DIR lost, a
   * mailbox added again): at the mail that arrived after the mailbox's directory row was created,
   * when that is within the first-sync lookback, otherwise from now. After a UIDVALIDITY change: a
   * day before the newest mail already recorded (mails already recorded are recognised by their
   * fingerprint and skipped), but not earlier than a day inside the retention time ({@link rescanCutoff}).
   */
  private async startingPoint(
    client: ImapFlow,
    uidValidity: string,
    previousUidValidity: string | null,
    uidNext: number,
  ): Promise<{ uidValidity: string; lastUid: number }> {
    const { mailbox, store } = this.options;
    const lookbackMs = this.options.firstSyncLookbackMs ?? DEFAULT_FIRST_SYNC_LOOKBACK_MS;
    const newest = previousUidValidity ? await store.newestInternalDate(mailbox.email) : null;
    const cutoff = newest
      ? rescanCutoff(newest, Date.now(), this.options.reportRetentionMs ?? DEFAULT_REPORT_RETENTION_MS)
      : firstSyncCutoff(mailbox.addedAt, Date.now(), lookbackMs);
    if (previousUidValidity) {
      this.log.warn(
        { previousUidValidity, uidValidity, since: cutoff?.toISOString() ?? 'now' },
        'UIDVALIDITY changed: rescanning recent mail; mails already recorded are recognised and skipped',
      );
    }
    let first: number | null = null;
    if (cutoff) {
      // SEARCH SINCE is by day in the server's time zone: ask a day early, then compare exact times
      const since = new Date(cutoff.getTime() - 24 * 3600_000);
      const found = (await client.search({ since }, { uid: true })) || [];
      if (found.length > 0) {
        for await (const message of client.fetch(
          found.join(','),
          { uid: true, internalDate: true },
          { uid: true },
        )) {
          const arrived = isoOf(message.internalDate);
          if (arrived && arrived >= cutoff.toISOString() && (first === null || message.uid < first))
            first = message.uid;
        }
      }
    }
    const lastUid = first !== null ? first - 1 : uidNext - 1;
    this.log.info(
      { uidValidity, lastUid, since: cutoff?.toISOString() ?? 'now', addedAt: mailbox.addedAt },
      previousUidValidity
        ? 'rescan starting point set'
        : cutoff
          ? 'first connect: starting at the mail since the mailbox was added'
          : 'first connect: starting from now (the mailbox was added longer ago than IMAP_FIRST_SYNC_LOOKBACK_HOURS)',
    );
    return { uidValidity, lastUid: Math.max(0, lastUid) };
  }

  private async processMessage(
    client: ImapFlow,
    uidValidity: string,
    message: FetchMessageObject,
  ): Promise<void> {
    const result = await this.recorder.record(client, uidValidity, message);
    if (!result) return;
    this.current.lastMailAt = new Date().toISOString();
    if (this.options.markSeen && result.status !== 'duplicate') {
      await client.messageFlagsAdd(String(message.uid), ['\\Seen'], { uid: true }).catch((error: unknown) => {
        this.log.warn(
          { uid: message.uid, err: this.options.scrubber.describe(error) },
          'could not mark the mail \\Seen',
        );
      });
    }
  }
}
