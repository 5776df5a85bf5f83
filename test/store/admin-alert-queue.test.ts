/** The admin chat's unsent messages survive a restart. */
import { describe, expect, it } from 'vitest';
import { StoredAlertQueue } from '../../src/store/admin-alert-queue.js';
import { openDatabase } from '../../src/store/database.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

describe('stored admin alert queue', () => {
  it('gives the next run what this one could not send, and forgets it once sent', async () => {
    const dataDir = tempDataDir();
    try {
      const db = openDatabase(dataDir);
      const queue = new StoredAlertQueue(new SqliteDatabase(db));
      expect(await queue.load()).toEqual([]);
      queue.save(['⚠️ one', '✅ two']);
      db.close();
      const reopened = openDatabase(dataDir);
      const next = new StoredAlertQueue(new SqliteDatabase(reopened));
      expect(await next.load()).toEqual(['⚠️ one', '✅ two']);
      next.save([]);
      expect(await next.load()).toEqual([]);
      reopened.close();
    } finally {
      removeDir(dataDir);
    }
  });
});
