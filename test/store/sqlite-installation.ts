/**
 * A populated SQLite installation for the `migrate-state` tests: a DATA_DIR whose bot.sqlite has rows in
 * every table of the schema (written with SQL that matches it, ids with gaps), and spooled files on disk:
 * a 3 MiB + 1 byte PDF (four 1 MiB chunks), a tall PNG with two tiles, a report whose spool the janitor
 * removed (files gone, `spool_removed_at` set). Also the helpers that compare both sides.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type BetterSqlite3 from 'better-sqlite3';
import { expect } from 'vitest';
import { openDatabase } from '../../src/store/database.js';
import { openPostgresDatabase } from '../../src/store/postgres-schema.js';
import { spoolRoot } from '../../src/store/spool.js';
import type { SqlDatabase } from '../../src/store/sql-database.js';

export interface SpooledFixtureFile {
  path: string;
  bytes: Buffer;
  sha256: string;
}

export interface SqliteInstallation {
  dataDir: string;
  /** The files whose spool is kept (PDF, PNG, its tiles): they must reach the database. */
  keptFiles: SpooledFixtureFile[];
  /** Files of the report whose spool was removed (recorded, not on disk). */
  removedFiles: number;
}

const T = '2026-12-01T08:00:00.000Z';

function spoolFile(dataDir: string, dir: string, name: string, size: number): SpooledFixtureFile {
  const file = path.join(spoolRoot(dataDir), dir, ...name.split('/'));
  mkdirSync(path.dirname(file), { recursive: true });
  const bytes = randomBytes(size);
  writeFileSync(file, bytes);
  return { path: file, bytes, sha256: createHash('sha256').update(bytes).digest('hex') };
}

