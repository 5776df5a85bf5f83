/**
 * Access tokens for a mailbox that logs in with OAuth2 (XOAUTH2/OAUTHBEARER), from its token endpoint
 * through oauth4webapi: the client credentials grant (Microsoft 365 app-only) or the refresh-token
 * grant. A token is cached and fetched anew shortly before it expires, or at once after the IMAP
 * server refused it ({@link OAuth2TokenSource.invalidate}). A refresh token the endpoint rotates is
 * stored (RefreshTokenStore) before it is used. No secret leaves here in a message: every token and
 * the client secret are registered with the scrubber, and errors carry only the endpoint's own words.
 */
import * as oauth from 'oauth4webapi';
import { DEFAULT_OAUTH2_SCOPE, type OAuth2Settings } from '../directory/directory.js';
import type { Logger } from '../observability/logger.js';
import type { SecretScrubber } from '../observability/secret-scrubber.js';
import { sanitizeServerText } from '../observability/server-text.js';
import { type RefreshTokenStore, refreshTokenSeedHash } from '../store/oauth2-refresh-tokens.js';

/** OAuth2 error codes that mean "not with these credentials": retrying unchanged cannot help. */
const REFUSALS = new Set([
  'invalid_grant',
  'invalid_client',
  'unauthorized_client',
  'invalid_scope',
  'unsupported_grant_type',
  'invalid_request',
  'access_denied',
]);

/**
 * How often an unsaved rotated refresh token is tried again, ms (besides before every refresh). One
 * try already waits out the database's busy timeout, blocking the process: not tried in a loop.
 */
const SAVE_RETRY_MS = 60_000;

/** The longest a token is renewed ahead of its expiry, ms. */
const MAX_RENEW_AHEAD_MS = 5 * 60_000;

/**
 * The token endpoint gave no access token. `refused`: it refused the credentials (a wrong client
 * secret, a revoked or expired refresh token: only the admin can fix it); `unavailable`: it could
 * not be reached or failed (retried with backoff).
 */
export class TokenEndpointError extends Error {
  constructor(
    readonly kind: 'refused' | 'unavailable',
    message: string,
    /** The OAuth2 `error` code, when the endpoint sent one. */
    readonly error: string | null = null,
    readonly status: number | null = null,
  ) {
    super(message);
    this.name = 'TokenEndpointError';
  }
}

export interface OAuth2TokenSourceOptions {
  /** The mailbox address: the key of its stored refresh token. */
  mailbox: string;
  settings: OAuth2Settings;
  scrubber: SecretScrubber;
  /** Where rotated refresh tokens are kept; without it a rotated token lives in memory only. */
  refreshTokens?: RefreshTokenStore;
  logger?: Logger;
  /** Limit of one token request, ms (default 30 s). */
  timeoutMs?: number;
  now?: () => number;
}

interface CachedToken {
  value: string;
  /** Renew from this time on (ms since the epoch). */
  renewAt: number;
}

/** Plain HTTP only to this machine (tests, a local proxy); everything else must be HTTPS. */
function isLoopbackHttp(url: URL): boolean {
  return url.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
}

export class OAuth2TokenSource {
  private cached: CachedToken | null = null;
  private pending: Promise<string> | null = null;
  /**
   * The refresh token this process last got from the endpoint. Kept in memory before it is stored: a
   * failed save (SQLITE_BUSY while a CLI command writes) must not lose it, since the endpoint may
   * already have voided the one it replaced.
   */
  private rotatedInMemory: string | null = null;
  /** {@link rotatedInMemory} is not stored yet: saved again before the next refresh, and preferred. */
  private rotatedUnsaved = false;
  /** The configuration {@link rotatedInMemory} descends from, and when to try storing it again. */
  private rotatedSeedHash: string | null = null;
  private nextSaveAt = 0;
  private readonly now: () => number;

  constructor(private readonly options: OAuth2TokenSourceOptions) {
    this.now = options.now ?? Date.now;
    const { settings, scrubber } = options;
    scrubber.add(settings.clientSecret, settings.refreshToken);
  }

  /** Which grant this mailbox uses, for messages. */
  get grant(): 'client_credentials' | 'refresh_token' {
    return this.options.settings.refreshTokenSource ? 'refresh_token' : 'client_credentials';
  }

