/**
 * The send schedule against the real rate limiter on a fake clock: the order rules of the dispatcher
 * (a ready album before a single, oldest first, chats paced, 429 pauses per chat), and a cost per
 * choice that does not grow with the number of queued deliveries.
 */
import { describe, expect, it } from 'vitest';
import { SendRateLimiter } from '../../src/telegram/send-rate-limiter.js';
import { SendSchedule } from '../../src/telegram/send-schedule.js';

interface Entry {
  id: number;
  chatId: number;
  notBefore: number;
  /** Messages of each remaining request, first next. */
  steps: number[];
}

function world(limits = { messagesPerSecond: 30, chatIntervalMs: 1000, groupMessagesPerMinute: 20 }) {
  const limiter = new SendRateLimiter({ ...limits, marginMs: 0 });
  const busy = new Set<number>();
  const schedule = new SendSchedule<Entry>({
    chatOf: (entry) => entry.chatId,
    orderOf: (entry) => entry.id,
    chatReadyAt: (entry, messages, now) =>
      busy.has(entry.chatId)
        ? Number.POSITIVE_INFINITY
        : Math.max(entry.notBefore, limiter.chatEarliest(entry.chatId, messages, now)),
    overallReadyAt: (messages, now) => limiter.overallEarliest(messages, now),
  });
  let nextId = 1;
  const add = (chatId: number, steps: number[], now = 0, notBefore = 0): Entry => {
    const entry = { id: nextId++, chatId, notBefore, steps: [...steps] };
    schedule.place(entry, entry.steps[0]!, now);
    return entry;
  };
  /** Takes the next entry at `now`, sends its next request at once (answered instantly) and places it again. */
  const sendNext = (now: number): Entry | number => {
    const next = schedule.next(now);
    if ('waitUntil' in next) return next.waitUntil;
    const { entry } = next;
    const messages = entry.steps.shift()!;
    limiter.begin(entry.chatId, messages, now);
    limiter.end(entry.chatId, now, false);
    if (entry.steps.length > 0) schedule.place(entry, entry.steps[0]!, now);
    else schedule.remove(entry);
    for (const other of schedule.entriesOf(entry.chatId)) {
      if (other !== entry && !schedule.isTaken(other)) schedule.place(other, other.steps[0]!, now);
    }
    return entry;
  };
  return { limiter, busy, schedule, add, sendNext };
}

describe('SendSchedule', () => {
  it('sends a ready album before a single, and oldest first among equals', () => {
    const { add, sendNext } = world();
    const single = add(1, [1]);
    const olderAlbum = add(2, [3]);
    const fullAlbum = add(3, [10]);
    const youngerAlbum = add(4, [3]);
    expect(sendNext(0)).toBe(fullAlbum);
    expect(sendNext(0)).toBe(olderAlbum);
    expect(sendNext(0)).toBe(youngerAlbum);
    expect(sendNext(0)).toBe(single);
  });

  it('lets a single through when the overall window has no room for an album, then waits for it', () => {
    const { add, sendNext } = world({
      messagesPerSecond: 5,
      chatIntervalMs: 1000,
      groupMessagesPerMinute: 20,
    });
    add(1, [3]);
    const first = sendNext(0) as Entry;
    expect(first.chatId).toBe(1);
    const album = add(2, [3], 0);
    const single = add(3, [1], 0);
    // 3 of 5 used: the album does not fit, the single does
    expect(sendNext(10)).toBe(single);
    // the album fits once the first album has left the one-second window
    expect(sendNext(20)).toBe(1000);
    expect(sendNext(1000)).toBe(album);
  });

  it('paces a chat, and a paused chat waits alone', () => {
    const { add, sendNext, limiter, schedule } = world();
    const twoSteps = add(1, [3, 1]);
    const other = add(2, [1, 1]);
    expect(sendNext(0)).toBe(twoSteps);
    expect(sendNext(0)).toBe(other);
    // both chats just received a request: nothing before their one-second interval
    expect(sendNext(1)).toBe(1000);
    limiter.pause(1, 5000);
    schedule.place(twoSteps, 1, 1);
    expect(sendNext(1000)).toBe(other);
    expect(sendNext(1000)).toBe(5000);
    expect(sendNext(5000)).toBe(twoSteps);
  });

  it('keeps a delivery in backoff waiting without holding back the others of its chat', () => {
    const { add, sendNext } = world();
    const backingOff = add(1, [1], 0, 60_000);
    const fresh = add(1, [1]);
    expect(sendNext(0)).toBe(fresh);
    expect(sendNext(10)).toBe(60_000);
    expect(sendNext(60_000)).toBe(backingOff);
  });

  it('parks the deliveries of a chat with a request in flight until they are placed again', () => {
    const { add, busy, schedule } = world();
    const first = add(1, [1]);
    const second = add(1, [1]);
    const next = schedule.next(0);
    expect(next).toEqual({ entry: first });
    busy.add(1);
    expect(schedule.next(0)).toEqual({ waitUntil: Number.POSITIVE_INFINITY });
    busy.delete(1);
    schedule.remove(first);
    for (const entry of schedule.entriesOf(1)) schedule.place(entry, 1, 0);
    expect(schedule.next(0)).toEqual({ entry: second });
  });

  it('does the same work per message with 10 or 100,000 deliveries queued', () => {
    // at Telegram's 30 messages a second, which ten chats receiving an album and a document each
    // second use up too: the same throughput, a different queue
    const operationsPerMessage = (queued: number) => {
      const { add, sendNext, schedule } = world();
      // every delivery: an album of three, then a document (so the timer heap is used too); a tenth
      // go to groups, a few are in backoff
      for (let index = 0; index < queued; index++) {
        const chatId = index % 10 === 0 ? -(index + 1) : index + 1;
        add(chatId, [3, 1], 0, index % 97 === 0 ? 5000 : 0);
      }
      const before = schedule.operations;
      let now = 0;
      let messages = 0;
      while (schedule.size > 0) {
        const sent = sendNext(now);
        if (typeof sent === 'number') {
          expect(Number.isFinite(sent)).toBe(true);
          now = sent;
        } else messages++;
      }
      return (schedule.operations - before) / messages;
    };
    const small = operationsPerMessage(10);
    const large = operationsPerMessage(100_000);
    console.log(
      `scheduler operations per message: ${small.toFixed(1)} (10 queued), ${large.toFixed(1)} (100,000 queued)`,
    );
    expect(large).toBeLessThanOrEqual(small * 1.5);
  });
});
