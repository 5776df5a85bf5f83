/** Telegram's limits as the bot paces itself: 30 messages/s overall, 1 request/s per chat, 20/min per group. */
import { describe, expect, it } from 'vitest';
import { SendRateLimiter } from '../../src/telegram/send-rate-limiter.js';

const limits = { messagesPerSecond: 30, chatIntervalMs: 1000, groupMessagesPerMinute: 20, marginMs: 0 };

function sent(limiter: SendRateLimiter, chatId: number, messages: number, at: number): void {
  limiter.begin(chatId, messages, at);
  limiter.end(chatId, at + 5, false);
}

describe('send rate limiter', () => {
  it('lets 30 messages a second through overall, counting an album as its items', () => {
    const limiter = new SendRateLimiter(limits);
    for (let chat = 1; chat <= 10; chat++) sent(limiter, chat, 3, 0);
    expect(limiter.earliest(11, 1, 10)).toBe(1000);
    expect(limiter.earliest(11, 1, 1000)).toBe(1000);
    // a request in flight holds its messages too
    const busy = new SendRateLimiter(limits);
    busy.begin(1, 30, 0);
    expect(busy.earliest(2, 1, 0)).toBe(Number.POSITIVE_INFINITY);
  });

  it('keeps one second between requests to one chat, and one request in flight per chat', () => {
    const limiter = new SendRateLimiter(limits);
    limiter.begin(5, 1, 0);
    expect(limiter.earliest(5, 1, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(limiter.earliest(6, 1, 0)).toBe(0);
    // a small request counts from when it was sent overall, and for its chat from its answer: however
    // late it left the bot, it had reached Telegram by then
    limiter.end(5, 40, false);
    expect(limiter.earliest(5, 1, 500)).toBe(1040);
    expect(limiter.overallFree(500)).toBe(29);
    expect(limiter.overallFree(1000)).toBe(30);
    // an upload answered at 2400 ms counts from its answer: Telegram may have received it only then
    limiter.begin(5, 1, 2000);
    limiter.end(5, 2400, true);
    expect(limiter.earliest(5, 1, 2500)).toBe(3400);
  });

  it('holds a group to 20 messages a minute without holding up other chats', () => {
    const limiter = new SendRateLimiter(limits);
    for (let second = 0; second < 5; second++) sent(limiter, -100, 4, second * 1000);
    expect(limiter.earliest(-100, 1, 5000)).toBe(60_000);
    expect(limiter.earliest(42, 1, 5000)).toBe(5000);
  });

  it('pauses only the chat that answered 429', () => {
    const limiter = new SendRateLimiter(limits);
    limiter.pause(7, 5000);
    expect(limiter.earliest(7, 1, 0)).toBe(5000);
    expect(limiter.earliest(8, 1, 0)).toBe(0);
  });

  it('leaves 2% of a high overall rate as headroom for the jitter between the bot and Telegram', () => {
    const paid = new SendRateLimiter({ ...limits, messagesPerSecond: 1000 });
    expect(paid.overallFree(0)).toBe(980);
    for (let chat = 1; chat <= 98; chat++) sent(paid, chat, 10, 0);
    expect(paid.overallEarliest(1, 10)).toBe(1000);
    // at 30/s 2% is less than a message: no headroom
    expect(new SendRateLimiter(limits).overallFree(0)).toBe(30);
  });

  it('adds the margin to every window', () => {
    const limiter = new SendRateLimiter({ ...limits, marginMs: 25 });
    sent(limiter, 1, 1, 0);
    // answered at 5
    expect(limiter.earliest(1, 1, 0)).toBe(1030);
  });
});
