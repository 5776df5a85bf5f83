/**
 * Migration 8 (issue 11 parts 2-3): Active becomes the admin's alone. What the bot itself had
 * unticked in the embedded directory, and "mark chat inactive" changes still queued for SeaTable by
 * an earlier version, become observations in gone_chats; nothing of them is written to Active.
 */
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { DATABASE_FILE, openDatabase } from '../../src/store/database.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

const dirs: string[] = [];

afterEach(() => {
  for (const dir of dirs.splice(0)) removeDir(dir);
});

/** A database as the version before migration 8 left it (schema 7), with the given rows. */
function databaseAtSchema7(fill: (db: BetterSqlite3.Database) => void): string {
  const dataDir = tempDataDir();
  dirs.push(dataDir);
  openDatabase(dataDir).close();
  const db = new BetterSqlite3(path.join(dataDir, DATABASE_FILE));
  db.exec('DROP TABLE gone_chats; DROP TABLE group_approvals;');
  // and what later migrations added, so that they run again after 8 (9: Superset notices, /last)
  db.exec('DROP TABLE IF EXISTS superset_notices; DROP INDEX IF EXISTS reports_forwarded_by_mailbox;');
  // and what the migrations after 8 added, which run again on open (10: issue 13 part 4)
  db.exec('ALTER TABLE reports DROP COLUMN text_table;');
  // and what later migrations added (11: issue 12 part 2, OAuth2 mailboxes)
  db.exec(`DROP TABLE oauth2_refresh_tokens;
    ALTER TABLE mailboxes DROP COLUMN oauth2_token_url; ALTER TABLE mailboxes DROP COLUMN oauth2_client_id;
    ALTER TABLE mailboxes DROP COLUMN oauth2_client_secret_env; ALTER TABLE mailboxes DROP COLUMN oauth2_scope;
    ALTER TABLE mailboxes DROP COLUMN oauth2_refresh_token_env;`);
  // undo the later migrations too (12: tall image mode, tiles, background share)
  db.exec(`
    ALTER TABLE mailboxes DROP COLUMN tall_image_mode;
    ALTER TABLE groups DROP COLUMN tall_image_mode;
    ALTER TABLE deliveries DROP COLUMN tall_image_mode;
    ALTER TABLE report_files DROP COLUMN tiles;
    ALTER TABLE report_files DROP COLUMN background_share;
  `);
  // 13: the held flag (its index went with migration 9's above)
  db.exec('ALTER TABLE reports DROP COLUMN held;');
  // 14: the embedded directory's change counter
  db.exec('DROP TABLE directory_version;');
  // 15: the spooled files kept in the database
  db.exec('DROP TABLE spool_chunks; DROP TABLE spool_files;');
  db.pragma('user_version = 7');
  fill(db);
  db.close();
  return dataDir;
}

describe('migration 8', () => {
  it('moves what the bot unticked and queued "inactive" writes into gone_chats, and leaves Active to the admin', () => {
    const at = '2026-01-02T03:04:05.000Z';
    const dataDir = databaseAtSchema7((db) => {
      const user = db.prepare(
        'INSERT INTO users (name, phone, telegram_id, active, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)',
      );
      user.run('Blocked', '+79990000001', 501, 0, at, at);
      user.run('Fine', '+79990000002', 502, 1, at, at);
      user.run('Never registered', '+79990000003', null, 0, at, at);
      db.prepare(
        'INSERT INTO groups (title, telegram_id, locked, active, created_at, updated_at) VALUES (?, ?, 1, 0, ?, ?)',
      ).run('Ops', -100501, at, at);
      const queued = db.prepare(
        'INSERT INTO directory_writes (source, write, created_at, next_attempt_at) VALUES (?, ?, ?, 0)',
      );
      queued.run('seatable', JSON.stringify({ kind: 'deactivate-chat', chatId: 777 }), at);
      queued.run(
        'seatable',
        JSON.stringify({ kind: 'move-group-chat', oldChatId: -5, newChatId: -1005 }),
        at,
      );
    });

    const db = openDatabase(dataDir);
    try {
      expect(db.prepare('SELECT chat_id, reason, since FROM gone_chats ORDER BY chat_id').all()).toEqual([
        { chat_id: -100501, reason: 'removed', since: at },
        { chat_id: 501, reason: 'refused', since: at },
        { chat_id: 777, reason: 'refused', since: at },
      ]);
      expect(db.prepare('SELECT active FROM users ORDER BY id').all()).toEqual([
        { active: 1 },
        { active: 1 },
        { active: 1 },
      ]);
      expect(db.prepare('SELECT active FROM groups').all()).toEqual([{ active: 1 }]);
      // the queue keeps the group migration and nothing that would write Active
      expect(
        (db.prepare('SELECT write FROM directory_writes').all() as Array<{ write: string }>).map(
          (row) => JSON.parse(row.write).kind,
        ),
      ).toEqual(['move-group-chat']);
      expect(db.prepare('SELECT COUNT(*) AS n FROM group_approvals').get()).toEqual({ n: 0 });
    } finally {
      db.close();
    }
  });
});

describe('migration 13', () => {
  it('marks the reports held as blank before it as held, not those a resend already released', () => {
    const at = '2026-01-02T03:04:05.000Z';
    const hold = 'held: blank or unfinished screenshot (BLANK_SCREENSHOTS=hold); release it with resend';
    const dataDir = databaseAtSchema7((db) => {
      const report = db.prepare(
        `INSERT INTO reports (mailbox, raw_sha256, raw_size, subject, status, reason, recorded_at)
         VALUES ('a@example.com', ?, 1, ?, 'forward', ?, ?)`,
      );
      report.run('sha-1', 'Good', null, at);
      report.run('sha-2', 'Held', hold, at);
      report.run('sha-3', 'Released', hold, at);
      db.prepare(
        `INSERT INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, recipient_name, language, media_mode, created_at, round)
         VALUES (3, 501, 'user', '1', 'Anna', 'ru', 'photo', ?, 1)`,
      ).run(at);
    });
    const db = openDatabase(dataDir);
    try {
      expect(db.prepare('SELECT subject, held FROM reports ORDER BY id').all()).toEqual([
        { subject: 'Good', held: 0 },
        { subject: 'Held', held: 1 },
        { subject: 'Released', held: 0 },
      ]);
      // /last's query reads the partial index
      const plan = db
        .prepare(
          "EXPLAIN QUERY PLAN SELECT * FROM reports WHERE mailbox = ? AND status = 'forward' AND held = 0 ORDER BY id DESC LIMIT 1",
        )
        .all('a@example.com') as Array<{ detail: string }>;
      expect(plan.map((row) => row.detail).join('; ')).toContain('reports_forwarded_by_mailbox');
    } finally {
      db.close();
    }
  });
});
