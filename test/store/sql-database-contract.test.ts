/**
 * What both engines of SqlDatabase must do alike (src/store/sql-database.ts), on the real schema:
 * the stores are written once against these semantics.
 */
import { expect, it } from 'vitest';
import { nowIso, type SqlDatabase } from '../../src/store/sql-database.js';
import { forEachEngine } from './engines.js';

async function addMailbox(db: SqlDatabase, email: string): Promise<number> {
  const now = nowIso();
  const row = await db.get<{ id: number }>(
    `INSERT INTO mailboxes (email, host, port, tls, login, created_at, updated_at)
     VALUES (?, 'imap.example.com', 993, 'tls', ?, ?, ?) RETURNING id`,
    [email, email, now, now],
  );
  if (!row) throw new Error('no id returned');
  return row.id;
}

forEachEngine('SqlDatabase contract', (engine) => {
  it('binds positional parameters and returns new ids with RETURNING', async () => {
    const db = engine.current();
    const first = await addMailbox(db, 'a@example.com');
    const second = await addMailbox(db, 'b@example.com');
    expect(typeof first).toBe('number');
    expect(second).toBeGreaterThan(first);
    const row = await db.get<{ email: string; port: number }>(
      "SELECT email, port FROM mailboxes WHERE id = ? AND host = 'imap.example.com' AND login = ?",
      [second, 'b@example.com'],
    );
    expect(row).toEqual({ email: 'b@example.com', port: 993 });
    expect(await db.get('SELECT id FROM mailboxes WHERE id = ?', [999])).toBeUndefined();
  });

  it('keeps chat ids beyond 2^31 as exact numbers, and counts and booleans as numbers', async () => {
    const db = engine.current();
    const chatId = -1001234567890;
    await db.run('INSERT INTO chat_languages (chat_id, language, updated_at) VALUES (?, ?, ?)', [
      chatId,
      'en',
      nowIso(),
    ]);
    const row = await db.get<{ chat_id: number; n: number; present: number }>(
      'SELECT chat_id, (SELECT COUNT(*) FROM chat_languages) AS n, (SELECT COUNT(*) FROM chat_languages) > 0 AS present FROM chat_languages WHERE chat_id = ?',
      [chatId],
    );
    expect(row).toEqual({ chat_id: chatId, n: 1, present: 1 });
  });

  it('upserts with ON CONFLICT … DO UPDATE SET x = excluded.x and DO NOTHING, counting changes', async () => {
    const db = engine.current();
    const upsert =
      'INSERT INTO chat_languages (chat_id, language, updated_at) VALUES (?, ?, ?) ON CONFLICT (chat_id) DO UPDATE SET language = excluded.language';
    expect((await db.run(upsert, [42, 'ru', nowIso()])).changes).toBe(1);
    expect((await db.run(upsert, [42, 'en', nowIso()])).changes).toBe(1);
    const ignore =
      'INSERT INTO chat_languages (chat_id, language, updated_at) VALUES (?, ?, ?) ON CONFLICT (chat_id) DO NOTHING';
    expect((await db.run(ignore, [42, 'de', nowIso()])).changes).toBe(0);
    expect(await db.all('SELECT chat_id, language FROM chat_languages')).toEqual([
      { chat_id: 42, language: 'en' },
    ]);
    expect(
      (await db.run('UPDATE chat_languages SET language = ? WHERE chat_id > ?', ['ru', 0])).changes,
    ).toBe(1);
    expect((await db.run('DELETE FROM chat_languages WHERE chat_id = ?', [7])).changes).toBe(0);
  });

  it('compares and keeps unique the NOCASE columns case-insensitively', async () => {
    const db = engine.current();
    await addMailbox(db, 'Reports@Example.com');
    expect(await db.get('SELECT email FROM mailboxes WHERE email = ?', ['reports@example.COM'])).toEqual({
      email: 'Reports@Example.com',
    });
    await expect(addMailbox(db, 'REPORTS@example.com')).rejects.toThrow();
    await db.run(
      'INSERT INTO mailbox_watermarks (mailbox, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?)',
      ['Reports@Example.com', '1', 5, nowIso()],
    );
    const moved = await db.run(
      'INSERT INTO mailbox_watermarks (mailbox, uid_validity, last_uid, updated_at) VALUES (?, ?, ?, ?) ON CONFLICT (mailbox) DO UPDATE SET last_uid = excluded.last_uid',
      ['reports@example.com', '1', 9, nowIso()],
    );
    expect(moved.changes).toBe(1);
    expect(await db.all('SELECT mailbox, last_uid FROM mailbox_watermarks')).toEqual([
      { mailbox: 'Reports@Example.com', last_uid: 9 },
    ]);
  });

  it('commits a transaction whole, and rolls it back whole when it throws', async () => {
    const db = engine.current();
    const result = await db.transaction(async () => {
      await addMailbox(db, 'one@example.com');
      await addMailbox(db, 'two@example.com');
      return 'done';
    });
    expect(result).toBe('done');
    await expect(
      db.transaction(async () => {
        await addMailbox(db, 'three@example.com');
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    const rows = await db.all<{ email: string }>('SELECT email FROM mailboxes ORDER BY email');
    expect(rows.map((row) => row.email)).toEqual(['one@example.com', 'two@example.com']);
  });

  it('joins a store call made anywhere down the async call chain to the open transaction', async () => {
    const db = engine.current();
    // a "store" that knows nothing of the transaction, called after other awaits
    const store = { add: async (email: string) => addMailbox(db, email) };
    await expect(
      db.transaction(async () => {
        await new Promise((resolve) => setTimeout(resolve, 5));
        await Promise.all([store.add('x@example.com'), store.add('y@example.com')]);
        // inside, the transaction sees its own writes
        expect(await db.all('SELECT id FROM mailboxes')).toHaveLength(2);
        throw new Error('undo');
      }),
    ).rejects.toThrow('undo');
    expect(await db.all('SELECT id FROM mailboxes')).toEqual([]);
  });

  it('makes a nested transaction a savepoint: its failure undoes only its own writes', async () => {
    const db = engine.current();
    await db.transaction(async () => {
      await addMailbox(db, 'outer@example.com');
      await expect(
        db.transaction(async () => {
          await addMailbox(db, 'inner@example.com');
          throw new Error('inner fails');
        }),
      ).rejects.toThrow('inner fails');
      await db.transaction(async () => {
        await addMailbox(db, 'inner2@example.com');
      });
    });
    const rows = await db.all<{ email: string }>('SELECT email FROM mailboxes ORDER BY email');
    expect(rows.map((row) => row.email)).toEqual(['inner2@example.com', 'outer@example.com']);
  });

  it('cascades deletes along the foreign keys', async () => {
    const db = engine.current();
    const mailbox = await addMailbox(db, 'm@example.com');
    const user = await db.get<{ id: number }>(
      "INSERT INTO users (name, phone, created_at, updated_at) VALUES ('Ann', '+10000000000', ?, ?) RETURNING id",
      [nowIso(), nowIso()],
    );
    await db.run('INSERT INTO user_mailboxes (user_id, mailbox_id) VALUES (?, ?)', [user?.id ?? 0, mailbox]);
    await db.run('DELETE FROM mailboxes WHERE id = ?', [mailbox]);
    expect(await db.all('SELECT * FROM user_mailboxes')).toEqual([]);
  });

  it('keeps a literal ? inside a quoted string', async () => {
    const db = engine.current();
    const row = await db.get<{ q: string; n: number }>("SELECT 'why?' AS q, ? + 1 AS n", [41]);
    expect(row).toEqual({ q: 'why?', n: 42 });
  });
});
