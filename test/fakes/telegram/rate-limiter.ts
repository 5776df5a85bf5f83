/**
 * Flood-limit emulation with sliding windows, after the limits Telegram publishes (Bots FAQ, research
 * §3): about 30 messages per second overall, one message per second per chat, 20 messages per minute
 * per group. An album is one request for the per-chat window and N messages for the global and
 * per-group windows. A refused send is not counted.
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
}

export const DEFAULT_RATE_LIMITS: Readonly<RateLimitOptions> = {
  globalMessages: 30,
  globalWindowMs: 1_000,
  perChatRequests: 1,
  perChatWindowMs: 1_000,
  perGroupMessages: 20,
  perGroupWindowMs: 60_000,
};

/** Timestamps of past events inside one sliding window. */
class SlidingWindow {
  private stamps: number[] = [];

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
  ) {}

  /** Milliseconds until `cost` more events fit in the window; 0 when they fit now. */
  waitMs(cost: number, now: number): number {
    this.stamps = this.stamps.filter((stamp) => stamp > now - this.windowMs);
    if (this.stamps.length + cost <= this.limit) return 0;
    // an oversized batch (cost > limit) is let through once the window is empty
    const mustExpire = cost > this.limit ? this.stamps.length : this.stamps.length + cost - this.limit;
    if (mustExpire === 0) return 0;
    return this.stamps[mustExpire - 1]! + this.windowMs - now;
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
   * refuses it and returns `retry_after`: whole seconds (≥ 1) until every window has room.
   */
  admit(chatId: number, isGroup: boolean, messageCount: number, now: number): number | undefined {
    const chatWindow = this.windowFor(
      this.perChat,
      chatId,
      this.options.perChatRequests,
      this.options.perChatWindowMs,
    );
    const groupWindow = isGroup
      ? this.windowFor(this.perGroup, chatId, this.options.perGroupMessages, this.options.perGroupWindowMs)
      : undefined;
    const waitMs = Math.max(
      this.global.waitMs(messageCount, now),
      chatWindow.waitMs(1, now),
      groupWindow?.waitMs(messageCount, now) ?? 0,
    );
    if (waitMs > 0) return Math.max(1, Math.ceil(waitMs / 1000));
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
