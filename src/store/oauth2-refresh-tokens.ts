/**
 * Refresh tokens a token endpoint rotated (answered a refresh with a new refresh token). The new one
 * is stored durably before it is used, and from then on preferred to the configured one, which the
 * endpoint may already have invalidated. Each stored token remembers a hash of the configured token
 * (and endpoint and client) it descends from: when the admin configures another refresh token, the
 * hash no longer matches and the stored one is dropped in favour of the new configuration.
 */
import { createHash } from 'node:crypto';
import { nowIso, type SqlDatabase } from './sql-database.js';

/** What a stored refresh token descends from: endpoint, client and the configured refresh token. */
export function refreshTokenSeedHash(tokenUrl: string, clientId: string, configuredToken: string): string {
  return createHash('sha256').update(`${tokenUrl}\n${clientId}\n${configuredToken}`).digest('hex');
}

export class RefreshTokenStore {
  constructor(private readonly db: SqlDatabase) {}

  /** The stored (rotated) refresh token of a mailbox, when it descends from the configuration `seedHash`. */
  async current(mailbox: string, seedHash: string): Promise<string | null> {
    const row = await this.db.get<{ seed_hash: string; refresh_token: string }>(
      'SELECT seed_hash, refresh_token FROM oauth2_refresh_tokens WHERE mailbox = ?',
      [mailbox],
    );
    return row && row.seed_hash === seedHash ? row.refresh_token : null;
  }

  /** Stores a rotated refresh token (replacing any earlier one of the mailbox). */
  async save(mailbox: string, seedHash: string, refreshToken: string): Promise<void> {
    await this.db.run(
      `INSERT INTO oauth2_refresh_tokens (mailbox, seed_hash, refresh_token, updated_at) VALUES (?, ?, ?, ?)
         ON CONFLICT (mailbox) DO UPDATE SET seed_hash = excluded.seed_hash,
           refresh_token = excluded.refresh_token, updated_at = excluded.updated_at`,
      [mailbox, seedHash, refreshToken, nowIso()],
    );
  }

  /** Every stored refresh token, for the secret scrubber. */
  async all(): Promise<string[]> {
    const rows = await this.db.all<{ refresh_token: string }>(
      'SELECT refresh_token FROM oauth2_refresh_tokens',
    );
    return rows.map((row) => row.refresh_token);
  }
}
