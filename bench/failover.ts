/**
 * Failover (issue 14 part 3): two bot instances on one PostgreSQL state, reports fanning out to 50
 * chats; the leader is killed with kill -9 at 10 seeded random moments of its sending, the standby takes
 * over, the killed one comes back as the new standby. Figures: kill → the new leader's first send call at
 * the fake (median and max over the kills), kill → "leading now" in its log; nothing lost, at most one
 * duplicate per kill. The same run as the fault test (test/support/leader-kills.ts).
 */
import { DovecotServer } from '../test/dovecot/dovecot.js';
import { runLeaderKills } from '../test/support/leader-kills.js';
import { Resources } from './resources.js';
import { informational, judged, type ResultRow } from './results-table.js';

const NAME = 'failover';

export interface FailoverOptions {
  /** Kills of the leader (default 10). */
  kills?: number;
  /** LEASE_SECONDS of both instances (default 15, the setting's default). */
  leaseSeconds?: number;
  /** Readers of the mailbox (default 50). */
  chats?: number;
  seed?: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export async function failoverBenchmark(options: FailoverOptions = {}): Promise<ResultRow[]> {
  const kills = options.kills ?? 10;
  const leaseSeconds = options.leaseSeconds ?? 15;
  const resources = new Resources();
  try {
    const dovecot = resources.hold(await DovecotServer.start({ users: 1 }), 'Dovecot', (server) =>
      server.stop(),
    );
    const run = await runLeaderKills({
      dovecot,
      user: 'user1',
      kills,
      seed: options.seed ?? 20261204,
      chats: options.chats ?? 50,
      leaseSeconds,
      firstChatId: 8_000_001,
      log: (line) => console.log(`failover: ${line}`),
      register: (what, release) => resources.defer(what, release),
    });
    const firstSends = run.kills.map((kill) => kill.failoverMs);
    const takeovers = run.kills.map((kill) => kill.takeoverMs);
    const setting = `LEASE_SECONDS=${leaseSeconds}, ${kills} kills`;
    return [
      judged(
        NAME,
        `leader killed (kill -9) → first send by the new leader, median / max (${setting})`,
        `${seconds(median(firstSends))} / ${seconds(Math.max(...firstSends))}`,
        `max ≤ ${leaseSeconds + 1} s`,
        Math.max(...firstSends) <= (leaseSeconds + 1) * 1000,
      ),
      judged(
        NAME,
        `leader killed → the standby leads ("leading now"), median / max (${setting})`,
        `${seconds(median(takeovers))} / ${seconds(Math.max(...takeovers))}`,
        `max ≤ ${leaseSeconds} s`,
        Math.max(...takeovers) <= leaseSeconds * 1000,
      ),
      informational(
        NAME,
        'each kill: ms into the leader’s sending → first send by the new leader',
        run.kills.map((kill) => `${kill.momentMs}→${kill.failoverMs}`).join(', '),
      ),
      judged(
        NAME,
        `reports lost / duplicate messages (${run.reports} reports × ${run.chats} chats)`,
        `${run.lost} / ${run.duplicates}`,
        `0 / ≤ ${kills}`,
        run.lost === 0 && run.duplicates <= kills,
      ),
    ];
  } finally {
    await resources.release();
  }
}
