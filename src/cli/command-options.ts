/**
 * What every command shares: loading the config (and learning its secrets for the scrubber), the option
 * parsers, the errors a user can fix, opening the embedded directory, and printing tables.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { CountryCode } from 'libphonenumber-js';
import { type Config, loadConfig, secretValues } from '../config.js';
import { TALL_IMAGE_MODES } from '../core/message-plan.js';
import type { ChatGone } from '../directory/directory.js';
import { LocalDirectory } from '../directory/local/local-directory.js';
import { SecretScrubber } from '../observability/secret-scrubber.js';
import { openStateDatabase } from '../store/open-state-database.js';
import { isUnavailable, PostgresDatabase } from '../store/postgres-database.js';
import { type SqlDatabase, StateUnavailableError } from '../store/sql-database.js';

export const MB = 1024 * 1024;

// Each command loads only what it needs: an admin's `user list` should not wait for grammY, imapflow
// and prom-client to load.
export const load = {
  app: () => import('../app.js'),
  directories: () => import('../directory/create-directory.js'),
  seatableSchema: () => import('../directory/seatable/seatable-schema.js'),
  healthCheck: () => import('../health-check.js'),
  mailParser: () => import('../mail/mail-parser.js'),
};

/** Masks every secret the CLI has seen (config secrets, passwords given as options) in what it prints. */
export const scrubber = new SecretScrubber();

/** An error the user can fix; printed as one line without a stack. */
export class UsageError extends Error {}

/** The validated config from the environment; its secrets join the scrubber. */
export function config(): Config {
  const loaded = loadConfig(process.env);
  scrubber.add(...secretValues(loaded));
  return loaded;
}

/** Option parser: a whole number. */
export function integer(value: string): number {
  if (!/^-?\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number');
  return Number(value);
}

/** Option parser of a repeatable option: every value, in order. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export const mediaModeOption = () =>
  new Option('--media-mode <mode>', 'how PNGs are sent: photo, document or both').choices([
    'photo',
    'document',
    'both',
  ]);

export const tallImageModeOption = () =>
  new Option(
    '--tall-image-mode <mode>',
    'how a PNG too tall for a readable photo is sent: tiles+document, tiles or document',
  ).choices(TALL_IMAGE_MODES);

const openedStates: SqlDatabase[] = [];

/**
 * Opens the state database the config names (PostgreSQL with DATABASE_URL, migrated at open, so an empty
 * database works; else SQLite in DATA_DIR). {@link closeStateDatabases} closes it when the command ends
 * (a command may close it earlier). A PostgreSQL that cannot be reached is a {@link UsageError} naming
 * host:port/database, never the password.
 */
export async function stateDatabase(cfg: Config): Promise<SqlDatabase> {
  let db: SqlDatabase;
  try {
    db = await openStateDatabase(cfg);
  } catch (error) {
    if (cfg.DATABASE_URL && (error instanceof StateUnavailableError || isUnavailable(error))) {
      // the engine's own error names host:port/database already; a raw driver error does not
      const what =
        error instanceof StateUnavailableError
          ? scrubber.describe(error)
          : `PostgreSQL ${postgresLocation(cfg.DATABASE_URL)}: ${connectionFailure(error)}`;
      throw new UsageError(
        `the state database cannot be reached (${what}): check DATABASE_URL and that PostgreSQL runs and accepts connections from here`,
      );
    }
    throw error;
  }
  openedStates.push(db);
  return db;
}

/** Closes every state database a command opened (called once the command is over). */
export async function closeStateDatabases(): Promise<void> {
  for (const db of openedStates.splice(0)) await db.close().catch(() => undefined);
}

/** `host:port/database` of a PostgreSQL URL (no user, no password). */
export function postgresLocation(url: string): string {
  // the engine parses the URL and connects only on the first query: nothing is opened here
  const db = new PostgresDatabase({ url });
  void db.close();
  return db.location;
}

/** Why a connection failed, in a few words (a refused connection to every address has no message). */
export function connectionFailure(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const message =
    error instanceof AggregateError && !error.message
      ? error.errors.map((inner) => scrubber.describe(inner)).join('; ')
      : scrubber.describe(error);
  return message || (typeof code === 'string' ? code : 'connection failed');
}

/** Opens the embedded directory for a management command; refuses when SeaTable is the directory. */
export async function localDirectory(cfg: Config): Promise<LocalDirectory> {
  return (await openLocalDirectory(cfg)).directory;
}

/** The embedded directory (read) with its database (for a command that needs both, in one transaction). */
export async function openLocalDirectory(
  cfg: Config,
): Promise<{ directory: LocalDirectory; db: SqlDatabase }> {
  if (cfg.DIRECTORY !== 'local') {
    throw new UsageError(
      `DIRECTORY=${cfg.DIRECTORY}: mailboxes, users and groups are managed in SeaTable; edit the base instead`,
    );
  }
  const db = await stateDatabase(cfg);
  const directory = new LocalDirectory(db, {
    phoneRegion: cfg.PHONE_REGION as CountryCode,
    pollIntervalMs: 0,
  });
  await directory.start();
  return { directory, db };
}

/** Whether an entry receives reports, and if not, who decided: the admin (pause) or the bot (what it saw). */
export function describeState(entry: { active: boolean; pausedByAdmin?: true; chatGone?: ChatGone }): string {
  const seen = entry.chatGone
    ? `off (bot: ${CHAT_GONE_WORDS[entry.chatGone.reason]}, since ${entry.chatGone.since.slice(0, 16).replace('T', ' ')})`
    : null;
  if (entry.pausedByAdmin) return seen ? `paused (admin); ${seen}` : 'paused (admin)';
  return seen ?? (entry.active ? 'active' : 'off');
}

const CHAT_GONE_WORDS: Record<ChatGone['reason'], string> = {
  blocked: 'the user blocked the bot',
  removed: 'the bot was removed from the group',
  refused: 'Telegram refused delivery (403)',
};

/** `--telegram-id` or `--unlink`/`--unlock` of an edit command: a number, null (clear) or nothing. */
export function idChange(
  id: number | undefined,
  clear: boolean | undefined,
  clearFlag: string,
): number | null | undefined {
  if (id !== undefined && clear) throw new UsageError(`give --telegram-id or ${clearFlag}, not both`);
  return clear ? null : id;
}

/** Prints rows as an aligned text table (the keys of the first row are the columns), or `(none)`. */
export function printTable(rows: Array<Record<string, string>>): void {
  if (rows.length === 0) {
    console.log('(none)');
    return;
  }
  const columns = Object.keys(rows[0]!);
  const widths = columns.map((column) =>
    Math.max(column.length, ...rows.map((row) => (row[column] ?? '').length)),
  );
  const line = (values: string[]) =>
    values
      .map((value, index) => value.padEnd(widths[index]!))
      .join('  ')
      .trimEnd();
  console.log(line(columns));
  for (const row of rows) console.log(line(columns.map((column) => row[column] ?? '')));
}
