/**
 * Mailboxes that log in with OAuth2, against a real Dovecot whose `oauth2` passdb introspects tokens
 * at a token endpoint double that answers like Microsoft's identity platform (test/fakes/oauth2/):
 * both grants, a token expiring while idling, a token the server refuses, a refused grant next to a
 * working mailbox, and a rotated refresh token stored and used after a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalDirectory } from '../../src/directory/local/local-directory.js';
import type { OAuth2Input } from '../../src/directory/oauth2-settings.js';
import { DovecotServer } from '../dovecot/dovecot.js';
import { FakeIdentityPlatform } from '../fakes/oauth2/fake-identity-platform.js';
import { eventually, type RunningBot, removeDir, startBot, tempDataDir } from '../support/bot-harness.js';
import { reportMail } from '../support/simple-mail.js';

let dovecot: DovecotServer;
let idp: FakeIdentityPlatform;

beforeAll(async () => {
  idp = await FakeIdentityPlatform.start();
  dovecot = await DovecotServer.start({ users: 8, oauth2: { introspectionUrl: idp.introspectionUrl } });
});

afterAll(async () => {
  await dovecot?.stop();
  await idp?.stop();
});

/** An app registration for `user` with its secret in an environment variable of the bot. */
function app(user: string, env: Record<string, string>, extra: Partial<OAuth2Input> = {}): OAuth2Input {
  const clientId = `app-${user}-${Math.random().toString(36).slice(2, 8)}`;
  const secret = `secret~${user}~${Math.random().toString(36).slice(2)}`;
  idp.addClient({ clientId, secret, user });
  const variable = `SECRET_${user.toUpperCase()}`;
  env[variable] = secret;
  return { tokenUrl: idp.tokenUrl, clientId, clientSecretEnv: variable, ...extra };
}

async function addOAuth2Mailbox(bot: RunningBot, user: string, oauth2: OAuth2Input) {
  return (bot.app.directory as LocalDirectory).addMailbox({
    email: dovecot.address(user),
    host: dovecot.host,
    port: dovecot.port,
    tls: 'none',
    login: user,
    oauth2,
  });
}

async function reportsOf(bot: RunningBot, user: string) {
  return (await bot.app.store.recent(1000)).filter((report) => report.mailbox === dovecot.address(user));
}

function statusOf(bot: RunningBot, user: string) {
  return bot.app.listeners.listener(dovecot.address(user))?.status();
}

async function inSync(bot: RunningBot, user: string, timeoutMs = 15_000) {
  await eventually(() => statusOf(bot, user)?.state === 'connected', timeoutMs, `${user} connected`);
}

async function deliversOnce(bot: RunningBot, user: string): Promise<void> {
  const before = (await reportsOf(bot, user)).length;
  const mail = reportMail();
  await dovecot.append(user, mail.raw);
  await eventually(
    async () => (await reportsOf(bot, user)).some((report) => report.subject === mail.subject),
    15_000,
  );
  // give a duplicate the time to show up
  await new Promise((resolve) => setTimeout(resolve, 500));
  expect((await reportsOf(bot, user)).filter((report) => report.subject === mail.subject)).toHaveLength(1);
  expect(await reportsOf(bot, user)).toHaveLength(before + 1);
}