/** Creates and fills a DATA_DIR; `deliveries` extra delivery rows make batches. */
export function createSqliteInstallation(options: { deliveries?: number } = {}): SqliteInstallation {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'migrate-state-'));
  const db = openDatabase(dataDir);
  try {
    const pdf = spoolFile(dataDir, 'mail-1', 'report.pdf', 3 * 1024 * 1024 + 1);
    const png = spoolFile(dataDir, 'mail-1', 'chart.png', 200_000);
    const tile0 = spoolFile(dataDir, 'mail-1', 'tiles/0/0.png', 70_000);
    const tile1 = spoolFile(dataDir, 'mail-1', 'tiles/0/1.png', 60_000);
    const fill = db.transaction(() => {
      db.prepare(
        `INSERT INTO mailboxes (id, email, host, port, tls, login, password, folder, allow_from, active, created_at, updated_at, sender_auth, tall_image_mode)
         VALUES (3, 'Reports@Example.com', 'imap.example.com', 993, 'tls', 'reports', 'imap-secret', 'INBOX', '["superset@example.com"]', 1, ?, ?, 'dkim', 'tiles')`,
      ).run(T, T);
      db.prepare(
        `INSERT INTO mailboxes (id, email, host, port, tls, login, password_env, created_at, updated_at, oauth2_token_url, oauth2_client_id, oauth2_scope)
         VALUES (7, 'sales@example.com', 'imap.example.com', 143, 'starttls', 'sales', 'SALES_PW', ?, ?, 'https://login.example.com/token', 'client', 'imap')`,
      ).run(T, T);
      db.prepare(
        "INSERT INTO users (id, name, phone, telegram_id, created_at, updated_at) VALUES (2, 'Анна', '+79001234567', 9007199254740000, ?, ?)",
      ).run(T, T);
      db.prepare(
        "INSERT INTO users (id, name, phone, active, created_at, updated_at) VALUES (5, 'Bob', '+79001234568', 0, ?, ?)",
      ).run(T, T);
      db.prepare('INSERT INTO user_mailboxes (user_id, mailbox_id) VALUES (2, 3), (5, 3), (2, 7)').run();
      db.prepare(
        "INSERT INTO groups (id, title, telegram_id, locked, topic_id, media_mode, created_at, updated_at) VALUES (4, 'Sales team', -1001234567890, 1, 42, 'document', ?, ?)",
      ).run(T, T);
      db.prepare('INSERT INTO group_mailboxes (group_id, mailbox_id) VALUES (4, 7)').run();
      db.prepare(
        "INSERT INTO mailbox_watermarks (mailbox, uid_validity, last_uid, updated_at, mailbox_identity) VALUES ('reports@example.com', '1700000000', 118, ?, 'id-1')",
      ).run(T);
      const report = db.prepare(
        `INSERT INTO reports (id, mailbox, uid_validity, uid, raw_sha256, raw_size, message_id, subject, sender, status, spool_dir, recorded_at, spool_removed_at, text_table, held)
         VALUES (?, 'reports@example.com', '1700000000', ?, ?, 1234, ?, ?, 'superset@example.com', 'forward', ?, ?, ?, ?, ?)`,
      );
      report.run(
        10,
        117,
        'a'.repeat(64),
        '<m117@example.com>',
        'Daily sales',
        path.join(spoolRoot(dataDir), 'mail-1'),
        T,
        null,
        null,
        0,
      );
      report.run(
        12,
        118,
        'b'.repeat(64),
        '<m118@example.com>',
        'Old report',
        path.join(spoolRoot(dataDir), 'mail-0'),
        T,
        T,
        '{"rows":[]}',
        1,
      );
      db.prepare(
        `INSERT INTO report_files (report_id, position, filename, content_type, size, sha256, path, width, height, tiles, background_share)
         VALUES (10, 0, 'report.pdf', 'application/pdf', ?, ?, ?, NULL, NULL, NULL, NULL),
                (10, 1, 'chart.png', 'image/png', ?, ?, ?, 1200, 9000, ?, 0.25),
                (12, 0, 'old.pdf', 'application/pdf', 10, ?, ?, NULL, NULL, NULL, NULL)`,
      ).run(
        pdf.bytes.length,
        pdf.sha256,
        pdf.path,
        png.bytes.length,
        png.sha256,
        png.path,
        JSON.stringify(
          [tile0, tile1].map((tile, index) => ({
            filename: `chart-${index + 1}.png`,
            contentType: 'image/png',
            size: tile.bytes.length,
            sha256: tile.sha256,
            path: tile.path,
          })),
        ),
        'c'.repeat(64),
        path.join(spoolRoot(dataDir), 'mail-0', 'old.pdf'),
      );
      db.prepare(
        "INSERT INTO report_skipped_parts (report_id, position, filename, content_type, reason, too_large_bytes) VALUES (10, 2, 'huge.xlsx', 'application/vnd.ms-excel', 'too-large', 99999999)",
      ).run();
      const delivery = db.prepare(
        `INSERT INTO deliveries (id, report_id, chat_id, recipient_kind, recipient_key, recipient_name, language, media_mode, state, steps_done, attempts, next_attempt_at, last_error, created_at, finished_at, round, plan)
         VALUES (?, 10, ?, 'user', ?, 'Анна', 'ru', 'photo', ?, ?, ?, 1764576000000, ?, ?, ?, ?, ?)`,
      );
      delivery.run(20, 9007199254740000, 'user:2', 'sent', 3, 1, null, T, T, 0, '{"steps":3}');
      delivery.run(21, -1001234567890, 'group:4', 'pending', 1, 2, 'retry after 429', T, null, 0, null);
      for (let i = 0; i < (options.deliveries ?? 0); i++) {
        delivery.run(100 + i, 1_000_000 + i, `user:${1000 + i}`, 'pending', 0, 0, null, T, null, 1, null);
      }
      db.prepare(
        "INSERT INTO telegram_files (sha256, sent_as, file_id, updated_at) VALUES (?, 'document', 'BQACAgIAAxkBAAI', ?)",
      ).run(pdf.sha256, T);
      db.prepare(
        "INSERT INTO chat_languages (chat_id, language, updated_at) VALUES (9007199254740000, 'en', ?)",
      ).run(T);
      db.prepare(
        "INSERT INTO directory_cache (source, snapshot, loaded_at) VALUES ('seatable', '{\"users\":[]}', ?)",
      ).run(T);
      db.prepare(
        'INSERT INTO chat_migrations (old_chat_id, new_chat_id, migrated_at) VALUES (-4001, -1004001, ?)',
      ).run(T);
      db.prepare(
        "INSERT INTO directory_writes (id, source, write, created_at, attempts, next_attempt_at, last_error) VALUES (8, 'seatable', '{\"op\":\"link\"}', ?, 2, 1764576000000, '503')",
      ).run(T);
      db.prepare(
        'INSERT INTO admin_alert_queue (id, messages, updated_at) VALUES (1, \'["disk low"]\', ?)',
      ).run(T);
      db.prepare("INSERT INTO gone_chats (chat_id, reason, since) VALUES (777, 'blocked', ?)").run(T);
      db.prepare(
        "INSERT INTO group_approvals (id, chat_id, title, chat_type, member_count, promoted_by, language, admin_chat_id, admin_message_id, requested_at) VALUES (6, -100999, 'New group', 'supergroup', 12, '@admin', 'en', -100111, 55, ?)",
      ).run(T);
      db.prepare(
        "INSERT INTO superset_notices (report_id, mailbox, kind, report_name, attempt, max_attempts, told_subscribers, settled_at, recorded_at) VALUES (12, 'reports@example.com', 'retry', 'Old report', 1, 3, 1, NULL, ?)",
      ).run(T);
      db.prepare(
        "INSERT INTO oauth2_refresh_tokens (mailbox, seed_hash, refresh_token, updated_at) VALUES ('sales@example.com', 'seed', 'rt-secret', ?)",
      ).run(T);
    });
    fill();
    return { dataDir, keptFiles: [pdf, png, tile0, tile1], removedFiles: 1 };
  } finally {
    db.close();
  }
}

