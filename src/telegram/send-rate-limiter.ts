/**
 * Telegram's sending limits, kept on our side so the bot paces itself instead of collecting 429s:
 * about 30 messages per second overall, one request per second to a chat, 20 messages per minute to a
 * group (Bots FAQ). An album counts as its number of items for the overall and group limits and as one
 * request for the per-chat interval. A small margin absorbs the time a request spends on the wire.
 */

/** The overall limit with paid broadcasts (`allow_paid_broadcast`), messages per second (Bot API docs). */
export const PAID_BROADCAST_MESSAGES_PER_SECOND = 1000;

export interface SendRateLimits {
  /** Messages per second, overall. */
  messagesPerSecond: number;
  /** Least time between two requests to one chat, in ms. */
  chatIntervalMs: number;
  /** Messages per minute to one group. */
  groupMessagesPerMinute: number;
  /** Extra time added to every window, in ms (default 10). */
  marginMs?: number;
}

/**
 * The overall window's capacity: the rate less 2% in whole messages (30/s: none; 1000/s: 20). The bot
 * counts a request when it sends it, Telegram when it arrives; at 1000/s a few milliseconds of a busy
 * event loop or network bunch a second's sends together at Telegram's end, and the headroom absorbs
 * that instead of a 429 (which pauses the chat for a whole second).
 */
function withHeadroom(messagesPerSecond: number): number {
  return Math.max(1, messagesPerSecond - Math.floor(messagesPerSecond * 0.02));
}

/** A sliding window of (time, count) entries. */
class SlidingWindow {
  private readonly entries: Array<{ at: number; count: number }> = [];
  private total = 0;

  constructor(
    /** Changed by {@link SendRateLimiter.setMessagesPerSecond}; entries already in stay counted. */
    public capacity: number,
    private readonly lengthMs: number,
  ) {}

  private expire(now: number): void {
    while (this.entries.length > 0 && this.entries[0]!.at + this.lengthMs <= now) {
      this.total -= this.entries.shift()!.count;
    }
  }

  /** When `count` more would fit (now or later); Infinity when it never fits. */
  availableAt(count: number, now: number): number {
    if (count > this.capacity) return Number.POSITIVE_INFINITY;
    this.expire(now);
    let free = this.capacity - this.total;
    if (free >= count) return now;
    for (const entry of this.entries) {
      free += entry.count;
      if (free >= count) return entry.at + this.lengthMs;
    }
    return now;
  }

  /** Room left now (never below 0). */
  free(now: number): number {
    this.expire(now);
    return Math.max(0, this.capacity - this.total);
  }

  add(count: number, now: number): void {
    this.entries.push({ at: now, count });
    this.total += count;
  }

  isIdle(now: number): boolean {
    this.expire(now);
    return this.entries.length === 0;
  }
}

export class SendRateLimiter {
  private readonly global: SlidingWindow;
  private readonly lastRequest = new Map<number, number>();
  private readonly groups = new Map<number, SlidingWindow>();
  private readonly pausedUntil = new Map<number, number>();
  /** Messages of requests sent but not answered yet, overall and per chat. */
  private inFlight = 0;
  private readonly inFlightChats = new Map<number, { messages: number; startedAt: number }>();
  private readonly margin: number;

  private readonly limits: SendRateLimits;

  constructor(limits: SendRateLimits) {
    this.limits = { ...limits };
    this.margin = limits.marginMs ?? 10;
    this.global = new SlidingWindow(withHeadroom(limits.messagesPerSecond), 1000 + this.margin);
  }

  /** The overall rate now (messages per second). */
  get messagesPerSecond(): number {
    return this.limits.messagesPerSecond;
  }

  /**
   * Changes the overall rate (paid broadcasts on or off). Messages already sent stay in the window: after
   * a drop from 1000/s to 30/s nothing more goes until the last second's sends have left it.
   */
  setMessagesPerSecond(messagesPerSecond: number): void {
    this.limits.messagesPerSecond = messagesPerSecond;
    this.global.capacity = withHeadroom(messagesPerSecond);
  }

