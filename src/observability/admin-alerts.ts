/**
 * Problem reports to the admin chat (ADMIN_CHAT_ID). A problem is raised under a key ("mailbox-down:
 * x@y"); while it stays raised, repeats are counted, not sent, and summarised at most once per repeat
 * interval; clearing it sends one "recovered" message. Sending is paced, so a storm of problems
 * becomes a handful of messages, never a flood.
 */
import type { Logger } from './logger.js';

export interface AdminAlerts {
  /** Reports a problem; repeats of the same key are grouped. */
  raise(key: string, text: string): void;
  /** Reports that the problem under `key` is over (sent only if it was raised). */
  clear(key: string, text: string): void;
}

/** Alerts that go nowhere (no ADMIN_CHAT_ID), but are still logged. */
export class LoggedAlerts implements AdminAlerts {
  constructor(private readonly logger: Logger) {}

  raise(key: string, text: string): void {
    this.logger.warn({ alert: key }, text);
  }

  clear(key: string, text: string): void {
    this.logger.info({ alert: key }, text);
  }
}

export interface ChatAlertsOptions {
  /** Sends one message to the admin chat. */
  send: (text: string) => Promise<void>;
  logger: Logger;
  /** Least time between two messages about the same raised problem, ms (default 30 min). */
  repeatIntervalMs?: number;
  /** Least time between two messages to the admin chat, ms (default 3 s). */
  pacingMs?: number;
  /**
   * Whether a failed send is tried again, and after how long (ms), or null to drop the message (it is
   * in the log). `failures` counts the failures of this message in a row. Default: never again.
   * While Telegram is down, messages wait in order and go out when it is back.
   */
  retryDelayMs?: (error: unknown, failures: number) => number | null;
  /**
   * Problems remembered at once (default 1000). Keys such as one per failed delivery are never
   * cleared; past this many, the one raised longest ago is forgotten (raised again, it is new).
   */
  maxRaised?: number;
  /**
   * Keeps the messages not sent yet across restarts (a StoredAlertQueue): loaded at construction (the
   * held-over messages go first; nothing is sent or saved before they are read), saved on every change,
   * one save after the other. Without it they live in memory only.
   */
  persist?: { load(): Promise<string[]>; save(messages: readonly string[]): Promise<void> };
  now?: () => number;
}

/** Longest text sent to the admin chat (Telegram takes 4096 characters). */
const MESSAGE_MAX = 4000;

interface RaisedProblem {
  text: string;
  lastSentAt: number;
  unsentRepeats: number;
}

