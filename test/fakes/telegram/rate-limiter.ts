/**
 * Flood-limit emulation with sliding windows, after the limits Telegram publishes (Bots FAQ, research
 * §3): about 30 messages per second overall, one message per second per chat, 20 messages per minute
 * per group. An album is one request for the per-chat window and N messages for the global and
 * per-group windows. A refused send is not counted.
 *
 * Paid broadcasts (Bot API `allow_paid_broadcast`): a send with the flag may go while the overall
 * window holds fewer than `paidGlobalMessages` (1000/s) messages instead of 30; each of its messages
 * beyond the free 30 in the window is billed (0.1 Star each, see {@link RateLimiter.admit}). The
 * per-chat and per-group limits stay for paid sends too.
 */

/** Window sizes and limits. Every field is optional when passed to the fake; defaults below. */
export interface RateLimitOptions {
  /** Messages all chats together may receive per `globalWindowMs`. Default 30. */
  globalMessages: number;
  /** Default 1000 ms. */
  globalWindowMs: number;
  /** Send requests one chat may receive per `perChatWindowMs` (an album is one). Default 1. */
  perChatRequests: number;
  /** Default 1000 ms. */
  perChatWindowMs: number;
  /** Messages one group, supergroup or channel may receive per `perGroupWindowMs`. Default 20. */
  perGroupMessages: number;
  /** Default 60000 ms. */
  perGroupWindowMs: number;
  /** Messages all chats together may receive per `globalWindowMs` with `allow_paid_broadcast`. Default 1000. */
  paidGlobalMessages: number;
}

export const DEFAULT_RATE_LIMITS: Readonly<RateLimitOptions> = {
  globalMessages: 30,
  globalWindowMs: 1_000,
  perChatRequests: 1,
  perChatWindowMs: 1_000,
  perGroupMessages: 20,
  perGroupWindowMs: 60_000,
  paidGlobalMessages: 1000,
};

/** Timestamps of past events inside one sliding window (oldest first, expired ones dropped from the head). */
class SlidingWindow {
  private stamps: number[] = [];
  private head = 0;

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Events inside the window at `now`. */
  count(now: number): number {
    while (this.head < this.stamps.length && this.stamps[this.head]! <= now - this.windowMs) this.head++;
    if (this.head > 1024 && this.head * 2 > this.stamps.length) {
      this.stamps = this.stamps.slice(this.head);
      this.head = 0;
    }
    return this.stamps.length - this.head;
  }

  /** Milliseconds until `cost` more events fit in the window (of `limit`, default its own); 0 when they fit now. */
  waitMs(cost: number, now: number, limit = this.limit): number {
    const inside = this.count(now);
    if (inside + cost <= limit) return 0;
    // an oversized batch (cost > limit) is let through once the window is empty
    const mustExpire = cost > limit ? inside : inside + cost - limit;
    if (mustExpire === 0) return 0;
    return this.stamps[this.head + mustExpire - 1]! + this.windowMs - now;
  }

  record(cost: number, now: number): void {
    for (let index = 0; index < cost; index++) this.stamps.push(now);
  }
}

export class RateLimiter {
  private readonly options: RateLimitOptions;
  private readonly global: SlidingWindow;
  private readonly perChat = new Map<number, SlidingWindow>();
  private readonly perGroup = new Map<number, SlidingWindow>();

  constructor(options: Partial<RateLimitOptions> = {}) {
    this.options = { ...DEFAULT_RATE_LIMITS, ...options };
    this.global = new SlidingWindow(this.options.globalMessages, this.options.globalWindowMs);
  }

  /**
   * Admits one send request of `messageCount` messages to `chatId` at `now` (ms) and counts it, or
   * refuses it and returns `retry_after`: whole seconds (≥ 1) until every window has room. With `paid`
   * (allow_paid_broadcast) the overall limit is `paidGlobalMessages`, and the messages beyond the free
   * `globalMessages` in the window are billed: `pay(billed)` charges them and may refuse (the bot's
   * Stars balance is too low), and then nothing is counted and `'unpaid'` is returned.
   */
  admit(
    chatId: number,
    isGroup: boolean,
    messageCount: number,
    now: number,
    paid = false,
    pay: (billed: number) => boolean = () => true,
  ): number | undefined | 'unpaid' {
    const chatWindow = this.windowFor(
      this.perChat,
      chatId,
      this.options.perChatRequests,
      this.options.perChatWindowMs,
    );
    const groupWindow = isGroup
      ? this.windowFor(this.perGroup, chatId, this.options.perGroupMessages, this.options.perGroupWindowMs)
      : undefined;
    const globalLimit = paid ? this.options.paidGlobalMessages : this.options.globalMessages;
    const waitMs = Math.max(
      this.global.waitMs(messageCount, now, globalLimit),
      chatWindow.waitMs(1, now),
      groupWindow?.waitMs(messageCount, now) ?? 0,
    );
    if (waitMs > 0) return Math.max(1, Math.ceil(waitMs / 1000));
    const free = Math.max(0, this.options.globalMessages - this.global.count(now));
    const billed = paid ? Math.max(0, messageCount - free) : 0;
    if (billed > 0 && !pay(billed)) return 'unpaid';
    this.global.record(messageCount, now);
    chatWindow.record(1, now);
    groupWindow?.record(messageCount, now);
    return undefined;
  }

  private windowFor(windows: Map<number, SlidingWindow>, chatId: number, limit: number, windowMs: number) {
    let window = windows.get(chatId);
    if (window === undefined) {
      window = new SlidingWindow(limit, windowMs);
      windows.set(chatId, window);
    }
    return window;
  }
}
