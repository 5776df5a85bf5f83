/** The durable queue of changes waiting for SeaTable (directory_writes), on both engines. */
import { expect, it } from 'vitest';
import { DirectoryWriteQueue } from '../../../src/directory/seatable/write-queue.js';
import { forEachEngine } from '../../store/engines.js';

forEachEngine('directory write queue', (engine) => {
  it('keeps changes in order across a restart, counts failed attempts, and forgets what left', async () => {
    const db = engine.current();
    const queue = new DirectoryWriteQueue(db, 'seatable');
    await queue.load();
    const first = await queue.add({ kind: 'user-telegram-id', userKey: 'row-1', telegramId: 501 }, 1000);
    const second = await queue.add(
      { kind: 'claim-group', groupKey: 'row-9', title: 'Ops', chatId: -1_001_234_567_890 },
      2000,
    );
    await queue.add({ kind: 'user-active', userKey: 'row-2', active: false }, 3000);
    await queue.reschedule(first, 1_766_999_999_999.5, 'SeaTable answered 429');
    // a fraction of a millisecond (x-ratelimit-reset in fractional seconds) is rounded up, on both engines
    await queue.reschedule(first, 1_766_999_999_999.5, 'SeaTable answered 503');
    await queue.remove(second);
    // another directory's queue in the same table is not this one's
    await new DirectoryWriteQueue(db, 'other').add({ kind: 'user-active', userKey: 'x', active: true });

    // a restart: what is stored, read again
    const again = new DirectoryWriteQueue(db, 'seatable');
    expect(again.pending()).toEqual([]);
    await again.load();
    expect(again.size).toBe(2);
    expect(again.head()).toMatchObject({
      id: first,
      write: { kind: 'user-telegram-id', userKey: 'row-1', telegramId: 501 },
      attempts: 2,
      nextAttemptAt: 1_767_000_000_000,
      lastError: 'SeaTable answered 503',
    });
    expect(again.pending().map((entry) => entry.write.kind)).toEqual(['user-telegram-id', 'user-active']);
    expect(again.pending()).toEqual(queue.pending());
  });

  it('drops rows it cannot read (a newer version, damage) at load, so they block nothing', async () => {
    const db = engine.current();
    await db.run(
      'INSERT INTO directory_writes (source, write, created_at, attempts, next_attempt_at) VALUES (?, ?, ?, 0, 0)',
      ['seatable', '{"kind":"from-the-future"}', '2026-01-01T00:00:00.000Z'],
    );
    const queue = new DirectoryWriteQueue(db, 'seatable');
    await queue.add({ kind: 'move-group-chat', oldChatId: -5, newChatId: -1005 });
    expect(queue.pending().map((entry) => entry.write.kind)).toEqual(['move-group-chat']);
    expect(await db.all('SELECT write FROM directory_writes')).toHaveLength(1);
  });
});