  /** A valid access token: the cached one, or a new one from the token endpoint. Throws TokenEndpointError. */
  async accessToken(): Promise<string> {
    if (this.rotatedUnsaved && this.rotatedSeedHash && this.now() >= this.nextSaveAt) {
      await this.saveRotated(this.rotatedSeedHash);
    }
    if (this.cached && this.now() < this.cached.renewAt) return this.cached.value;
    // one request at a time, shared by every caller
    this.pending ??= this.request().finally(() => {
      this.pending = null;
    });
    return this.pending;
  }

  /** The IMAP server refused the cached token: the next {@link accessToken} asks the endpoint. */
  invalidate(): void {
    this.cached = null;
  }

  private async request(): Promise<string> {
    const { settings, scrubber } = this.options;
    if (settings.clientSecret === null) {
      throw new TokenEndpointError('refused', `no client secret: ${settings.clientSecretSource} is not set`);
    }
    if (settings.refreshTokenSource && settings.refreshToken === null) {
      throw new TokenEndpointError('refused', `no refresh token: ${settings.refreshTokenSource} is not set`);
    }
    let url: URL;
    try {
      url = new URL(settings.tokenUrl);
    } catch {
      throw new TokenEndpointError('refused', 'the token URL is not a URL');
    }
    const server: oauth.AuthorizationServer = { issuer: url.origin, token_endpoint: url.href };
    const client: oauth.Client = { client_id: settings.clientId };
    const clientAuth = oauth.ClientSecretPost(settings.clientSecret);
    const requestOptions = {
      signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      [oauth.allowInsecureRequests]: isLoopbackHttp(url),
    };
    const startedAt = this.now();
    let result: oauth.TokenEndpointResponse;
    let usedRefreshToken: string | null = null;
    let seedHash: string | null = null;
    try {
      if (settings.refreshTokenSource && settings.refreshToken) {
        seedHash = refreshTokenSeedHash(settings.tokenUrl, settings.clientId, settings.refreshToken);
        usedRefreshToken = await this.refreshTokenToPresent(seedHash, settings.refreshToken);
        scrubber.add(usedRefreshToken);
        const response = await oauth.refreshTokenGrantRequest(server, client, clientAuth, usedRefreshToken, {
          ...requestOptions,
          ...(settings.scope ? { additionalParameters: { scope: settings.scope } } : {}),
        });
        result = await oauth.processRefreshTokenResponse(server, client, response);
      } else {
        const response = await oauth.clientCredentialsGrantRequest(
          server,
          client,
          clientAuth,
          { scope: settings.scope ?? DEFAULT_OAUTH2_SCOPE },
          requestOptions,
        );
        result = await oauth.processClientCredentialsResponse(server, client, response);
      }
    } catch (error) {
      throw await this.describe(error);
    }
    scrubber.add(result.access_token);
    const rotated = result.refresh_token;
    if (usedRefreshToken && seedHash && typeof rotated === 'string' && rotated !== usedRefreshToken) {
      scrubber.add(rotated);
      // kept in memory first, then stored before the access token is used: the old one may be void
      this.rotatedInMemory = rotated;
      this.rotatedSeedHash = seedHash;
      this.rotatedUnsaved = this.options.refreshTokens !== undefined;
      if (await this.saveRotated(seedHash)) {
        this.options.logger?.info(
          { mailbox: this.options.mailbox },
          'the token endpoint rotated the refresh token: the new one is stored and used from now on',
        );
      }
    }
    const lifetimeMs = typeof result.expires_in === 'number' ? result.expires_in * 1000 : 0;
    // renew a quarter of the lifetime ahead (at most 5 min), so a login never presents a dying token;
    // without expires_in the token serves this one login only
    const renewAhead = Math.min(MAX_RENEW_AHEAD_MS, lifetimeMs / 4);
    this.cached = { value: result.access_token, renewAt: startedAt + lifetimeMs - renewAhead };
    return result.access_token;
  }

