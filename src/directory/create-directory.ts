/**
 * Builds the directory the config asks for: the embedded one (the default) or SeaTable.
 */
import type { CountryCode } from 'libphonenumber-js';
import type { Config } from '../config.js';
import type { AdminAlerts } from '../observability/admin-alerts.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import { GoneChats } from '../store/gone-chats.js';
import type { SqlDatabase } from '../store/sql-database.js';
import type { Directory, DirectorySource } from './directory.js';
import { LocalDirectory } from './local/local-directory.js';
import { ObservedDirectory } from './observed-directory.js';
import { SeaTableClient } from './seatable/seatable-client.js';
import { SeaTableDirectory } from './seatable/seatable-directory.js';
import { seaTableNames } from './seatable/seatable-schema.js';

export interface DirectoryDependencies {
  config: Config;
  /** The bot's state: the embedded directory's tables, gone chats, the SeaTable copy and write queue. */
  db: SqlDatabase;
  logger: Logger;
  scrubber: SecretScrubber;
  /** Environment for `env:VAR` passwords (default: process.env). */
  env?: Record<string, string | undefined>;
  /** How often the local directory looks for changes made by other processes, ms. */
  localPollMs?: number;
  /** Where the SeaTable directory reports "unreachable" and "schema broken" (default: the log only). */
  alerts?: AdminAlerts;
  /** Overrides SEATABLE_REFRESH_SECONDS, in ms (tests). */
  seatableRefreshMs?: number;
  /** Whether this instance writes queued changes back to SeaTable now (the leader; default always). */
  seatableWritesActive?: () => boolean;
}

/**
 * Timings of the SeaTable client used by the directory: an outage is noticed in seconds, not
 * minutes. A rate limit is waited out inside the call (SeaTable's `x-ratelimit-reset` is up to a
 * minute ahead), so a write of several calls makes progress call by call instead of starting over.
 * Nothing waits on these calls but the directory's own background reads and write queue.
 */
const SEATABLE_CLIENT_TIMINGS = {
  timeoutMs: 20_000,
  maxAttempts: 3,
  retryBaseDelayMs: 500,
  maxRetryDelayMs: 120_000,
};

/** A SeaTable client for the configured base (also used by `seatable init` and `check`). */
export function createSeaTableClient(config: Config, logger?: Logger): SeaTableClient {
  if (!config.SEATABLE_SERVER_URL || !config.SEATABLE_API_TOKEN) {
    throw new Error('SEATABLE_SERVER_URL and SEATABLE_API_TOKEN are required for the SeaTable directory');
  }
  return new SeaTableClient({
    serverUrl: config.SEATABLE_SERVER_URL,
    apiToken: config.SEATABLE_API_TOKEN,
    ...SEATABLE_CLIENT_TIMINGS,
    logger,
  });
}

/**
 * The configured directory, with the bot's own observations (gone chats) laid over what the admin
 * decided: SeaTable through ObservedDirectory; the embedded directory does it in its own reads.
 */
export function createDirectory(deps: DirectoryDependencies): Directory {
  const { config } = deps;
  if (config.DIRECTORY === 'seatable') {
    deps.scrubber.add(config.SEATABLE_API_TOKEN);
    const source: DirectorySource = new SeaTableDirectory({
      client: createSeaTableClient(config, deps.logger),
      names: seaTableNames(config),
      phoneRegion: config.PHONE_REGION as CountryCode,
      refreshIntervalMs: deps.seatableRefreshMs ?? config.SEATABLE_REFRESH_SECONDS * 1000,
      ...(deps.seatableWritesActive ? { writesActive: deps.seatableWritesActive } : {}),
      db: deps.db,
      logger: deps.logger,
      scrubber: deps.scrubber,
      alerts: deps.alerts,
      env: deps.env,
      serverUrl: config.SEATABLE_SERVER_URL,
    });
    return new ObservedDirectory(source, new GoneChats(deps.db));
  }
  return new LocalDirectory(deps.db, {
    phoneRegion: config.PHONE_REGION as CountryCode,
    env: deps.env,
    pollIntervalMs: deps.localPollMs,
  });
}
