/** Telling a Telegram outage from a delivery's own failure, pausing, probing with capped backoff, resuming. */
import { describe, expect, it } from 'vitest';
import type { AdminAlerts } from '../../src/observability/admin-alerts.js';
import { createLogger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { TelegramReachability } from '../../src/telegram/telegram-reachability.js';
import { CapturedLogs, eventually } from '../support/bot-harness.js';

function world(options: { probeMinMs?: number; probeMaxMs?: number } = {}) {
  const alerts: string[] = [];
  const recorder: AdminAlerts = {
    raise: (key, text) => alerts.push(`raise ${key}: ${text}`),
    clear: (key, text) => alerts.push(`clear ${key}: ${text}`),
  };
  const probes: number[] = [];
  const state = { answers: true, resumed: 0 };
  const reachability = new TelegramReachability({
    probe: async () => {
      probes.push(Date.now());
      if (!state.answers) throw new Error('502: Bad Gateway');
    },
    describe: (error) => String(error),
    alerts: recorder,
    logger: createLogger({
      level: 'silent',
      scrubber: new SecretScrubber(),
      destination: new CapturedLogs(),
    }),
    onResume: () => state.resumed++,
    probeMinMs: options.probeMinMs ?? 10,
    probeMaxMs: options.probeMaxMs ?? 40,
  });
  return { reachability, alerts, probes, state };
}

describe('Telegram reachability', () => {
  it('counts a failure against the delivery when getMe answers and the failures are on few chats', async () => {
    const { reachability, alerts, probes } = world();
    expect(await reachability.noteFailure(1, '500: Internal Server Error')).toBe(false);
    expect(await reachability.noteFailure(1, '500: Internal Server Error')).toBe(false);
    expect(reachability.state).toBe('up');
    expect(probes).toHaveLength(2);
    expect(alerts).toEqual([]);
    reachability.stop();
  });

  it('pauses when the send path fails on several chats in a row, even though getMe answers', async () => {
    const { reachability, alerts } = world();
    expect(await reachability.noteFailure(1, '502: Bad Gateway')).toBe(false);
    expect(await reachability.noteFailure(2, '502: Bad Gateway')).toBe(false);
    expect(await reachability.noteFailure(3, '502: Bad Gateway')).toBe(true);
    expect(reachability.paused).toBe(true);
    expect(alerts).toHaveLength(1);
    reachability.stop();
  });

  it("lets getMe alone decide about answers that are not the Bot API's: pages for too-large uploads on many chats pause nothing", async () => {
    const { reachability, alerts, probes, state } = world();
    const page = "the answer was not the Bot API's (a proxy error page?)";
    for (const chatId of [1, 2, 3, 4, 5]) {
      expect(await reachability.noteFailure(chatId, page, { probeOnly: true })).toBe(false);
    }
    expect(reachability.state).toBe('up');
    expect(probes).toHaveLength(5);
    expect(alerts).toEqual([]);
    // the proxy answers getMe with its page too: Telegram is down behind it
    state.answers = false;
    expect(await reachability.noteFailure(6, page, { probeOnly: true })).toBe(true);
    expect(reachability.paused).toBe(true);
    reachability.stop();
  });

  it('a success between failures starts the streak afresh', async () => {
    const { reachability } = world();
    await reachability.noteFailure(1, '502: Bad Gateway');
    await reachability.noteFailure(2, '502: Bad Gateway');
    reachability.noteSuccess();
    expect(await reachability.noteFailure(3, '502: Bad Gateway')).toBe(false);
    reachability.stop();
  });

  it('pauses when getMe fails too, probes with capped backoff, resumes when it answers, and tells the admin once each way', async () => {
    const { reachability, alerts, probes, state } = world({ probeMinMs: 10, probeMaxMs: 40 });
    state.answers = false;
    expect(await reachability.noteFailure(1, 'network error: FetchError ECONNREFUSED')).toBe(true);
    expect(reachability.paused).toBe(true);
    // sends in flight when it went down fail too: not counted, no new probe, no new alert
    expect(await reachability.noteFailure(2, 'network error: FetchError ECONNREFUSED')).toBe(true);
    await eventually(() => probes.length >= 7, 2000, 'probes');
    const gaps = probes.slice(1).map((at, index) => at - probes[index]!);
    // 10, 20, 40, 40 … ms: the backoff stops growing at its cap
    expect(Math.max(...gaps.slice(3))).toBeLessThan(40 * 3);
    expect(gaps.slice(3).every((gap) => gap >= 35)).toBe(true);
    expect(state.resumed).toBe(0);

    state.answers = true;
    await eventually(() => state.resumed === 1, 1000, 'resumed');
    expect(reachability.state).toBe('resuming');
    expect(reachability.paused).toBe(false);
    // the first send after resuming fails again (getMe flaps): down again, same outage
    state.answers = false;
    expect(await reachability.noteFailure(3, '502: Bad Gateway')).toBe(true);
    state.answers = true;
    await eventually(() => state.resumed === 2, 1000, 'resumed again');
    reachability.noteSuccess();
    expect(reachability.state).toBe('up');
    expect(alerts).toHaveLength(2);
    expect(alerts[0]).toMatch(/^raise telegram-unreachable: Telegram unreachable since \d{4}-/);
    expect(alerts[1]).toMatch(/^clear telegram-unreachable: Telegram is reachable again/);
    reachability.stop();
  });

  it('ends an outage when getMe answers and nothing waits to be sent', async () => {
    const { reachability, alerts, state } = world();
    state.answers = false;
    await reachability.noteFailure(1, '502: Bad Gateway');
    state.answers = true;
    await eventually(() => state.resumed === 1, 1000, 'resumed');
    reachability.noteIdle();
    expect(reachability.state).toBe('up');
    expect(alerts).toHaveLength(2);
    reachability.stop();
  });

  it.each([
    [
      'network error: proxy authentication failed: the proxy 10.0.0.5:3128 refused the user and password (HTTP 407)',
      'The proxy is the cause: it refuses the user and password in TELEGRAM_PROXY',
    ],
    [
      'network error: Telegram not reachable through the proxy 10.0.0.5:3128 (CONNECT answered HTTP 502)',
      'The proxy is the cause: it is up but cannot reach Telegram',
    ],
    [
      'network error: the proxy is not reachable: 10.0.0.5:3128 (ECONNREFUSED)',
      'The proxy is the cause: it does not answer',
    ],
  ])('names the proxy as the cause in the admin chat: %s', async (reason, hint) => {
    const { reachability, alerts, state } = world();
    state.answers = false;
    expect(await reachability.noteFailure(1, reason)).toBe(true);
    expect(alerts).toHaveLength(1);
    expect(alerts[0]).toContain(reason);
    expect(alerts[0]).toContain(hint);
    expect(alerts[0]).toContain('nothing is lost');
    reachability.stop();
  });
});