describe('OAuth2 mailboxes', () => {
  it('logs in with the client credentials grant (Microsoft 365 app-only) and forwards mail', async () => {
    const env: Record<string, string> = {};
    const oauth2 = app('user1', env);
    const bot = await startBot({ deps: { env } });
    try {
      await addOAuth2Mailbox(bot, 'user1', oauth2);
      await inSync(bot, 'user1');
      await deliversOnce(bot, 'user1');
      const requests = idp.requestsOf(oauth2.clientId);
      expect(requests.map((request) => [request.grant, request.outcome])).toEqual([
        ['client_credentials', 'ok'],
      ]);
      expect(dovecot.logins('user1')).toBeGreaterThanOrEqual(1);
      expect(bot.logs.text()).not.toContain(env.SECRET_USER1);
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('logs in with the refresh-token grant', async () => {
    const env: Record<string, string> = {};
    const oauth2 = app('user2', env);
    env.REFRESH_USER2 = idp.issueRefreshToken(oauth2.clientId, 'user2');
    const bot = await startBot({ deps: { env } });
    try {
      await addOAuth2Mailbox(bot, 'user2', { ...oauth2, refreshTokenEnv: 'REFRESH_USER2' });
      await inSync(bot, 'user2');
      await deliversOnce(bot, 'user2');
      expect(idp.requestsOf(oauth2.clientId).map((request) => request.grant)).toEqual(['refresh_token']);
      expect(bot.logs.text()).not.toContain(env.REFRESH_USER2);
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('reconnects with a fresh token after the token expired during IDLE and the server dropped the session', async () => {
    const env: Record<string, string> = {};
    const oauth2 = app('user3', env);
    idp.expiresInSeconds = 3;
    const bot = await startBot({ deps: { env } });
    try {
      await addOAuth2Mailbox(bot, 'user3', oauth2);
      await inSync(bot, 'user3');
      const firstToken = idp.requestsOf(oauth2.clientId).length;
      // idle past the token's lifetime, then the server ends the session (as Exchange does)
      await new Promise((resolve) => setTimeout(resolve, 3500));
      await dovecot.kick('user3');
      await eventually(() => idp.requestsOf(oauth2.clientId).length > firstToken, 15_000, 'a fresh token');
      await inSync(bot, 'user3');
      await deliversOnce(bot, 'user3');
      // the expired token was not presented: no refused login on the way
      expect(bot.logs.matching('refused the access token')).toHaveLength(0);
    } finally {
      idp.expiresInSeconds = 3599;
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('asks for a fresh token once when the server refuses the cached one', async () => {
    const env: Record<string, string> = {};
    const oauth2 = app('user4', env);
    const bot = await startBot({ deps: { env } });
    try {
      await addOAuth2Mailbox(bot, 'user4', oauth2);
      await inSync(bot, 'user4');
      expect(idp.requestsOf(oauth2.clientId)).toHaveLength(1);
      // the cached token is still within its lifetime but no longer valid on the server
      idp.revokeAccessTokens();
      await dovecot.kick('user4');
      await eventually(() => idp.requestsOf(oauth2.clientId).length === 2, 20_000, 'a second token');
      await eventually(() => bot.logs.matching('refused the access token: trying once more').length, 10_000);
      await inSync(bot, 'user4');
      await deliversOnce(bot, 'user4');
      expect(idp.requestsOf(oauth2.clientId)).toHaveLength(2);
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('a refused grant raises an alert naming the mailbox; the other mailboxes keep working', async () => {
    const env: Record<string, string> = {};
    const good = app('user5', env);
    const bad = app('user6', env);
    env.SECRET_USER6 = 'not-the-secret-value-123';
    const bot = await startBot({ deps: { env } });
    try {
      await addOAuth2Mailbox(bot, 'user5', good);
      const addedAt = Date.now();
      await addOAuth2Mailbox(bot, 'user6', bad);
      await inSync(bot, 'user5');
      const status = await eventually(() => statusOf(bot, 'user6')?.tokenRefused && statusOf(bot, 'user6'));
      expect(status.lastError).toMatch(/^token endpoint said HTTP 401 \(invalid_client, AADSTS7000215: /);
      expect(status.state).not.toBe('connected');
      const alert = await eventually(
        () => bot.logs.lines.find((line) => line.alert === `mailbox-token:${dovecot.address('user6')}`),
        20_000,
        'the admin alert',
      );
      expect(String(alert.msg)).toContain(dovecot.address('user6'));
      expect(String(alert.msg)).toContain('invalid_client');
      await deliversOnce(bot, 'user5');
      // backs off like a refused login (the harness caps the pause at 1 s, so at least 0.5 s each)
      const attempts = idp.requestsOf(bad.clientId).length;
      expect(attempts).toBeGreaterThanOrEqual(2);
      expect(attempts).toBeLessThanOrEqual(Math.ceil((Date.now() - addedAt) / 500) + 3);
      expect(bot.logs.text()).not.toContain('not-the-secret-value-123');
    } finally {
      await bot.stop();
      removeDir(bot.dataDir);
    }
  });

  it('stores a rotated refresh token and uses it after a restart; a new configured token replaces it', async () => {
    const env: Record<string, string> = {};
    const oauth2 = app('user7', env);
    const configured = idp.issueRefreshToken(oauth2.clientId, 'user7');
    env.REFRESH_USER7 = configured;
    idp.rotateRefreshTokens = true;
    const dataDir = tempDataDir();
    try {
      let bot = await startBot({ dataDir, deps: { env } });
      try {
        await addOAuth2Mailbox(bot, 'user7', { ...oauth2, refreshTokenEnv: 'REFRESH_USER7' });
        await inSync(bot, 'user7');
      } finally {
        await bot.stop();
      }
      // the configured token was rotated away: only the stored one works now
      expect(idp.refreshTokenValid(configured)).toBe(false);
      bot = await startBot({ dataDir, deps: { env } });
      try {
        await inSync(bot, 'user7');
        await deliversOnce(bot, 'user7');
        expect(idp.requestsOf(oauth2.clientId).map((request) => request.outcome)).toEqual(['ok', 'ok']);
        expect(bot.logs.text()).not.toContain(configured);
      } finally {
        await bot.stop();
      }
      // the admin consents again and configures the new refresh token: it wins over the stored one
      const reconsented = idp.issueRefreshToken(oauth2.clientId, 'user7');
      env.REFRESH_USER7 = reconsented;
      bot = await startBot({ dataDir, deps: { env } });
      try {
        await inSync(bot, 'user7');
        expect(idp.refreshTokenValid(reconsented)).toBe(false); // it was used (and rotated)
        expect(idp.requestsOf(oauth2.clientId).map((request) => request.outcome)).toEqual(['ok', 'ok', 'ok']);
      } finally {
        await bot.stop();
      }
    } finally {
      idp.rotateRefreshTokens = false;
      removeDir(dataDir);
    }
  });
});
