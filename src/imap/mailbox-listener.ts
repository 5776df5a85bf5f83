/**
 * One technical mailbox, watched for new mail. The listener owns one IMAP connection at a time
 * (an imapflow instance cannot reconnect, so every reconnect builds a new one), idles on the folder,
 * and catches up on every connect, every EXISTS and on a timer. Mails are processed strictly in UID
 * order; the watermark advances only in the transaction that records the mail, so a crash at any
 * moment loses nothing and records nothing twice.
 *
 * Nothing that goes wrong here leaves this class: errors end the connection, the listener waits
 * (exponential backoff with jitter) and connects again.
 */
import { createHash, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { type FetchMessageObject, ImapFlow } from 'imapflow';
import type { MailboxEntry } from '../directory/directory.js';
import type { IntakeResult, ReportIntake } from '../intake/report-intake.js';
import { parseMail, UnreadableMailError } from '../mail/mail-parser.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import type { MailPosition, ReportStore } from '../store/report-store.js';
import type { ConnectGate } from './connect-gate.js';
import { imapConnectionOptions } from './imap-connection.js';

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
  markSeen: boolean;
  timings: ListenerTimings;
  /** Extra CA certificates for servers with a private CA. */
  tlsCa?: string;
  /** Shared limit on connection attempts at once (all mailboxes of the process). */
  connectGate?: ConnectGate;
}

export type ListenerState = 'connecting' | 'connected' | 'waiting' | 'stopped';

export interface ListenerStatus {
  mailbox: string;
  state: ListenerState;
  /** Consecutive failed connects (0 once connected). */
  failures: number;
  /** The last problem, scrubbed of secrets. */
  lastError: string | null;
  lastErrorAt: string | null;
  /** The server refused the login (not a connection limit): the password or login is wrong. */
  loginRejected: boolean;
  connectedAt: string | null;
  /** When a connection was last lost (null while it never was). */
  disconnectedAt: string | null;
  lastMailAt: string | null;
  lastSyncAt: string | null;
  /** Whether the server advertises IDLE (null until connected). */
  idleSupported: boolean | null;
}

/** Failures to process one message before it is recorded as unreadable and skipped. */
const MAX_MESSAGE_ATTEMPTS = 3;

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

function isoOf(date: Date | string | undefined): string | null {
  if (!date) return null;
  const value = date instanceof Date ? date : new Date(date);
  return Number.isNaN(value.getTime()) ? null : value.toISOString();
}

export class MailboxListener {
  private readonly abort = new AbortController();
  private client: ImapFlow | null = null;
  private running: Promise<void> | null = null;
  private syncing: Promise<void> | null = null;
  private syncAgain = false;
  private readonly attempts = new Map<number, number>();
  private readonly log: Logger;
  private readonly current: ListenerStatus;