  /**
   * The earliest time a request carrying `messages` messages may go to `chatId`. Group chats (negative
   * ids) are also held to the per-minute limit. An album larger than the overall limit is let through
   * on an empty window rather than never.
   */
  earliest(chatId: number, messages: number, now: number): number {
    return Math.max(this.overallEarliest(messages, now), this.chatEarliest(chatId, messages, now));
  }

  /**
   * The overall part of {@link earliest}: when `messages` more fit in the overall window, with the
   * requests in flight counted. The same for every chat, so a scheduler asks it once per message count.
   */
  overallEarliest(messages: number, now: number): number {
    const capacity = this.global.capacity;
    const count = Math.min(messages, capacity) + this.inFlight;
    // more than a second's worth with the requests in flight: their answers come first
    if (count > capacity) return Number.POSITIVE_INFINITY;
    return Math.max(now, this.global.availableAt(count, now));
  }

  /** Messages that fit in the overall window now, with the requests in flight counted. */
  overallFree(now: number): number {
    return Math.max(0, this.global.free(now) - this.inFlight);
  }

  /**
   * The chat's part of {@link earliest}: its request in flight (Infinity until answered), its interval,
   * a 429 pause, and a group's per-minute window.
   */
  chatEarliest(chatId: number, messages: number, now: number): number {
    // one request per chat at a time; its answer decides when the next may go
    if (this.inFlightChats.has(chatId)) return Number.POSITIVE_INFINITY;
    let at = now;
    const last = this.lastRequest.get(chatId);
    if (last !== undefined) at = Math.max(at, last + this.limits.chatIntervalMs + this.margin);
    const paused = this.pausedUntil.get(chatId);
    if (paused !== undefined) at = Math.max(at, paused);
    if (chatId < 0) {
      const window = this.groups.get(chatId);
      const groupCount = Math.min(messages, this.limits.groupMessagesPerMinute);
      if (window) at = Math.max(at, window.availableAt(groupCount, now));
    }
    return at;
  }

  /** A request is on its way: its messages count against the limits until it is answered. */
  begin(chatId: number, messages: number, now: number): void {
    this.inFlight += messages;
    this.inFlightChats.set(chatId, { messages, startedAt: now });
  }

  /**
   * The request was answered. Telegram counts a request when it has received it: a small JSON request
   * counts from when it was sent, an upload may arrive long after it was started and counts from its
   * answer (`uploaded`).
   */
  end(chatId: number, now: number, uploaded: boolean): void {
    const request = this.inFlightChats.get(chatId);
    if (!request) return;
    this.inFlight -= request.messages;
    this.inFlightChats.delete(chatId);
    this.record(chatId, request.messages, uploaded ? now : request.startedAt, now);
  }

  /**
   * Records a request that reached Telegram at `now`. The chat's interval counts from `answeredAt`
   * (default `now`): the request reached Telegram before its answer came back, however late it left
   * a busy event loop, so the next one to that chat cannot arrive within the interval (a 429 costs
   * the chat a whole second).
   */
  record(chatId: number, messages: number, now: number, answeredAt = now): void {
    this.global.add(Math.min(messages, this.global.capacity), now);
    this.lastRequest.set(chatId, answeredAt);
    if (chatId < 0) {
      let window = this.groups.get(chatId);
      if (!window) {
        window = new SlidingWindow(this.limits.groupMessagesPerMinute, 60_000 + this.margin);
        this.groups.set(chatId, window);
      }
      window.add(Math.min(messages, this.limits.groupMessagesPerMinute), now);
    }
    this.forgetIdle(now);
  }

  /** Telegram said 429 for this chat: nothing goes there before `until`. */
  pause(chatId: number, until: number): void {
    this.pausedUntil.set(chatId, Math.max(until, this.pausedUntil.get(chatId) ?? 0));
  }

  private forgetIdle(now: number): void {
    // bounded memory with thousands of chats: drop state that no longer constrains anything
    if (this.lastRequest.size < 10_000) return;
    for (const [chatId, at] of this.lastRequest) {
      if (at + this.limits.chatIntervalMs + this.margin < now) this.lastRequest.delete(chatId);
    }
    for (const [chatId, window] of this.groups) if (window.isIdle(now)) this.groups.delete(chatId);
    for (const [chatId, until] of this.pausedUntil) if (until < now) this.pausedUntil.delete(chatId);
  }
}