export class ChatAlerts implements AdminAlerts {
  private readonly raised = new Map<string, RaisedProblem>();
  private readonly queue: string[] = [];
  private sending = false;
  private lastSendAt = 0;
  /** Failures in a row of the message at the head of the queue. */
  private failures = 0;
  private stopped = false;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  /** The stored queue has been read (or there is none): sending and saving may begin. */
  private loaded: boolean;
  /** The saves, one after the other (a later one never overtaken by an earlier). */
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: ChatAlertsOptions) {
    this.now = options.now ?? Date.now;
    this.loaded = options.persist === undefined;
    options.persist
      ?.load()
      .catch((error: unknown) => {
        this.options.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'could not read the admin chat messages held over from before the restart',
        );
        return [] as string[];
      })
      .then((left) => {
        this.loaded = true;
        const note = '\n(held over from before the bot restarted)';
        this.queue.unshift(
          ...left.map((message) => (message.endsWith(note) ? message : `${message}${note}`)),
        );
        this.changed();
      });
  }

  /** Resolves when the held-over messages are read and the last change is saved (for tests and stop). */
  async settled(): Promise<void> {
    while (!this.loaded) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.saving;
  }

  raise(key: string, text: string): void {
    this.options.logger.warn({ alert: key }, text);
    const now = this.now();
    const problem = this.raised.get(key);
    if (!problem) {
      this.raised.set(key, { text: text.slice(0, MESSAGE_MAX), lastSentAt: now, unsentRepeats: 0 });
      const limit = this.options.maxRaised ?? 1000;
      for (const oldest of this.raised.keys()) {
        if (this.raised.size <= limit) break;
        this.raised.delete(oldest);
      }
      this.enqueue(`⚠️ ${text}`);
      return;
    }
    // the most recently raised last: the first in the map is the one raised longest ago
    this.raised.delete(key);
    this.raised.set(key, problem);
    problem.unsentRepeats++;
    problem.text = text.slice(0, MESSAGE_MAX);
    if (now - problem.lastSentAt >= (this.options.repeatIntervalMs ?? 30 * 60_000)) {
      this.enqueue(`⚠️ ${text} (${problem.unsentRepeats}× since the last message)`);
      problem.lastSentAt = now;
      problem.unsentRepeats = 0;
    }
  }

  clear(key: string, text: string): void {
    if (!this.raised.delete(key)) return;
    this.options.logger.info({ alert: key }, text);
    this.enqueue(`✅ ${text}`);
  }

  /** Stops pacing timers. Messages still queued are dropped (they are in the log), or kept for the next run with `persist`. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }

  /** The queue changed: store it, and send what is due. */
  private changed(): void {
    if (this.stopped || !this.loaded) return;
    this.save();
    this.pump();
  }

  /** Stores the queue as it is now, after the saves before. A failure is logged; the next change saves again. */
  private save(): void {
    const persist = this.options.persist;
    if (!persist || !this.loaded) return;
    const messages = [...this.queue];
    this.saving = this.saving
      .then(() => persist.save(messages))
      .catch((error: unknown) => {
        this.options.logger.warn(
          { err: error instanceof Error ? error.message : String(error) },
          'could not store the admin chat messages not sent yet',
        );
      });
  }

  /** Removes `message` from the head, unless a fold replaced it meanwhile. */
  private dropHead(message: string): void {
    if (this.stopped || this.queue[0] !== message) return;
    this.queue.shift();
    this.save();
  }

  private enqueue(text: string): void {
    const message = text.slice(0, MESSAGE_MAX);
    // one long queue means a storm: fold what waits into one summary
    if (this.queue.length >= 20) {
      // the message being sent stays as it is
      const folded = this.queue.splice(this.sending ? 1 : 0);
      this.queue.push(
        `${folded.length + 1} problems at once (see the log):\n${[...folded, message].slice(0, 10).join('\n')}`.slice(
          0,
          MESSAGE_MAX,
        ),
      );
    } else {
      this.queue.push(message);
    }
    this.changed();
  }

  private pump(): void {
    if (this.sending || this.timer || this.queue.length === 0) return;
    const wait = Math.max(0, this.lastSendAt + (this.options.pacingMs ?? 3000) - this.now());
    if (wait > 0) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
      this.timer.unref();
      return;
    }
    const message = this.queue[0]!;
    this.sending = true;
    this.lastSendAt = this.now();
    this.options
      .send(message.slice(0, 4000))
      .then(
        () => {
          this.dropHead(message);
          this.failures = 0;
        },
        (error: unknown) => {
          this.failures++;
          const retryInMs = this.options.retryDelayMs?.(error, this.failures) ?? null;
          this.options.logger.warn(
            { err: error instanceof Error ? error.message : String(error), retryInMs },
            retryInMs === null
              ? 'could not send to the admin chat'
              : 'could not send to the admin chat; will try again',
          );
          if (retryInMs === null) {
            this.dropHead(message);
            this.failures = 0;
            return;
          }
          // the message stays first; the pacing wait becomes the retry wait
          this.lastSendAt = this.now() + retryInMs - (this.options.pacingMs ?? 3000);
        },
      )
      .finally(() => {
        this.sending = false;
        if (!this.stopped) this.pump();
      });
  }
}
