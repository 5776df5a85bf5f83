/**
 * The send order on a virtual clock: the real SendSchedule and SendRateLimiter, every request answered
 * at once. Gives the figure of an order the bot no longer uses (round-robin over the chats) beside the
 * measured one.
 */
import { SendRateLimiter } from '../src/telegram/send-rate-limiter.js';
import { SendSchedule } from '../src/telegram/send-schedule.js';

interface SimulatedDelivery {
  id: number;
  chatId: number;
  steps: number[];
  sent: number;
}

export interface SimulationOptions {
  chats: number;
  steps: number[];
  messagesPerSecond: number;
  chatByChat: boolean;
}

/**
 * Median time to a chat's whole report ÷ the fan-out time, for `chats` private chats each receiving
 * requests of `steps` messages at `messagesPerSecond` (per-chat interval 1 s). `chatByChat` false: the
 * order before issue 13 part 6 (whoever became ready first).
 */
export function simulatedMedianRatio(options: SimulationOptions): number {
  return simulateFanOut(options).medianRatio;
}

/**
 * The simulated fan-out: its wall time (first send to last, ms), the least possible (messages ÷ rate)
 * and the median chat's time to its whole report ÷ the wall time.
 */
export function simulateFanOut(options: SimulationOptions): {
  wallMs: number;
  leastMs: number;
  medianRatio: number;
} {
  const limiter = new SendRateLimiter({
    messagesPerSecond: options.messagesPerSecond,
    chatIntervalMs: 1000,
    groupMessagesPerMinute: 20,
  });
  const schedule = new SendSchedule<SimulatedDelivery>({
    chatOf: (entry) => entry.chatId,
    orderOf: (entry) => entry.id,
    ...(options.chatByChat
      ? { groupOf: () => 1, startedOf: (entry: SimulatedDelivery) => entry.sent > 0 }
      : {}),
    chatReadyAt: (entry, messages, now) => limiter.chatEarliest(entry.chatId, messages, now),
    overallReadyAt: (messages, now) => limiter.overallEarliest(messages, now),
    overallFree: (now) => limiter.overallFree(now),
  });
  for (let index = 0; index < options.chats; index++) {
    const entry = { id: index + 1, chatId: index + 1, steps: [...options.steps], sent: 0 };
    schedule.place(entry, entry.steps[0]!, 0);
  }
  const doneAt: number[] = [];
  let now = 0;
  while (schedule.size > 0) {
    const next = schedule.next(now);
    if ('waitUntil' in next) {
      if (!Number.isFinite(next.waitUntil)) throw new Error('the simulated schedule stalled');
      now = next.waitUntil;
      continue;
    }
    const { entry } = next;
    const messages = entry.steps.shift()!;
    entry.sent++;
    limiter.begin(entry.chatId, messages, now);
    limiter.end(entry.chatId, now, false);
    if (entry.steps.length > 0) schedule.place(entry, entry.steps[0]!, now);
    else {
      schedule.remove(entry);
      doneAt.push(now);
    }
  }
  doneAt.sort((a, b) => a - b);
  const end = doneAt[doneAt.length - 1]!;
  const messages = options.chats * options.steps.reduce((sum, step) => sum + step, 0);
  const leastMs = (messages / options.messagesPerSecond) * 1000;
  return { wallMs: end, leastMs, medianRatio: doneAt[doneAt.length >> 1]! / end };
}
