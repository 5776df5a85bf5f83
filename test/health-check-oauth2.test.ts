/**
 * `check` on OAuth2 mailboxes, against a real Dovecot (oauth2 passdb) and the identity platform
 * double: it gets a token and logs in, and says which step failed without showing a secret.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../src/directory/local/local-directory.js';
import { runHealthCheck } from '../src/health-check.js';
import { SecretScrubber } from '../src/observability/secret-scrubber.js';
import { openDatabase } from '../src/store/database.js';
import { RefreshTokenStore } from '../src/store/oauth2-refresh-tokens.js';
import { SqliteDatabase } from '../src/store/sqlite-database.js';
import { DovecotServer } from './dovecot/dovecot.js';
import { FakeIdentityPlatform } from './fakes/oauth2/fake-identity-platform.js';
import { removeDir, tempDataDir, testConfig } from './support/bot-harness.js';

let dovecot: DovecotServer;
let idp: FakeIdentityPlatform;

beforeAll(async () => {
  idp = await FakeIdentityPlatform.start();
  dovecot = await DovecotServer.start({ users: 2, oauth2: { introspectionUrl: idp.introspectionUrl } });
  idp.addClient({ clientId: 'app-user1', secret: 'secret-of-app-user1', user: 'user1' });
  idp.addClient({ clientId: 'app-user2', secret: 'secret-of-app-user2', user: 'user2' });
});

afterAll(async () => {
  await dovecot?.stop();
  await idp?.stop();
});

async function checkMailbox(
  clientId: string,
  env: Record<string, string>,
  refreshTokenEnv?: string,
  /** Runs `check` this often on the same data directory; the last run's results are returned. */
  runs = 1,
) {
  const dataDir = tempDataDir();
  const db = openDatabase(dataDir);
  try {
    const directory = new LocalDirectory(new SqliteDatabase(db), {
      phoneRegion: 'RU',
      pollIntervalMs: 0,
      env,
    });
    await directory.addMailbox({
      email: dovecot.address('user1'),
      host: dovecot.host,
      port: dovecot.port,
      tls: 'none',
      login: 'user1',
      allowFrom: ['@example.com'],
      oauth2: { tokenUrl: idp.tokenUrl, clientId, clientSecretEnv: 'APP_SECRET', refreshTokenEnv },
    });
    let results: Awaited<ReturnType<typeof runHealthCheck>> = [];
    for (let run = 0; run < runs; run++) {
      results = await runHealthCheck({
        config: testConfig(dataDir, {}),
        directory,
        scrubber: new SecretScrubber(),
        refreshTokens: new RefreshTokenStore(new SqliteDatabase(db)),
        timeoutMs: 8000,
      });
    }
    return {
      // the login check comes last (the settings warnings of the same mailbox come first)
      result: results.filter((result) => result.check === `mailbox ${dovecot.address('user1')}`).at(-1)!,
      text: JSON.stringify(results),
      stored: await new RefreshTokenStore(new SqliteDatabase(db)).all(),
    };
  } finally {
    db.close();
    removeDir(dataDir);
  }
}

describe('check: OAuth2 mailboxes', () => {
  it('gets a token and logs in', async () => {
    const { result } = await checkMailbox('app-user1', { APP_SECRET: 'secret-of-app-user1' });
    expect(result.status).toBe('OK');
    expect(result.detail).toContain('OAuth2 token accepted');
  });

  it('names the token endpoint and its words when it refuses, without the secret', async () => {
    const { result, text } = await checkMailbox('app-user1', { APP_SECRET: 'a-wrong-secret-value' });
    expect(result.status).toBe('FAIL');
    expect(result.detail).toMatch(
      /^OAuth2 \(client_credentials grant\): token endpoint said HTTP 401 \(invalid_client, AADSTS7000215: Invalid client secret provided/,
    );
    expect(result.hint).toContain('env:APP_SECRET');
    expect(text).not.toContain('a-wrong-secret-value');
  });

  it('says when IMAP refused the token the endpoint gave', async () => {
    // a token of an app that has no permission on this mailbox
    const { result } = await checkMailbox('app-user2', { APP_SECRET: 'secret-of-app-user2' });
    expect(result.status).toBe('FAIL');
    expect(result.detail).toMatch(/^the token endpoint gave a token, but IMAP refused the token/);
    expect(result.hint).toContain('Add-MailboxPermission');
  });

  it('uses the refresh-token grant and keeps a rotated refresh token for the bot', async () => {
    idp.rotateRefreshTokens = true;
    try {
      const refresh = idp.issueRefreshToken('app-user1', 'user1');
      const { result, text, stored } = await checkMailbox(
        'app-user1',
        { APP_SECRET: 'secret-of-app-user1', APP_REFRESH: refresh },
        'APP_REFRESH',
      );
      expect(result.status).toBe('OK');
      expect(stored).toHaveLength(1);
      expect(idp.refreshTokenValid(stored[0]!)).toBe(true);
      expect(text).not.toContain(refresh);
      expect(text).not.toContain(stored[0]);
    } finally {
      idp.rotateRefreshTokens = false;
    }
  });

  it('names an unreachable token endpoint', async () => {
    await idp.down();
    try {
      const { result } = await checkMailbox('app-user1', { APP_SECRET: 'secret-of-app-user1' });
      expect(result.status).toBe('FAIL');
      expect(result.detail).toBe(
        'OAuth2 (client_credentials grant): token endpoint not reachable: ECONNREFUSED',
      );
    } finally {
      await idp.up();
    }
  });

  it('does not refresh a rotating refresh token the bot holds (a stored rotated one)', async () => {
    idp.rotateRefreshTokens = true;
    try {
      const refresh = idp.issueRefreshToken('app-user2', 'user1');
      const before = idp.requestsOf('app-user2').length;
      const { result, stored } = await checkMailbox(
        'app-user2',
        { APP_SECRET: 'secret-of-app-user2', APP_REFRESH: refresh },
        'APP_REFRESH',
        2,
      );
      // the first run rotated and stored; the second left the stored token alone
      expect(idp.requestsOf('app-user2').length - before).toBe(1);
      expect(result.status).toBe('WARN');
      expect(result.detail).toContain(
        'the token endpoint rotates refresh tokens and the bot holds the current one',
      );
      expect(stored).toHaveLength(1);
      expect(idp.refreshTokenValid(stored[0]!)).toBe(true);
    } finally {
      idp.rotateRefreshTokens = false;
    }
  });
});
