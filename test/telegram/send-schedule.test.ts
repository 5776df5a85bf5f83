/**
 * The send schedule against the real rate limiter on a fake clock: the order rules of the dispatcher
 * (a ready album before a single, oldest first, chats paced, 429 pauses per chat, a report chat by
 * chat, reports taking turns), and a cost per choice that does not grow with the number of queued
 * deliveries.
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
  /** The report. */
  group: number;
  /** Requests sent so far. */
  sent: number;
}

function world(
  limits = { messagesPerSecond: 30, chatIntervalMs: 1000, groupMessagesPerMinute: 20 },
  /** The dispatcher's order (chat by chat, reports taking turns); false: first ready first (round-robin). */
  chatByChat = true,
) {
  const limiter = new SendRateLimiter({ ...limits, marginMs: 0 });
  const busy = new Set<number>();
  const schedule = new SendSchedule<Entry>({
    chatOf: (entry) => entry.chatId,
    orderOf: (entry) => entry.id,
    ...(chatByChat
      ? { groupOf: (entry: Entry) => entry.group, startedOf: (entry: Entry) => entry.sent > 0 }
      : {}),
    chatReadyAt: (entry, messages, now) =>
      busy.has(entry.chatId)
        ? Number.POSITIVE_INFINITY
        : Math.max(entry.notBefore, limiter.chatEarliest(entry.chatId, messages, now)),
    overallReadyAt: (messages, now) => limiter.overallEarliest(messages, now),
    overallFree: (now) => limiter.overallFree(now),
  });
  let nextId = 1;
  const add = (chatId: number, steps: number[], now = 0, notBefore = 0, group = 1): Entry => {
    const entry = { id: nextId++, chatId, notBefore, steps: [...steps], group, sent: 0 };
    schedule.place(entry, entry.steps[0]!, now);
    return entry;
  };
  /** Takes the next entry at `now`, sends its next request at once (answered instantly) and places it again. */
  const sendNext = (now: number): Entry | number => {
    const next = schedule.next(now);
    if ('waitUntil' in next) return next.waitUntil;
    const { entry } = next;
    const messages = entry.steps.shift()!;
    entry.sent++;
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

  /**
   * Sends everything queued, answering each request at once; returns when each entry sent its last
   * request, and the time of the last one.
   */
  function drain(
    { sendNext, schedule }: ReturnType<typeof world>,
    arrivals: Array<{ at: number; add: () => void }> = [],
  ): { doneAt: Map<Entry, number>; end: number } {
    const doneAt = new Map<Entry, number>();
    const pending = [...arrivals].sort((a, b) => a.at - b.at);
    let now = 0;
    let end = 0;
    while (schedule.size > 0 || pending.length > 0) {
      while (pending.length > 0 && pending[0]!.at <= now) pending.shift()!.add();
      const sent = sendNext(now);
      if (typeof sent === 'number') {
        const nextArrival = pending[0]?.at ?? Number.POSITIVE_INFINITY;
        now = Math.min(sent, nextArrival);
        expect(Number.isFinite(now)).toBe(true);
      } else if (sent.steps.length === 0) {
        doneAt.set(sent, now);
        end = now;
      }
    }
    return { doneAt, end };
  }

  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

  it('serves a report chat by chat: half the chats have it whole at about half the fan-out time', () => {
    // 300 chats × (an album of three, then a document) at 30 messages/s: 40 s of fan-out
    const ratio = (chatByChat: boolean) => {
      const fanOut = world(undefined, chatByChat);
      const entries = Array.from({ length: 300 }, (_, index) => fanOut.add(index + 1, [3, 1]));
      const { doneAt, end } = drain(fanOut);
      expect(doneAt.size).toBe(entries.length);
      return median([...doneAt.values()]) / end;
    };
    const chatByChat = ratio(true);
    const roundRobin = ratio(false);
    console.log(
      `median complete ÷ fan-out: chat by chat ${chatByChat.toFixed(3)}, round-robin ${roundRobin.toFixed(3)}`,
    );
    expect(chatByChat).toBeLessThanOrEqual(0.55);
    expect(roundRobin).toBeGreaterThan(0.85);
  });

  it('leaves no slot of the overall window unused when albums and single rests mix, chat by chat', () => {
    // 300 chats × (an album of three, then a document) = 1200 messages: 40 s at 30/s at best; a chat's
    // document taking one of an album's three freed slots left two that no album fits (44 s)
    const fanOut = world();
    const entries = Array.from({ length: 300 }, (_, index) => fanOut.add(index + 1, [3, 1]));
    const { doneAt, end } = drain(fanOut);
    expect(doneAt.size).toBe(entries.length);
    // the last request goes at its window's start: 39 full seconds before it, 40 with it
    expect(end).toBeLessThanOrEqual(40_000 * 1.01);
    expect(median([...doneAt.values()]) / end).toBeLessThanOrEqual(0.55);
  });

  it("sends an album not yet begun before a started chat's single when the single would strand slots", () => {
    const { add, sendNext, limiter } = world({
      messagesPerSecond: 5,
      chatIntervalMs: 1000,
      groupMessagesPerMinute: 20,
    });
    const started = add(1, [3, 1]);
    expect(sendNext(0)).toBe(started);
    // two singles of other chats fill the window half a second later (3 + 1 + 1 = 5)
    add(2, [1]);
    add(3, [1]);
    expect(sendNext(500)).not.toBe(started);
    expect(sendNext(500)).not.toBe(started);
    const album = add(4, [3, 1], 500);
    // at 1000 the album's three slots are free and chat 1's document is ready: the document first would
    // leave two slots that chat 4's album does not fit, so the album goes and the document takes the
    // slot that the next single frees
    expect(limiter.overallFree(1000)).toBe(3);
    expect(sendNext(1000)).toBe(album);
    expect(sendNext(1000)).toBe(1500);
    expect(sendNext(1500)).toBe(started);
    expect(started.steps).toEqual([]);
  });

  it('finishes each chat in the order the chats were queued, within its own limits', () => {
    const fanOut = world();
    const entries = Array.from({ length: 90 }, (_, index) => fanOut.add(index + 1, [3, 1]));
    const { doneAt } = drain(fanOut);
    const finish = entries.map((entry) => doneAt.get(entry)!);
    // a chat's document goes one second after its album (the per-chat interval), not after all albums
    for (const at of finish.slice(0, 5)) expect(at).toBeLessThanOrEqual(1000);
    for (let index = 1; index < finish.length; index++) {
      expect(finish[index]!).toBeGreaterThanOrEqual(finish[index - 1]!);
    }
  });

  it('lets a small report that comes during a big fan-out start at once, taking turns with it', () => {
    const fanOut = world();
    const big = Array.from({ length: 600 }, (_, index) => fanOut.add(index + 1, [3, 1], 0, 0, 1));
    const small: Entry[] = [];
    const { doneAt, end } = drain(fanOut, [
      {
        at: 10_000,
        add: () => {
          for (let index = 0; index < 10; index++)
            small.push(fanOut.add(10_001 + index, [3, 1], 10_000, 0, 2));
        },
      },
    ]);
    expect(doneAt.size).toBe(big.length + small.length);
    const smallDone = Math.max(...small.map((entry) => doneAt.get(entry)!));
    // 40 messages at half of 30/s, plus a chat's one-second interval: a few seconds, not the 70 s left of the big one
    expect(smallDone - 10_000).toBeLessThanOrEqual(5_000);
    expect(end).toBeGreaterThan(70_000);
  });

  it('does the same work per message chat by chat with two reports, 10 or 100,000 deliveries queued', () => {
    const operationsPerMessage = (queued: number) => {
      const { add, sendNext, schedule } = world();
      for (let index = 0; index < queued; index++) {
        const chatId = index % 10 === 0 ? -(index + 1) : index + 1;
        add(chatId, [3, 1], 0, index % 97 === 0 ? 5000 : 0, index % 2);
      }
      const before = schedule.operations;
      let now = 0;
      let messages = 0;
      while (schedule.size > 0) {
        const sent = sendNext(now);
        if (typeof sent === 'number') now = sent;
        else messages++;
      }
      return (schedule.operations - before) / messages;
    };
    const small = operationsPerMessage(10);
    const large = operationsPerMessage(100_000);
    console.log(
      `chat by chat: operations per message ${small.toFixed(1)} (10), ${large.toFixed(1)} (100,000)`,
    );
    expect(large).toBeLessThanOrEqual(small * 1.5);
  });
});
