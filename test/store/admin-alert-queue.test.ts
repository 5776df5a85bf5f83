/** The admin chat's unsent messages survive a restart. */
import { describe, expect, it } from 'vitest';
import { StoredAlertQueue } from '../../src/store/admin-alert-queue.js';
import { openDatabase } from '../../src/store/database.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

describe('stored admin alert queue', () => {
  it('gives the next run what this one could not send, and forgets it once sent', () => {
    const dataDir = tempDataDir();
    try {
      const db = openDatabase(dataDir);
      const queue = new StoredAlertQueue(db);
      expect(queue.load()).toEqual([]);
      queue.save(['⚠️ one', '✅ two']);
      db.close();
      const reopened = openDatabase(dataDir);
      const next = new StoredAlertQueue(reopened);
      expect(next.load()).toEqual(['⚠️ one', '✅ two']);
      next.save([]);
      expect(next.load()).toEqual([]);
      reopened.close();
    } finally {
      removeDir(dataDir);
    }
  });
});
