/**
 * The bot's durable state: one SQLite file under DATA_DIR (better-sqlite3, WAL, synchronous=FULL so a
 * committed report survives a power cut, not only a crash). Migrations are numbered and applied in order.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import BetterSqlite3 from 'better-sqlite3';

export type Database = BetterSqlite3.Database;

/** File name of the database inside DATA_DIR. */
export const DATABASE_FILE = 'bot.sqlite';

const MIGRATIONS: string[] = [
  // 1: embedded directory, mail intake, outbox
  `
  CREATE TABLE mailboxes (
    id INTEGER PRIMARY KEY,
    email TEXT NOT NULL UNIQUE COLLATE NOCASE,
    host TEXT NOT NULL,
    port INTEGER NOT NULL,
    tls TEXT NOT NULL CHECK (tls IN ('tls', 'starttls', 'none')),
    login TEXT NOT NULL,
    password TEXT,
    password_env TEXT,
    folder TEXT NOT NULL DEFAULT 'INBOX',
    allow_from TEXT NOT NULL DEFAULT '[]',
    media_mode TEXT CHECK (media_mode IN ('photo', 'document', 'both')),
    mark_seen INTEGER,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE users (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    phone TEXT NOT NULL UNIQUE,
    telegram_id INTEGER,
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE user_mailboxes (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    PRIMARY KEY (user_id, mailbox_id)
  );
  CREATE TABLE groups (
    id INTEGER PRIMARY KEY,
    title TEXT NOT NULL UNIQUE,
    telegram_id INTEGER,
    locked INTEGER NOT NULL DEFAULT 0,
    topic_id INTEGER,
    media_mode TEXT CHECK (media_mode IN ('photo', 'document', 'both')),
    active INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE TABLE group_mailboxes (
    group_id INTEGER NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    mailbox_id INTEGER NOT NULL REFERENCES mailboxes(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, mailbox_id)
  );

  -- where each mailbox listener is: the last UID recorded under the current UIDVALIDITY
  CREATE TABLE mailbox_watermarks (
    mailbox TEXT PRIMARY KEY COLLATE NOCASE,
    uid_validity TEXT NOT NULL,
    last_uid INTEGER NOT NULL,
    updated_at TEXT NOT NULL
  );

  CREATE TABLE reports (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    mailbox TEXT NOT NULL COLLATE NOCASE,
    uid_validity TEXT,
    uid INTEGER,
    raw_sha256 TEXT NOT NULL,
    raw_size INTEGER NOT NULL,
    message_id TEXT,
    subject TEXT NOT NULL,
    sender TEXT,
    mail_date TEXT,
    link TEXT,
    description TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    reason TEXT,
    spool_dir TEXT,
    internal_date TEXT,
    recorded_at TEXT NOT NULL,
    spool_removed_at TEXT,
    UNIQUE (mailbox, raw_sha256)
  );
  CREATE INDEX reports_message_id ON reports (mailbox, message_id);
  CREATE INDEX reports_recorded_at ON reports (recorded_at);

  CREATE TABLE report_files (
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    path TEXT NOT NULL,
    width INTEGER,
    height INTEGER,
    PRIMARY KEY (report_id, position)
  );
  CREATE TABLE report_skipped_parts (
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    filename TEXT,
    content_type TEXT NOT NULL,
    reason TEXT NOT NULL,
    too_large_bytes INTEGER,
    PRIMARY KEY (report_id, position)
  );

  -- the outbox: one row per (report, chat), written in the same transaction as the report
  CREATE TABLE deliveries (
    id INTEGER PRIMARY KEY,
    report_id INTEGER NOT NULL REFERENCES reports(id) ON DELETE CASCADE,
    chat_id INTEGER NOT NULL,
    recipient_kind TEXT NOT NULL CHECK (recipient_kind IN ('user', 'group', 'admin')),
    recipient_key TEXT NOT NULL,
    recipient_name TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT 'ru',
    media_mode TEXT NOT NULL,
    thread_id INTEGER,
    state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'failed', 'cancelled')),
    steps_done INTEGER NOT NULL DEFAULT 0,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    created_at TEXT NOT NULL,
    finished_at TEXT,
    -- 0 for the first delivery; the resend command adds rounds
    round INTEGER NOT NULL DEFAULT 0,
    UNIQUE (report_id, chat_id, round)
  );
  CREATE INDEX deliveries_pending ON deliveries (state, next_attempt_at);

  -- upload once, fan out by file_id
  CREATE TABLE telegram_files (
    sha256 TEXT NOT NULL,
    sent_as TEXT NOT NULL CHECK (sent_as IN ('photo', 'document')),
    file_id TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (sha256, sent_as)
  );

  -- the language each chat is spoken to in (from the Telegram user's language_code)
  CREATE TABLE chat_languages (
    chat_id INTEGER PRIMARY KEY,
    language TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );

  -- last good copy of an external directory (SeaTable), for restarts during an outage
  CREATE TABLE directory_cache (
    source TEXT PRIMARY KEY,
    snapshot TEXT NOT NULL,
    loaded_at TEXT NOT NULL
  );
  `,
  // 2: a half-done delivery keeps the plan it started with (issue 10 part 7); groups that
  // became supergroups, so the directory check before each send follows them (issue 11 part 1)
  `
  ALTER TABLE deliveries ADD COLUMN plan TEXT;
  CREATE TABLE chat_migrations (
    old_chat_id INTEGER PRIMARY KEY,
    new_chat_id INTEGER NOT NULL,
    migrated_at TEXT NOT NULL
  );
  CREATE INDEX chat_migrations_new_chat ON chat_migrations (new_chat_id);
  `,
  // 3: the directory row a watermark was made for, so a mailbox removed and
  // added again (a new row) starts afresh instead of replaying the mail of the gap
  `
  ALTER TABLE mailbox_watermarks ADD COLUMN mailbox_identity TEXT;
  `,
  // 4: directory writes waiting for SeaTable (issue 10 part 5): registration write-backs and delivery
  // feedback, applied in order and retried until SeaTable takes them, across restarts
  `
  CREATE TABLE directory_writes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    source TEXT NOT NULL,
    write TEXT NOT NULL,
    created_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    last_error TEXT
  );
  CREATE INDEX directory_writes_by_source ON directory_writes (source, id);
  `,
  // 5: (issue 11 part 4) a mailbox's own sender-authentication rule ('dkim',
  // 'authentication-results[:<authserv-id>]', 'off'); NULL means SENDER_AUTH
  `
  ALTER TABLE mailboxes ADD COLUMN sender_auth TEXT;
  `,
  // 6: indexes for the janitor (REPORT_RETENTION_DAYS, spool clean-up): its queries cost what they
  // find, not the history they skip (issue 10 part 6)
  `
  CREATE INDEX deliveries_report_state ON deliveries (report_id, state, finished_at);
  CREATE INDEX reports_spool_held ON reports (recorded_at) WHERE spool_dir IS NOT NULL AND spool_removed_at IS NULL;
  CREATE INDEX report_files_sha256 ON report_files (sha256);
  CREATE INDEX telegram_files_updated_at ON telegram_files (updated_at);
  `,
  // 7: admin-chat messages not sent yet survive a restart during a Telegram outage
  `
  CREATE TABLE admin_alert_queue (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    messages TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
  // 8: issue 11 parts 2-3 (H6): what the bot observed, apart from the admin's Active; pending group approvals
  `
  -- a registered chat the bot saw go (blocked, removed, refused); a new /start or promotion deletes the row
  CREATE TABLE gone_chats (
    chat_id INTEGER PRIMARY KEY,
    reason TEXT NOT NULL CHECK (reason IN ('blocked', 'removed', 'refused')),
    since TEXT NOT NULL
  );
  -- until now only the bot unticked Active in the embedded directory (there was no pause command):
  -- those were observations, so they move here and Active becomes the admin's alone
  INSERT OR IGNORE INTO gone_chats (chat_id, reason, since)
    SELECT telegram_id, 'refused', updated_at FROM users WHERE active = 0 AND telegram_id IS NOT NULL;
  INSERT OR IGNORE INTO gone_chats (chat_id, reason, since)
    SELECT telegram_id, 'removed', updated_at FROM groups WHERE active = 0 AND telegram_id IS NOT NULL;
  UPDATE users SET active = 1 WHERE active = 0;
  UPDATE groups SET active = 1 WHERE active = 0;

  -- "mark chat inactive" changes still queued for SeaTable by an earlier version: the bot no longer
  -- writes the admin's Active, so they become observations too
  INSERT OR IGNORE INTO gone_chats (chat_id, reason, since)
    SELECT json_extract(write, '$.chatId'), 'refused', created_at FROM directory_writes
    WHERE json_extract(write, '$.kind') = 'deactivate-chat' AND json_type(write, '$.chatId') = 'integer';
  DELETE FROM directory_writes WHERE json_extract(write, '$.kind') = 'deactivate-chat';

  -- GROUP_REGISTRATION=approval: a promotion waiting for the admin chat's Approve or Reject
  CREATE TABLE group_approvals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    chat_id INTEGER NOT NULL UNIQUE,
    title TEXT NOT NULL,
    chat_type TEXT NOT NULL,
    member_count INTEGER,
    promoted_by TEXT NOT NULL,
    language TEXT NOT NULL,
    admin_chat_id INTEGER,
    admin_message_id INTEGER,
    requested_at TEXT NOT NULL
  );
  `,
  // 9: issue 13 part 3 (engineer n): Superset's own notices (errors, retries, final failures), so a
  // later success names the retries before it, and subscribers hear of a failed report once
  `
  CREATE TABLE superset_notices (
    report_id INTEGER PRIMARY KEY REFERENCES reports(id) ON DELETE CASCADE,
    mailbox TEXT NOT NULL COLLATE NOCASE,
    kind TEXT NOT NULL CHECK (kind IN ('error', 'retry', 'final-failure')),
    report_name TEXT NOT NULL,
    attempt INTEGER,
    max_attempts INTEGER,
    -- 1 when the mailbox's recipients were sent "the report was not produced"
    told_subscribers INTEGER NOT NULL DEFAULT 0,
    -- a retry notice: when a delivered report or a final failure ended its run
    settled_at TEXT,
    recorded_at TEXT NOT NULL
  );
  CREATE INDEX superset_notices_by_mailbox ON superset_notices (mailbox, recorded_at);
  -- /last: the newest forwarded report of a mailbox
  CREATE INDEX reports_forwarded_by_mailbox ON reports (mailbox, id) WHERE status = 'forward';
  `,
  // 10: (issue 13 part 4) a TEXT report's table (JSON of core/report.ts TextTable): every delivery, and
  // one resumed after a restart, sends the same text
  `
  ALTER TABLE reports ADD COLUMN text_table TEXT;
  `,
  // 11: (issue 12 part 2) mailboxes that log in with OAuth2: the embedded directory's settings (secrets
  // only as environment variable names), and refresh tokens the token endpoint rotated, which replace
  // the configured one until the admin configures another (seed_hash: a hash of the configured one)
  `
  ALTER TABLE mailboxes ADD COLUMN oauth2_token_url TEXT;
  ALTER TABLE mailboxes ADD COLUMN oauth2_client_id TEXT;
  ALTER TABLE mailboxes ADD COLUMN oauth2_client_secret_env TEXT;
  ALTER TABLE mailboxes ADD COLUMN oauth2_scope TEXT;
  ALTER TABLE mailboxes ADD COLUMN oauth2_refresh_token_env TEXT;
  CREATE TABLE oauth2_refresh_tokens (
    mailbox TEXT PRIMARY KEY COLLATE NOCASE,
    seed_hash TEXT NOT NULL,
    refresh_token TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  `,
  // 12: issue 13 parts 1-2 (tall dashboards as tiles, blank screenshots): TALL_IMAGE_MODE per mailbox,
  // group and delivery (NULL: the setting; on a delivery of before: 'document'); per PNG its tiles
  // (JSON array of report files, spooled next to it) and the share of its most common colour
  `
  ALTER TABLE mailboxes ADD COLUMN tall_image_mode TEXT CHECK (tall_image_mode IN ('tiles+document', 'tiles', 'document'));
  ALTER TABLE groups ADD COLUMN tall_image_mode TEXT CHECK (tall_image_mode IN ('tiles+document', 'tiles', 'document'));
  ALTER TABLE deliveries ADD COLUMN tall_image_mode TEXT;
  ALTER TABLE report_files ADD COLUMN tiles TEXT;
  ALTER TABLE report_files ADD COLUMN background_share REAL;
  `,
  // 13: (issue 13 fix, engineer v) a report held as a blank screenshot (BLANK_SCREENSHOTS=hold) until a
  // `resend` releases it: /last gives the newest report not held, with the partial index it reads
  // (the held ones of before are those recorded with the hold's reason and no delivery)
  `
  ALTER TABLE reports ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
  UPDATE reports SET held = 1 WHERE status = 'forward' AND reason LIKE 'held:%'
    AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.report_id = reports.id);
  DROP INDEX IF EXISTS reports_forwarded_by_mailbox;
  CREATE INDEX reports_forwarded_by_mailbox ON reports (mailbox, id) WHERE status = 'forward' AND held = 0;
  `,
  // 14: (issue 14, engineer dir) a counter every edit of the embedded directory bumps in its own
  // transaction: how a running bot on an engine without SQLite's data_version sees a CLI's edit
  `
  CREATE TABLE directory_version (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
  );
  INSERT INTO directory_version (id, version) VALUES (1, 0);
  `,
  // 15: (issue 14, engineer files) spooled files kept in the database (store/spool-files.ts): used only
  // with DATABASE_URL (the same tables in postgres-schema.ts); with SQLite the files stay on disk and
  // these tables stay empty. A file is its spool path relative to the spool root, cut in 1 MiB chunks
  // (spool_chunks.file_key has no foreign key: a file's chunks are written before its row is kept).
  `
  CREATE TABLE spool_files (
    file_key TEXT PRIMARY KEY,
    spool_dir TEXT NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    chunks INTEGER NOT NULL,
    -- 0: staged before its report's transaction, 1: kept by it (staged rows no report kept are swept)
    kept INTEGER NOT NULL,
    created_at TEXT NOT NULL
  );
  CREATE INDEX spool_files_by_dir ON spool_files (spool_dir);
  CREATE INDEX spool_files_staged ON spool_files (created_at) WHERE kept = 0;
  CREATE TABLE spool_chunks (
    file_key TEXT NOT NULL,
    seq INTEGER NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (file_key, seq)
  );
  `,
];

/** Opens (creating when needed) the database in `dataDir` and brings its schema up to date. */
export function openDatabase(dataDir: string): Database {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const db = new BetterSqlite3(path.join(dataDir, DATABASE_FILE));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  // several processes (the running bot and a CLI command) may share the file
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: Database): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new Error(
      `The database was written by a newer version of superset-telegram-bot (schema ${version}, this version knows ${MIGRATIONS.length}).`,
    );
  }
  for (let next = version; next < MIGRATIONS.length; next++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[next]!);
      db.pragma(`user_version = ${next + 1}`);
    })();
  }
}

/** The current time as stored in the database. */
export function nowIso(): string {
  return new Date().toISOString();
}
