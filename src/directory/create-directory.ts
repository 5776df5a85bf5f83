/**
 * Builds the directory the config asks for: the embedded SQLite one (the default) or SeaTable.
 */
import type { CountryCode } from 'libphonenumber-js';
import type { Config } from '../config.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import type { Database } from '../store/database.js';
import type { Directory } from './directory.js';
import { LocalDirectory } from './local/local-directory.js';

export interface DirectoryDependencies {
  config: Config;
  db: Database;
  logger: Logger;
  scrubber: SecretScrubber;
  /** Environment for `env:VAR` passwords (default: process.env). */
  env?: Record<string, string | undefined>;
  /** How often the local directory looks for changes made by other processes, ms. */
  localPollMs?: number;
}

export function createDirectory(deps: DirectoryDependencies): Directory {
  const { config } = deps;
  if (config.DIRECTORY === 'seatable') {
    throw new Error('DIRECTORY=seatable is not available in this build yet');
  }
  return new LocalDirectory(deps.db, {
    phoneRegion: config.PHONE_REGION as CountryCode,
    env: deps.env,
    pollIntervalMs: deps.localPollMs,
  });
}
