/** Admin-chat alerts: grouped per problem, paced, cleared with one "recovered" message. */
import { describe, expect, it } from 'vitest';
import { MailboxHealthWatch } from '../../src/imap/mailbox-health-watch.js';
import type { ListenerStatus } from '../../src/imap/mailbox-listener.js';
import { ChatAlerts } from '../../src/observability/admin-alerts.js';
import { createLogger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { CapturedLogs, eventually } from '../support/bot-harness.js';

function alertsInto(sent: string[], clock: { now: number }, pacingMs = 0) {
  return new ChatAlerts({
    send: async (text) => {
      sent.push(text);
    },
    logger: createLogger({
      level: 'silent',
      scrubber: new SecretScrubber(),
      destination: new CapturedLogs(),
    }),
    repeatIntervalMs: 60_000,
    pacingMs,
    now: () => clock.now,
  });
}

describe('admin alerts', () => {
  it('sends a problem once, summarises repeats after the interval, and says when it is over', async () => {
    const sent: string[] = [];
    const clock = { now: 1_000_000 };
    const alerts = alertsInto(sent, clock);
    alerts.raise('mailbox-down:a', 'Mailbox a is down');
    alerts.raise('mailbox-down:a', 'Mailbox a is down');
    alerts.raise('mailbox-down:a', 'Mailbox a is down');
    await eventually(() => sent.length === 1);
    clock.now += 61_000;
    alerts.raise('mailbox-down:a', 'Mailbox a is down');
    await eventually(() => sent.length === 2);
    expect(sent[1]).toContain('3× since the last message');
    alerts.clear('mailbox-down:a', 'Mailbox a is back');
    alerts.clear('mailbox-down:a', 'Mailbox a is back');
    await eventually(() => sent.length === 3);
    expect(sent[2]).toBe('✅ Mailbox a is back');
    // a problem that was never raised does not produce a "recovered" message
    alerts.clear('mailbox-down:b', 'Mailbox b is back');
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(sent).toHaveLength(3);
  });

  it('remembers a bounded number of problems, forgetting the one raised longest ago', async () => {
    const sent: string[] = [];
    const clock = { now: 1_000_000 };
    const alerts = new ChatAlerts({
      send: async (text) => {
        sent.push(text);
      },
      logger: createLogger({
        level: 'silent',
        scrubber: new SecretScrubber(),
        destination: new CapturedLogs(),
      }),
      repeatIntervalMs: 60_000,
      pacingMs: 0,
      maxRaised: 3,
      now: () => clock.now,
    });
    for (const key of ['a', 'b', 'c']) alerts.raise(key, `problem ${key}`);
    // raised again: now the most recent of the three
    alerts.raise('a', 'problem a');
    alerts.raise('d', 'problem d');
    await eventually(() => sent.length === 4);
    // b was forgotten: nothing to clear; a, c and d are remembered
    alerts.clear('b', 'b is over');
    for (const key of ['a', 'c', 'd']) alerts.clear(key, `${key} is over`);
    await eventually(() => sent.length === 7);
    expect(sent.slice(4)).toEqual(['✅ a is over', '✅ c is over', '✅ d is over']);
    // a long text is cut to what Telegram takes
    alerts.raise('long', 'x'.repeat(10_000));
    await eventually(() => sent.length === 8);
    expect(sent[7]!.length).toBeLessThanOrEqual(4000);
  });

  it('folds a storm of different problems into a few messages', async () => {
    const sent: string[] = [];
    const alerts = alertsInto(
      sent,
      {
        get now() {
          return Date.now();
        },
      },
      200,
    );
    for (let index = 0; index < 100; index++) alerts.raise(`chat-gone:${index}`, `Chat ${index} is gone`);
    await eventually(() => sent.length >= 2, 5000);
    await new Promise((resolve) => setTimeout(resolve, 700));
    expect(sent.length).toBeLessThan(10);
    expect(sent.join('\n')).toContain('problems at once');
    alerts.stop();
  });
});

describe('admin alerts while Telegram is down', () => {
  it('keeps messages that could not be sent, in order, and sends them when Telegram answers again', async () => {
    const sent: string[] = [];
    let down = true;
    const alerts = new ChatAlerts({
      send: async (text) => {
        if (down) throw new Error('network error: FetchError ECONNREFUSED');
        sent.push(text);
      },
      logger: createLogger({
        level: 'silent',
        scrubber: new SecretScrubber(),
        destination: new CapturedLogs(),
      }),
      pacingMs: 0,
      retryDelayMs: () => 20,
    });
    alerts.raise('telegram-unreachable', 'Telegram unreachable since 12:00');
    alerts.raise('mailbox-down:a', 'Mailbox a is down');
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(sent).toEqual([]);
    alerts.clear('telegram-unreachable', 'Telegram is reachable again');
    down = false;
    await eventually(() => sent.length === 3, 2000);
    expect(sent).toEqual([
      '⚠️ Telegram unreachable since 12:00',
      '⚠️ Mailbox a is down',
      '✅ Telegram is reachable again',
    ]);
    alerts.stop();
  });

  it('keeps what it could not send for the next run, which sends it marked as held over', async () => {
    let stored: string[] = [];
    const persist = {
      load: async () => [...stored],
      save: async (messages: readonly string[]) => {
        stored = [...messages];
      },
    };
    const logger = createLogger({
      level: 'silent',
      scrubber: new SecretScrubber(),
      destination: new CapturedLogs(),
    });
    const first = new ChatAlerts({
      send: async () => {
        throw new Error('network error: FetchError ECONNREFUSED');
      },
      logger,
      pacingMs: 0,
      retryDelayMs: () => 60_000,
      persist,
    });
    first.raise('telegram-unreachable', 'Telegram unreachable since 12:00');
    await eventually(() => stored.length === 1, 1000);
    first.stop();

    const sent: string[] = [];
    const second = new ChatAlerts({
      send: async (text) => {
        sent.push(text);
      },
      logger,
      pacingMs: 0,
      persist,
    });
    await eventually(() => sent.length === 1, 1000);
    expect(sent[0]).toBe('⚠️ Telegram unreachable since 12:00\n(held over from before the bot restarted)');
    await eventually(() => stored.length === 0, 1000, 'the stored queue emptied');
    second.stop();
  });

  it('drops a message the admin chat refuses for good (it is in the log)', async () => {
    const sent: string[] = [];
    let calls = 0;
    const alerts = new ChatAlerts({
      send: async (text) => {
        calls++;
        if (text.includes('first')) throw new Error('400: Bad Request: chat not found');
        sent.push(text);
      },
      logger: createLogger({
        level: 'silent',
        scrubber: new SecretScrubber(),
        destination: new CapturedLogs(),
      }),
      pacingMs: 0,
      retryDelayMs: (error) => (String(error).includes('400') ? null : 10),
    });
    alerts.raise('a', 'first');
    alerts.raise('b', 'second');
    await eventually(() => sent.length === 1, 2000);
    expect(sent).toEqual(['⚠️ second']);
    expect(calls).toBe(2);
    alerts.stop();
  });
});

describe('mailbox health watch', () => {
  const status = (overrides: Partial<ListenerStatus>): ListenerStatus => ({
    mailbox: 'reports@example.com',
    state: 'connected',
    failures: 0,
    lastError: null,
    lastErrorAt: null,
    loginRejected: false,
    connectedAt: null,
    disconnectedAt: null,
    lastMailAt: null,
    lastSyncAt: null,
    idleSupported: true,
    ...overrides,
  });

  it('raises "down" after the threshold, "login refused" after repeated refusals, and clears both', () => {
    const raised: string[] = [];
    const cleared: string[] = [];
    const clock = { now: Date.parse('2026-01-01T10:00:00Z') };
    let current = status({
      state: 'waiting',
      disconnectedAt: '2026-01-01T09:58:00Z',
      failures: 1,
      lastError: 'ECONNREFUSED',
    });
    const watch = new MailboxHealthWatch({
      statuses: () => [current],
      alerts: { raise: (key) => raised.push(key), clear: (key) => cleared.push(key) },
      downAfterMs: 5 * 60_000,
      now: () => clock.now,
    });
    watch.check();
    expect(raised).toEqual([]);
    clock.now += 4 * 60_000;
    watch.check();
    expect(raised).toEqual(['mailbox-down:reports@example.com']);
    current = { ...current, loginRejected: true, failures: 3, lastError: 'AUTHENTICATIONFAILED' };
    watch.check();
    watch.check();
    expect(raised).toEqual(['mailbox-down:reports@example.com', 'mailbox-login:reports@example.com']);
    current = status({ state: 'connected' });
    watch.check();
    expect(cleared.sort()).toEqual(['mailbox-down:reports@example.com', 'mailbox-login:reports@example.com']);
  });
});
