/**
 * Refresh tokens a token endpoint rotated (answered a refresh with a new refresh token). The new one
 * is stored durably before it is used, and from then on preferred to the configured one, which the
 * endpoint may already have invalidated. Each stored token remembers a hash of the configured token
 * (and endpoint and client) it descends from: when the admin configures another refresh token, the
 * hash no longer matches and the stored one is dropped in favour of the new configuration.
 */
import { createHash } from 'node:crypto';
import { type Database, nowIso } from './database.js';

/** What a stored refresh token descends from: endpoint, client and the configured refresh token. */
export function refreshTokenSeedHash(tokenUrl: string, clientId: string, configuredToken: string): string {
  return createHash('sha256').update(`${tokenUrl}\n${clientId}\n${configuredToken}`).digest('hex');
}

export class RefreshTokenStore {
  constructor(private readonly db: Database) {}

  /** The stored (rotated) refresh token of a mailbox, when it descends from the configuration `seedHash`. */
  current(mailbox: string, seedHash: string): string | null {
    const row = this.db
      .prepare('SELECT seed_hash, refresh_token FROM oauth2_refresh_tokens WHERE mailbox = ?')
      .get(mailbox) as { seed_hash: string; refresh_token: string } | undefined;
    return row && row.seed_hash === seedHash ? row.refresh_token : null;
  }

  /** Stores a rotated refresh token (replacing any earlier one of the mailbox). */
  save(mailbox: string, seedHash: string, refreshToken: string): void {
    this.db
      .prepare(
        `INSERT INTO oauth2_refresh_tokens (mailbox, seed_hash, refresh_token, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (mailbox) DO UPDATE SET seed_hash = excluded.seed_hash,
           refresh_token = excluded.refresh_token, updated_at = excluded.updated_at`,
      )
      .run(mailbox, seedHash, refreshToken, nowIso());
  }

  /** Every stored refresh token, for the secret scrubber. */
  all(): string[] {
    return (
      this.db.prepare('SELECT refresh_token FROM oauth2_refresh_tokens').all() as Array<{
        refresh_token: string;
      }>
    ).map((row) => row.refresh_token);
  }
}
