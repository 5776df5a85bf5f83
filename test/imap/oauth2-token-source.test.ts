/**
 * The token source against the identity platform double (real HTTP): caching and renewal ahead of
 * expiry, rotated refresh tokens and a configured one that replaces them, and what its errors say.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OAuth2Settings } from '../../src/directory/directory.js';
import { OAuth2TokenSource, TokenEndpointError } from '../../src/imap/oauth2-token-source.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { type Database, openDatabase } from '../../src/store/database.js';
import { RefreshTokenStore, refreshTokenSeedHash } from '../../src/store/oauth2-refresh-tokens.js';
import { SqliteDatabase } from '../../src/store/sqlite-database.js';
import { FakeIdentityPlatform } from '../fakes/oauth2/fake-identity-platform.js';
import { removeDir, tempDataDir } from '../support/bot-harness.js';

let idp: FakeIdentityPlatform;
let dataDir: string;
let db: Database;

beforeAll(async () => {
  idp = await FakeIdentityPlatform.start();
  idp.addClient({ clientId: 'app', secret: 'the-app-secret', user: 'user1' });
  dataDir = tempDataDir();
  db = openDatabase(dataDir);
});

afterAll(async () => {
  await idp?.stop();
  db?.close();
  removeDir(dataDir);
});

function settings(extra: Partial<OAuth2Settings> = {}): OAuth2Settings {
  return {
    tokenUrl: idp.tokenUrl,
    clientId: 'app',
    clientSecret: 'the-app-secret',
    clientSecretSource: 'env:APP_SECRET',
    scope: null,
    refreshToken: null,
    refreshTokenSource: null,
    ...extra,
  };
}

describe('OAuth2 token source', () => {
  it('caches a token and renews it a quarter of its lifetime before it expires', async () => {
    let now = Date.now();
    const source = new OAuth2TokenSource({
      mailbox: 'a@example.com',
      settings: settings(),
      scrubber: new SecretScrubber(),
      now: () => now,
    });
    const before = idp.requestsOf('app').length;
    const first = await source.accessToken();
    expect(await source.accessToken()).toBe(first);
    // 3599 s: renewed 5 min (the cap) ahead
    now += (3599 - 301) * 1000;
    expect(await source.accessToken()).toBe(first);
    now += 2000;
    const second = await source.accessToken();
    expect(second).not.toBe(first);
    source.invalidate();
    expect(await source.accessToken()).not.toBe(second);
    expect(idp.requestsOf('app').length - before).toBe(3);
  });

  it('asks once for callers at the same time', async () => {
    const source = new OAuth2TokenSource({
      mailbox: 'b@example.com',
      settings: settings(),
      scrubber: new SecretScrubber(),
    });
    const before = idp.requestsOf('app').length;
    const tokens = await Promise.all([source.accessToken(), source.accessToken(), source.accessToken()]);
    expect(new Set(tokens).size).toBe(1);
    expect(idp.requestsOf('app').length - before).toBe(1);
  });

  it('stores a rotated refresh token; a newly configured one wins over it', async () => {
    idp.rotateRefreshTokens = true;
    try {
      const store = new RefreshTokenStore(new SqliteDatabase(db));
      const configured = idp.issueRefreshToken('app', 'user1');
      const make = (refreshToken: string) =>
        new OAuth2TokenSource({
          mailbox: 'c@example.com',
          settings: settings({ refreshToken, refreshTokenSource: 'env:REFRESH' }),
          scrubber: new SecretScrubber(),
          refreshTokens: store,
        });
      await make(configured).accessToken();
      const [rotated] = await store.all();
      expect(rotated).toBeDefined();
      expect(idp.refreshTokenValid(configured)).toBe(false);
      // a new source (a restart) with the same configuration uses the stored one
      await make(configured).accessToken();
      expect(idp.refreshTokenValid(rotated!)).toBe(false);
      // the admin configures a new refresh token: the stored one (of the old configuration) is not used
      const reissued = idp.issueRefreshToken('app', 'user1');
      await make(reissued).accessToken();
      expect(idp.refreshTokenValid(reissued)).toBe(false);
      expect(await store.all()).toHaveLength(1);
    } finally {
      idp.rotateRefreshTokens = false;
    }
  });

  it('keeps a rotated refresh token whose save failed, and stores it before the next refresh', async () => {
    idp.rotateRefreshTokens = true;
    try {
      // the first save meets a database another process holds locked
      class BusyOnceStore extends RefreshTokenStore {
        failures = 1;
        override async save(mailbox: string, seedHash: string, refreshToken: string): Promise<void> {
          if (this.failures-- > 0)
            throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
          await super.save(mailbox, seedHash, refreshToken);
        }
      }
      const store = new BusyOnceStore(new SqliteDatabase(db));
      const configured = idp.issueRefreshToken('app', 'user1');
      const source = new OAuth2TokenSource({
        mailbox: 'h@example.com',
        settings: settings({ refreshToken: configured, refreshTokenSource: 'env:REFRESH' }),
        scrubber: new SecretScrubber(),
        refreshTokens: store,
      });
      const first = await source.accessToken();
      expect(idp.refreshTokenValid(configured)).toBe(false);
      const storedBefore = (await store.all()).length;
      source.invalidate();
      // the next refresh presents the rotated token (the configured one is void: that would be refused)
      const second = await source.accessToken();
      expect(second).not.toBe(first);
      // and the token that the second refresh rotated to is the stored one, valid
      const stored = await new RefreshTokenStore(new SqliteDatabase(db)).current(
        'h@example.com',
        refreshTokenSeedHash(idp.tokenUrl, 'app', configured),
      );
      expect(stored).not.toBeNull();
      expect(idp.refreshTokenValid(stored!)).toBe(true);
      expect((await store.all()).length).toBe(storedBefore + 1);
    } finally {
      idp.rotateRefreshTokens = false;
    }
  });

  it('says what the endpoint said, refusal or outage, and never a secret', async () => {
    const scrubber = new SecretScrubber();
    const refused = await new OAuth2TokenSource({
      mailbox: 'd@example.com',
      settings: settings({ clientSecret: 'a-wrong-secret' }),
      scrubber,
    })
      .accessToken()
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(TokenEndpointError);
    expect(refused).toMatchObject({ kind: 'refused', error: 'invalid_client', status: 401 });
    expect((refused as Error).message).toMatch(
      /^token endpoint said HTTP 401 \(invalid_client, AADSTS7000215: Invalid client secret provided\. .* Trace ID: [0-9a-f-]+ Correlation ID: /,
    );
    expect((refused as Error).message).not.toContain('a-wrong-secret');

    const expired = await new OAuth2TokenSource({
      mailbox: 'e@example.com',
      settings: settings({ refreshToken: 'a-revoked-refresh-token', refreshTokenSource: 'env:R' }),
      scrubber,
    })
      .accessToken()
      .catch((error: unknown) => error);
    expect(expired).toMatchObject({ kind: 'refused', error: 'invalid_grant', status: 400 });
    expect((expired as Error).message).toContain('AADSTS700082');
    expect((expired as Error).message).not.toContain('a-revoked-refresh-token');

    idp.failWith503 = true;
    const unavailable = await new OAuth2TokenSource({
      mailbox: 'f@example.com',
      settings: settings(),
      scrubber,
    })
      .accessToken()
      .catch((error: unknown) => error);
    idp.failWith503 = false;
    expect(unavailable).toMatchObject({ kind: 'unavailable', error: 'temporarily_unavailable', status: 503 });

    const missing = await new OAuth2TokenSource({
      mailbox: 'g@example.com',
      settings: settings({ clientSecret: null }),
      scrubber,
    })
      .accessToken()
      .catch((error: unknown) => error);
    expect((missing as Error).message).toBe('no client secret: env:APP_SECRET is not set');
  });
});