/** Adds one report (with a delivery) to an installation, as a bot on SQLite would after a migration. */
export function addReport(dataDir: string, id: number): void {
  const db = openDatabase(dataDir);
  try {
    db.prepare(
      `INSERT INTO reports (id, mailbox, raw_sha256, raw_size, subject, status, recorded_at)
       VALUES (?, 'reports@example.com', ?, 10, 'Later report', 'forward', ?)`,
    ).run(id, `${id}`.padStart(64, 'd'), T);
    db.prepare(
      `INSERT INTO deliveries (report_id, chat_id, recipient_kind, recipient_key, media_mode, created_at)
       VALUES (?, 9007199254740000, 'user', 'user:2', 'photo', ?)`,
    ).run(id, T);
  } finally {
    db.close();
  }
}

/** Creates a migrated schema for the tests. */
export async function prepareSchema(url: string, schema: string): Promise<void> {
  const db = await openPostgresDatabase({ url, schema });
  await db.close();
}

/** The data tables of an SQLite installation (what migrate-state copies). */
export function dataTables(sqlite: BetterSqlite3.Database): string[] {
  return (
    sqlite
      .prepare(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name",
      )
      .all() as Array<{ name: string }>
  )
    .map((row) => row.name)
    .filter((name) => name !== 'spool_files' && name !== 'spool_chunks' && name !== 'directory_version');
}

/** Rows as comparable text (column → value as text, bytes as hex), sorted. */
export function comparable(rows: Array<Record<string, unknown>>): string[] {
  return rows
    .map((row) =>
      JSON.stringify(
        Object.keys(row)
          .sort()
          .map((column) => {
            const value = row[column];
            if (value === null || value === undefined) return [column, null];
            if (Buffer.isBuffer(value)) return [column, value.toString('hex')];
            return [column, String(value)];
          }),
      ),
    )
    .sort();
}

/** Every data table of the installation in `dataDir` has the same rows in `pg`. */
export async function expectSameRows(dataDir: string, pg: SqlDatabase): Promise<void> {
  const sqlite = openDatabase(dataDir);
  try {
    const tables = dataTables(sqlite);
    expect(tables.length).toBeGreaterThanOrEqual(20);
    for (const table of tables) {
      const mine = comparable(
        sqlite.prepare(`SELECT * FROM "${table}"`).all() as Array<Record<string, unknown>>,
      );
      const theirs = comparable(await pg.all<Record<string, unknown>>(`SELECT * FROM "${table}"`));
      expect({ table, rows: theirs }).toEqual({ table, rows: mine });
    }
  } finally {
    sqlite.close();
  }
}
