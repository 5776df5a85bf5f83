/**
 * The Base-Token: a JWT minted from the API-Token (GET /api/v2.1/dtable/app-access-token/) that
 * every api-gateway call needs. It lives 3 days by default and the response has no `expires_in`,
 * so the expiry is read from the JWT's `exp` claim. BaseTokenCache keeps one token, renews it
 * before it expires, and makes concurrent callers share one renewal.
 */

/** What the token exchange told us. Holds the token: never log or serialise it. */
export interface BaseTokenGrant {
  accessToken: string;
  dtableUuid: string;
  /** True on SeaTable ≥ 5.0 (api-gateway); absent on 4.x servers. */
  useApiGateway: boolean;
  dtableName: string | null;
  workspaceId: number | null;
  appName: string | null;
  /** Epoch ms when the token expires. */
  expiresAt: number;
  /** Epoch ms from which the cache renews the token instead of handing it out. */
  renewAt: number;
}

/** The token's `exp` claim in epoch ms, or null when it cannot be read. The signature is not checked. */
export function jwtExpiry(token: string): number | null {
  const payload = token.split('.')[1];
  if (!payload) return null;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { exp?: unknown };
    return typeof claims.exp === 'number' && Number.isFinite(claims.exp) ? claims.exp * 1000 : null;
  } catch {
    return null;
  }
}

/** Shorter apparent lifetimes are taken for clock skew (SeaTable's shortest `exp=` is 1 hour). */
const MINIMUM_PLAUSIBLE_LIFETIME_MS = 60_000;

export interface BaseTokenCacheOptions {
  /** Performs the token exchange; returns the grant minus the timing fields. */
  mint: () => Promise<Omit<BaseTokenGrant, 'expiresAt' | 'renewAt'>>;
  /** Clock, epoch ms. */
  now: () => number;
  /** Renew this long before `exp`; capped at half the token's lifetime. */
  renewMarginMs: number;
  /** Lifetime assumed when the token's `exp` cannot be read. */
  fallbackLifetimeMs: number;
}

export class BaseTokenCache {
  private grant: BaseTokenGrant | null = null;
  private pending: Promise<BaseTokenGrant> | null = null;

  constructor(private readonly options: BaseTokenCacheOptions) {}

  /** A token that is not due for renewal, minting one when needed. */
  async current(): Promise<BaseTokenGrant> {
    if (this.grant && this.options.now() < this.grant.renewAt) return this.grant;
    return this.renew();
  }

  /**
   * A token other than `rejected` (one the server just refused). When another caller already
   * replaced it, that newer token is returned without minting again.
   */
  async replace(rejected: string): Promise<BaseTokenGrant> {
    if (this.grant && this.grant.accessToken !== rejected) return this.grant;
    return this.renew();
  }

  /** Single flight: every caller during a renewal waits for the same exchange. */
  private renew(): Promise<BaseTokenGrant> {
    this.pending ??= this.options
      .mint()
      .then((minted) => {
        const mintedAt = this.options.now();
        let expiresAt = jwtExpiry(minted.accessToken) ?? mintedAt + this.options.fallbackLifetimeMs;
        // A token that looks (nearly) expired at birth means our clock is ahead of the server's:
        // trust the fallback lifetime rather than minting on every call; a 401 still renews it.
        if (expiresAt - mintedAt < MINIMUM_PLAUSIBLE_LIFETIME_MS)
          expiresAt = mintedAt + this.options.fallbackLifetimeMs;
        const margin = Math.min(this.options.renewMarginMs, Math.max(0, (expiresAt - mintedAt) / 2));
        this.grant = { ...minted, expiresAt, renewAt: expiresAt - margin };
        return this.grant;
      })
      .finally(() => {
        this.pending = null;
      });
    return this.pending;
  }
}
