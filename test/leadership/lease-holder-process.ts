/**
 * A leader instance in a process of its own, for the SIGSTOP test (run with `node --import tsx`): it
 * competes for the lease with LEASE_SECONDS from its environment and, as leader, writes a fenced row
 * every 100 ms, each time only if `role.leaderGeneration` says it still leads. It tells what happens as
 * JSON lines on stdout. On SIGCONT it says at once whether it counts itself leader, and tries one write
 * under the generation it led with (a write that was under way when it froze).
 */
import { LeaderLease } from '../../src/leadership/leader-lease.js';
import { LeaderRole } from '../../src/leadership/leader-role.js';
import { FencedError } from '../../src/store/sql-database.js';
import { fencedWrite, newPool, SCHEMA } from './lease-test-support.js';

const url = process.env.LEASE_TEST_DATABASE_URL ?? '';
const name = process.env.LEASE_TEST_HOLDER ?? 'child';
const leaseSeconds = Number(process.env.LEASE_SECONDS ?? 5);

function say(message: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify({ ...message, at: performance.now() })}\n`);
}

const pool = newPool(url, 3);
const lease = new LeaderLease({ pool, schema: SCHEMA, leaseSeconds, holder: name });
let ledWith: number | null = null;
const role = new LeaderRole({
  lease,
  db: { setFence: (generation) => say({ type: 'fence', generation }) },
  startLeaderWork: async (generation) => {
    ledWith = generation;
    say({ type: 'work-started', generation });
  },
  stopLeaderWork: async () => say({ type: 'work-stopped' }),
  onEvent: (event) => say({ type: 'event', event: { ...event, error: undefined } }),
});

setInterval(() => {
  const generation = role.leaderGeneration;
  if (generation === null) return;
  fencedWrite(pool, generation, name).then(
    () => say({ type: 'wrote', generation }),
    (error: unknown) => {
      say({ type: 'write-failed', generation, fenced: error instanceof FencedError });
      role.reportFenced(error);
    },
  );
}, 100);

process.on('SIGCONT', () => {
  say({ type: 'woke', leader: role.isLeader(), role: role.role });
  if (ledWith === null) return;
  fencedWrite(pool, ledWith, `${name}-in-flight`).then(
    () => say({ type: 'in-flight-write', committed: true }),
    (error: unknown) =>
      say({ type: 'in-flight-write', committed: false, fenced: error instanceof FencedError }),
  );
});

process.on('SIGTERM', () => {
  void role
    .stop()
    .then(() => pool.end())
    .finally(() => process.exit(0));
});

role.start();
say({ type: 'started', holder: name });