  constructor(private readonly options: MailboxListenerOptions) {
    this.log = options.logger.child({ mailbox: options.mailbox.email });
    this.current = {
      mailbox: options.mailbox.email,
      state: 'connecting',
      failures: 0,
      lastError: null,
      lastErrorAt: null,
      loginRejected: false,
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
      await this.connectAndListen();
      if (this.abort.signal.aborted) break;
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

  private createClient(): ImapFlow {
    const { mailbox, timings } = this.options;
    return new ImapFlow({
      ...imapConnectionOptions(mailbox, this.options.tlsCa),
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

  /** One connection's life: connect, catch up, idle, until the connection closes. */
  private async connectAndListen(): Promise<void> {
    const { mailbox, timings } = this.options;
    if (mailbox.password === null) {
      this.fail(new Error(`no password: ${mailbox.passwordSource} is not set`), false);
      return;
    }
    const client = this.createClient();
    this.client = client;
    const closed = new Promise<void>((resolve) => client.once('close', () => resolve()));
    client.on('error', (error: Error) => {
      // emitted at most once per connection, then 'close' follows
      this.log.warn({ err: this.options.scrubber.describe(error) }, 'IMAP connection error');
    });
    client.on('exists', () => this.kick(client));
    this.current.state = 'connecting';
    let catchUp: NodeJS.Timeout | null = null;
    let release: (() => void) | null = null;
    try {
      if (this.options.connectGate) {
        release = await this.options.connectGate.acquire(this.abort.signal);
        if (!release) return;
      }
      try {
        await client.connect();
      } finally {
        release?.();
      }
      const wasDown = this.current.disconnectedAt !== null || this.current.failures > 0;
      this.current.state = 'connected';
      this.current.failures = 0;
      this.current.loginRejected = false;
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
      if (!this.abort.signal.aborted) {
        const reason = client.byeReason ? `server said BYE: ${client.byeReason}` : 'connection closed';
        this.current.disconnectedAt = new Date().toISOString();
        this.noteError(reason);
        this.log.warn({ reason }, 'lost the mailbox connection');
      }
    } catch (error) {
      const rejected = isLoginRejected(error);
      this.fail(error, rejected);
      client.close();
    } finally {
      if (catchUp) clearInterval(catchUp);
      if (this.syncing) await this.syncing.catch(() => undefined);
      this.client = null;
    }
  }

  private fail(error: unknown, loginRejected: boolean): void {
    this.current.failures++;
    this.current.loginRejected = loginRejected;
    this.current.disconnectedAt ??= new Date().toISOString();
    const description = this.noteError(describeImapError(error, this.options.scrubber));
    if (loginRejected) {
      this.log.error(
        { err: description, login: this.options.mailbox.login, failures: this.current.failures },
        'the IMAP server rejected the login: check the login and password of this mailbox',
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
          await this.catchUp(client);
        } while (this.syncAgain && client.usable && !this.abort.signal.aborted);
      } catch (error) {
        this.log.warn({ err: this.options.scrubber.describe(error) }, 'catch-up failed; reconnecting');
        // a fresh connection starts over from the durable watermark
        client.close();
      } finally {
        this.syncing = null;
      }
    })();
  }

  /** Records every mail after the watermark, in UID order. */
  private async catchUp(client: ImapFlow): Promise<void> {
    if (!client.usable) return;
    const { mailbox, store } = this.options;
    const lock = await client.getMailboxLock(mailbox.folder);
    try {
      const opened = client.mailbox;
      if (!opened) throw new Error(`folder ${mailbox.folder} could not be opened`);
      const uidValidity = opened.uidValidity.toString();
      let watermark = store.watermark(mailbox.email);
      if (!watermark || watermark.uidValidity !== uidValidity) {
        watermark = await this.startingPoint(
          client,
          uidValidity,
          watermark?.uidValidity ?? null,
          opened.uidNext,
        );
        store.setWatermark(mailbox.email, watermark);
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
        if (this.abort.signal.aborted || !client.usable) break;
        await this.processMessage(client, uidValidity, message);
      }
      this.current.lastSyncAt = new Date().toISOString();
    } finally {
      lock.release();
    }
  }

  /**
   * Where to start when there is no watermark for this UIDVALIDITY: on the first connect, at the mail
   * that arrived after the mailbox was added; after a UIDVALIDITY change, a day before the newest mail
   * already recorded (already recorded mails are recognised by their fingerprint and skipped).
   */
  private async startingPoint(
    client: ImapFlow,
    uidValidity: string,
    previousUidValidity: string | null,
    uidNext: number,
  ): Promise<{ uidValidity: string; lastUid: number }> {
    const { mailbox, store } = this.options;
    const newest = previousUidValidity ? store.newestInternalDate(mailbox.email) : null;
    const cutoff = newest
      ? new Date(Date.parse(newest) - 24 * 3600_000)
      : new Date(Date.parse(mailbox.addedAt) - 60_000);
    if (previousUidValidity) {
      this.log.warn(
        { previousUidValidity, uidValidity, since: cutoff.toISOString() },
        'UIDVALIDITY changed: rescanning recent mail; mails already recorded are recognised and skipped',
      );
    }
    // SEARCH SINCE is by day in the server's time zone: ask a day early, then compare exact times
    const since = new Date(cutoff.getTime() - 24 * 3600_000);
    const found = (await client.search({ since }, { uid: true })) || [];
    let first: number | null = null;
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
    const lastUid = first !== null ? first - 1 : uidNext - 1;
    this.log.info(
      { uidValidity, lastUid },
      previousUidValidity ? 'rescan starting point set' : 'first connect: starting point set',
    );
    return { uidValidity, lastUid: Math.max(0, lastUid) };
  }

  private async processMessage(
    client: ImapFlow,
    uidValidity: string,
    message: FetchMessageObject,
  ): Promise<void> {
    const { mailbox, intake } = this.options;
    const position: MailPosition = {
      mailbox: mailbox.email,
      uidValidity,
      uid: message.uid,
      internalDate: isoOf(message.internalDate),
    };
    const envelope = message.envelope;
    const known = {
      subject: (envelope?.subject ?? '').replace(/\s+/g, ' ').trim(),
      from: envelope?.from?.[0]?.address?.toLowerCase() ?? null,
      messageId: envelope?.messageId?.replace(/^<|>$/g, '') || null,
      rawSize: message.size ?? 0,
    };
    // identifies a mail whose bytes were never read
    const envelopeFingerprint = createHash('sha256')
      .update(
        JSON.stringify([known.messageId, known.subject, known.from, known.rawSize, position.internalDate]),
      )
      .digest('hex');

    let result: IntakeResult;
    if (known.rawSize > this.options.maxMailBytes) {
      result = intake.recordUnparsed(mailbox, position, {
        ...known,
        status: 'too_large',
        reason: `mail is ${known.rawSize} bytes, over the ${this.options.maxMailBytes}-byte limit (MAX_MAIL_MB)`,
        rawSha256: envelopeFingerprint,
      });
    } else {
      const spoolDir = path.join(this.options.spoolRoot, randomUUID());
      try {
        const download = await client.download(String(message.uid), undefined, { uid: true });
        if (!download.content) {
          // expunged between FETCH and download: nothing to record, move on
          this.options.store.advanceWatermark(position);
          return;
        }
        const parsed = await parseMail(download.content, {
          spoolDir,
          maxFileBytes: this.options.maxFileBytes,
          maxMailBytes: this.options.maxMailBytes,
          dkim: intake.dkimFor(mailbox),
        });
        result = intake.recordParsed(mailbox, position, parsed, spoolDir);
      } catch (error) {
        rmSync(spoolDir, { recursive: true, force: true });
        if (!client.usable) throw error;
        const attempts = (this.attempts.get(message.uid) ?? 0) + 1;
        this.attempts.set(message.uid, attempts);
        const unreadable = error instanceof UnreadableMailError;
        if (!unreadable && attempts < MAX_MESSAGE_ATTEMPTS) throw error;
        result = intake.recordUnparsed(mailbox, position, {
          ...known,
          status: 'unreadable',
          reason: this.options.scrubber.describe(error),
          rawSha256:
            error instanceof UnreadableMailError && error.rawSha256 ? error.rawSha256 : envelopeFingerprint,
        });
      }
    }
    this.attempts.delete(message.uid);
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

/** A login the server refused, as opposed to a connection limit or an outage (imapflow flags both). */
function isLoginRejected(error: unknown): boolean {
  const fields = error as { authenticationFailed?: boolean; serverResponseCode?: string };
  if (!fields?.authenticationFailed) return false;
  return !['LIMIT', 'UNAVAILABLE', 'INUSE', 'SERVERBUG'].includes(
    String(fields.serverResponseCode ?? '').toUpperCase(),
  );
}

function describeImapError(error: unknown, scrubber: SecretScrubber): string {
  const fields = error as { responseText?: string; code?: string; message?: string };
  const detail =
    fields?.responseText && !String(fields.message).includes(fields.responseText)
      ? `: ${fields.responseText}`
      : '';
  const code = fields?.code && !String(fields.message).includes(fields.code) ? ` (${fields.code})` : '';
  return scrubber.scrub(`${scrubber.describe(error)}${detail}${code}`);
}
