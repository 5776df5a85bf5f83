/**
 * 500 mailboxes idling in one bot process, against a Dovecot with 500 users (each its own uid, so each
 * IDLE gets its own inotify watch and real push notifications).
 *
 * Time to idle runs from spawning the bot until /readyz shows every mailbox connected and Dovecot
 * shows every session in IDLE (its process titles read `imap [userN 127.0.0.1 IDLE]`). Then the bot
 * idles for a while: its CPU time over that window (from /proc/<pid>/stat) and its RSS (sampled every
 * second) are the figures. The window is 60 s by default so that it contains one round of the
 * listeners' periodic traffic (a NOOP after 60 s of silence, IMAP_SOCKET_TIMEOUT_SECONDS).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { DovecotServer } from '../test/dovecot/dovecot.js';
import { FakeTelegram } from '../test/fakes/telegram/fake-telegram.js';
import { freePort } from '../test/support/bot-harness.js';
import { markProfile, prepareDataDir, sleep, startBotProcess } from './bot-setup.js';
import { MIB, mib, RssSampler, sampleProcess } from './process-stats.js';
import { Resources } from './resources.js';
import { informational, judged, type ResultRow } from './results-table.js';

const NAME = 'idle-mailboxes';
const RSS_TARGET_BYTES = 200 * MIB;
const CPU_TARGET_PERCENT = 2;

export interface IdleMailboxesOptions {
  /** Mailboxes (default 500). */
  mailboxes?: number;
  /** Length of the idle window, seconds (default 60). */
  idleSeconds?: number;
  /** Settings for the bot on top of the defaults, to compare (e.g. IMAP_SOCKET_TIMEOUT_SECONDS). */
  botEnv?: Record<string, string>;
}

/** Dovecot sessions of this instance that are in IDLE now, by their process titles. */
function idlingSessions(dovecot: DovecotServer): number {
  const prefix = `dovecot-test-${dovecot.port}/imap [`;
  let count = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const title = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
      if (title.startsWith(prefix) && title.endsWith(' IDLE]')) count++;
    } catch {
      // the process ended meanwhile
    }
  }
  return count;
}

interface Readiness {
  ready: boolean;
  mailboxes: Array<{ mailbox: string; state: string; failures: number }>;
}

async function readiness(port: number): Promise<Readiness | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${port}/readyz`);
    return (await response.json()) as Readiness;
  } catch {
    return null;
  }
}

function connectedCount(ready: Readiness | null): number {
  return ready?.mailboxes.filter((mailbox) => mailbox.state === 'connected').length ?? 0;
}

export async function idleMailboxesBenchmark(options: IdleMailboxesOptions = {}): Promise<ResultRow[]> {
  const count = options.mailboxes ?? 500;
  const idleSeconds = options.idleSeconds ?? 60;
  const resources = new Resources();
  try {
    const dovecot = resources.hold(await DovecotServer.start({ users: count }), 'Dovecot', (server) =>
      server.stop(),
    );
    const telegram = resources.hold(await FakeTelegram.start(), 'fake Bot API', (fake) => fake.stop());
    const users = Array.from({ length: count }, (_, index) => `user${index + 1}`);
    const setup = await prepareDataDir({ dovecot, telegram, mailboxUsers: users, readers: 1 }, resources);
    const httpPort = await freePort();

    const spawnedAt = Date.now();
    const bot = await startBotProcess(
      { ...setup.env, ...options.botEnv, HTTP_PORT: String(httpPort) },
      resources,
    );
    const pid = bot.child.pid!;
    const startedAt = Date.now();
    let allConnectedAt: number | null = null;
    let allIdlingAt: number | null = null;
    const deadline = Date.now() + 180_000;
    while (allConnectedAt === null || allIdlingAt === null) {
      if (bot.child.exitCode !== null) throw new Error(`the bot exited (code ${bot.child.exitCode})`);
      const connected = connectedCount(await readiness(httpPort));
      if (allConnectedAt === null && connected === count) allConnectedAt = Date.now();
      if (allIdlingAt === null && idlingSessions(dovecot) === count) allIdlingAt = Date.now();
      if (Date.now() > deadline) {
        throw new Error(
          `not all mailboxes idle after 180 s: ${connected} connected, ${idlingSessions(dovecot)} idling`,
        );
      }
      await sleep(100);
    }

    // the idle window: nothing arrives, the bot only keeps its connections and timers alive
    await sleep(2000);
    const sampler = new RssSampler(pid, 1000);
    const linesBefore = bot.lines.length;
    const before = sampleProcess(pid);
    markProfile(bot);
    await sleep(idleSeconds * 1000);
    const after = sampleProcess(pid);
    markProfile(bot);
    sampler.stop();
    const stillConnected = connectedCount(await readiness(httpPort));
    const stillIdling = idlingSessions(dovecot);
    const failedConnects = bot.lines
      .slice(0, linesBefore)
      .filter((line) => line.includes('could not connect to the mailbox')).length;
    const lost = bot.lines
      .slice(linesBefore)
      .filter((line) => /lost the mailbox connection|could not connect to the mailbox/.test(line)).length;
    const cpuSeconds = after.cpuSeconds - before.cpuSeconds;
    const systemSeconds = after.systemCpuSeconds - before.systemCpuSeconds;
    const cpuPercent = (cpuSeconds / ((after.at - before.at) / 1000)) * 100;

    return [
      informational(
        NAME,
        `time until all ${count} connected (/readyz), from spawn`,
        `${((allConnectedAt - spawnedAt) / 1000).toFixed(1)} s (started log after ${((startedAt - spawnedAt) / 1000).toFixed(1)} s)`,
      ),
      informational(
        NAME,
        `time until all ${count} in IDLE (Dovecot), from spawn`,
        `${((allIdlingAt - spawnedAt) / 1000).toFixed(1)} s`,
      ),
      informational(NAME, 'failed connection attempts until then', String(failedConnects)),
      judged(
        NAME,
        `RSS while idling, highest of ${sampler.samples} samples over ${idleSeconds} s`,
        mib(sampler.maxRssBytes),
        `≤ ${RSS_TARGET_BYTES / MIB} MiB`,
        sampler.maxRssBytes <= RSS_TARGET_BYTES,
      ),
      informational(NAME, 'peak RSS since start (VmHWM, includes connecting)', mib(after.peakRssBytes)),
      judged(
        NAME,
        `CPU while idling (${idleSeconds} s, % of one core)`,
        `${cpuPercent.toFixed(2)} % (${cpuSeconds.toFixed(2)} s CPU, ${systemSeconds.toFixed(2)} s of it system)`,
        `≤ ${CPU_TARGET_PERCENT} %`,
        cpuPercent <= CPU_TARGET_PERCENT,
      ),
      judged(
        NAME,
        'connected after the window (connections lost during it)',
        `${stillConnected} (${lost}); ${stillIdling} in IDLE at that moment`,
        `${count} (0)`,
        stillConnected === count && lost === 0,
      ),
    ];
  } finally {
    await resources.release();
  }
}
