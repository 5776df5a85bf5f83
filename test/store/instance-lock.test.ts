/** One bot per DATA_DIR: the lock itself (two real processes: test/faults/single-instance.test.ts). */
import { rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HOLDER_FILE, InstanceLock, InstanceLockedError, LOCK_FILE } from '../../src/store/instance-lock.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

const dirs: string[] = [];
const locks: InstanceLock[] = [];
afterEach(() => {
  for (const lock of locks.splice(0)) lock.release();
  for (const dir of dirs.splice(0)) removeDir(dir);
});

function acquire(dataDir: string, options: Parameters<typeof InstanceLock.acquire>[1] = {}): InstanceLock {
  const lock = InstanceLock.acquire(dataDir, { waitMs: 0, checkIntervalMs: 0, ...options });
  locks.push(lock);
  return lock;
}

function refusal(dataDir: string): InstanceLockedError {
  try {
    acquire(dataDir);
  } catch (error) {
    if (error instanceof InstanceLockedError) return error;
    throw error;
  }
  throw new Error('the second lock was granted');
}

describe('InstanceLock', () => {
  it('refuses a second holder, naming the first, until the first lets go', () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    const since = new Date('2026-12-01T10:00:00.000Z');
    const first = acquire(dataDir, { now: () => since });

    const error = refusal(dataDir);
    expect(error.holder).toEqual({ pid: process.pid, host: os.hostname(), since: since.toISOString() });
    expect(error.message).toContain(`process ${process.pid} on host ${os.hostname()}`);
    expect(error.message).toContain('running since 2026-12-01T10:00:00.000Z');

    first.release();
    expect(InstanceLock.recordedHolder(dataDir)).toBeNull();
    expect(() => acquire(dataDir)).not.toThrow();
  });

  it('still refuses when the record of the holder is gone, and says so', () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    acquire(dataDir);
    rmSync(path.join(dataDir, HOLDER_FILE));
    const error = refusal(dataDir);
    expect(error.holder).toBeNull();
    expect(error.message).toContain(`its record ${HOLDER_FILE} could not be read`);
  });

  it('puts back a lock file removed under it, so a later bot is still refused', () => {
    const dataDir = tempDataDir();
    dirs.push(dataDir);
    const outcomes: string[] = [];
    const first = acquire(dataDir, { onReplaced: (outcome) => outcomes.push(outcome) });
    rmSync(path.join(dataDir, LOCK_FILE));
    rmSync(path.join(dataDir, HOLDER_FILE));
    first.check();
    expect(outcomes).toEqual(['relocked']);
    expect(refusal(dataDir).holder?.pid).toBe(process.pid);
  });
});