  /**
   * The refresh token for the next request: an unsaved rotated one (stored again first), else the
   * store's (another process, `check`, may have rotated it further), else this process's, else the
   * configured one.
   */
  private async refreshTokenToPresent(seedHash: string, configured: string): Promise<string> {
    const store = this.options.refreshTokens;
    // a rotated token of another configuration (the admin configured a new one) is not used
    const inMemory = this.rotatedSeedHash === seedHash ? this.rotatedInMemory : null;
    if (!store || (this.rotatedUnsaved && inMemory && !(await this.saveRotated(seedHash)))) {
      return inMemory ?? configured;
    }
    let stored: string | null = null;
    try {
      stored = await store.current(this.options.mailbox, seedHash);
    } catch (error) {
      this.options.logger?.warn(
        { mailbox: this.options.mailbox, err: this.options.scrubber.describe(error) },
        'could not read the stored refresh token; using the one in memory',
      );
    }
    return stored ?? inMemory ?? configured;
  }

  /**
   * Stores {@link rotatedInMemory}; true when it is stored. A failure is logged and leaves it unsaved:
   * it stays in use, and is stored again before the next refresh and every minute meanwhile.
   */
  private async saveRotated(seedHash: string): Promise<boolean> {
    const store = this.options.refreshTokens;
    const token = this.rotatedInMemory;
    if (!store || !token || !this.rotatedUnsaved) return true;
    try {
      await store.save(this.options.mailbox, seedHash, token);
      this.rotatedUnsaved = false;
      return true;
    } catch (error) {
      this.nextSaveAt = this.now() + SAVE_RETRY_MS;
      this.options.logger?.error(
        { mailbox: this.options.mailbox, err: this.options.scrubber.describe(error) },
        'could not store the rotated refresh token: it is kept in memory and stored again before the next refresh',
      );
      return false;
    }
  }

  /** The endpoint's answer as a safe one-line error (its own words: error, error_description). */
  private async describe(error: unknown): Promise<TokenEndpointError> {
    const { scrubber } = this.options;
    if (error instanceof oauth.ResponseBodyError) {
      const words = [error.error, error.error_description].filter(Boolean).join(', ');
      const kind = REFUSALS.has(error.error) && error.status < 500 ? 'refused' : 'unavailable';
      return new TokenEndpointError(
        kind,
        `token endpoint said HTTP ${error.status} (${sanitizeServerText(words, scrubber, 400)})`,
        error.error,
        error.status,
      );
    }
    if (error instanceof oauth.WWWAuthenticateChallengeError) {
      const challenge = error.cause[0];
      const code = typeof challenge?.parameters.error === 'string' ? challenge.parameters.error : null;
      return new TokenEndpointError(
        code && REFUSALS.has(code) ? 'refused' : 'unavailable',
        `token endpoint said HTTP ${error.status} (${sanitizeServerText(code ?? challenge?.scheme ?? 'a challenge', scrubber)})`,
        code,
        error.status,
      );
    }
    if (error instanceof oauth.OperationProcessingError) {
      const response = error.cause instanceof Response ? error.cause : null;
      const status = response?.status ?? null;
      // a 5xx is no OAuth2 answer to oauth4webapi, but Microsoft's still carries error and error_description
      const body = await oauthErrorBody(response);
      if (body) {
        const words = [body.error, body.error_description].filter(Boolean).join(', ');
        return new TokenEndpointError(
          'unavailable',
          `token endpoint said HTTP ${status} (${sanitizeServerText(words, scrubber, 400)})`,
          body.error,
          status,
        );
      }
      return new TokenEndpointError(
        'unavailable',
        `token endpoint gave no usable answer${status ? ` (HTTP ${status})` : ''}: ${sanitizeServerText(error.message, scrubber)}`,
        null,
        status,
      );
    }
    const cause = (error as { cause?: { code?: string; message?: string } })?.cause;
    const reason =
      (error as { name?: string })?.name === 'TimeoutError'
        ? 'no answer in time'
        : (cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error)));
    return new TokenEndpointError(
      'unavailable',
      `token endpoint not reachable: ${sanitizeServerText(reason, scrubber)}`,
    );
  }
}

/** The `error` and `error_description` of an error answer's JSON body, when it has them. */
async function oauthErrorBody(
  response: Response | null,
): Promise<{ error: string; error_description?: string } | null> {
  if (!response || response.bodyUsed) return null;
  try {
    const body = (await response.json()) as { error?: unknown; error_description?: unknown };
    if (typeof body?.error !== 'string') return null;
    return {
      error: body.error,
      ...(typeof body.error_description === 'string' ? { error_description: body.error_description } : {}),
    };
  } catch {
    return null;
  }
}
