/**
 * An OAuth2 mailbox whose token endpoint is down for minutes (issue 12 part 2): its access token
 * expires meanwhile and the server ends the session, so the bot cannot log in until the endpoint is
 * back. Mail that arrives meanwhile is delivered afterwards, once; a password mailbox of the same
 * bot is unaffected throughout. One real bot process per variant (client credentials; refresh token
 * with an endpoint that rotates it), run concurrently.
 *
 * Length: FAULT_TOKEN_ENDPOINT_OUTAGE_MINUTES (default 3).
 */
import { afterAll, describe, expect, it } from 'vitest';
import { LocalDirectory } from '../../../src/directory/local/local-directory.js';
import { openDatabase } from '../../../src/store/database.js';
import { SqliteDatabase } from '../../../src/store/sqlite-database.js';
import { DovecotServer } from '../../dovecot/dovecot.js';
import { FakeIdentityPlatform } from '../../fakes/oauth2/fake-identity-platform.js';
import { FakeTelegram } from '../../fakes/telegram/fake-telegram.js';
import { eventually, removeDir, tempDataDir } from '../../support/bot-harness.js';
import { BotProcess } from '../../support/bot-process.js';
import { reportMail } from '../../support/simple-mail.js';

const OUTAGE_MS = Number(process.env.FAULT_TOKEN_ENDPOINT_OUTAGE_MINUTES ?? 3) * 60_000;
const RECONNECT_MAX_SECONDS = 30;
/** Access token lifetime in these runs: it runs out early in the outage. */
const TOKEN_LIFETIME_SECONDS = 20;
const RECOVERY_MS = (RECONNECT_MAX_SECONDS + 30) * 1000;
const SLACK_MS = 90_000;
const START_MS = 60_000;
const ADMIN_CHAT = 94_000_001;
const READER = 94_100_001;

const cleanups: Array<() => Promise<void> | void> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function world(grant: 'client_credentials' | 'refresh_token') {
  const idp = await FakeIdentityPlatform.start();
  cleanups.push(() => idp.stop());
  idp.expiresInSeconds = TOKEN_LIFETIME_SECONDS;
  idp.rotateRefreshTokens = grant === 'refresh_token';
  const dovecot = await DovecotServer.start({ users: 2, oauth2: { introspectionUrl: idp.introspectionUrl } });
  cleanups.push(() => dovecot.stop());
  const telegram = await FakeTelegram.start({ rateLimits: false });
  cleanups.push(() => telegram.stop());
  telegram.addPrivateChat({ id: ADMIN_CHAT, first_name: 'Admins' });
  telegram.addPrivateChat({ id: READER, first_name: 'Reader' });
  const secret = `app-secret-${grant}-${Math.random().toString(36).slice(2)}`;
  idp.addClient({ clientId: `app-${grant}`, secret, user: 'user1' });
  const refreshToken = grant === 'refresh_token' ? idp.issueRefreshToken(`app-${grant}`, 'user1') : '';
  const dataDir = tempDataDir();
  cleanups.push(() => removeDir(dataDir));
  const db = openDatabase(dataDir);
  const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
  await directory.addMailbox({
    email: dovecot.address('user1'),
    host: dovecot.host,
    port: dovecot.port,
    tls: 'none',
    login: 'user1',
    oauth2: {
      tokenUrl: idp.tokenUrl,
      clientId: `app-${grant}`,
      clientSecretEnv: 'MAILBOX_APP_SECRET',
      ...(refreshToken ? { refreshTokenEnv: 'MAILBOX_REFRESH_TOKEN' } : {}),
    },
  });
  await directory.addMailbox(dovecot.mailbox('user2'));
  await directory.addUser({
    name: 'Reader',
    phone: '+79994000001',
    mailboxes: [dovecot.address('user1'), dovecot.address('user2')],
    telegramId: READER,
  });
  db.close();
  const env = {
    DATA_DIR: dataDir,
    TELEGRAM_BOT_TOKEN: telegram.token,
    TELEGRAM_API_ROOT: telegram.apiRoot,
    ADMIN_CHAT_ID: String(ADMIN_CHAT),
    MAILBOX_DOWN_ALERT_MINUTES: '1',
    IMAP_RECONNECT_MAX_SECONDS: String(RECONNECT_MAX_SECONDS),
    TELEGRAM_CHAT_INTERVAL_MS: '0',
    MAILBOX_APP_SECRET: secret,
    ...(refreshToken ? { MAILBOX_REFRESH_TOKEN: refreshToken } : {}),
  };
  const bot = await BotProcess.start(env, START_MS);
  cleanups.push(async () => {
    if (bot.child.exitCode === null) await bot.crash();
  });
  const received = (subject: string) =>
    telegram.messagesIn(READER).filter((message) => message.caption?.startsWith(subject)).length;
  const adminTexts = () => telegram.messagesIn(ADMIN_CHAT).map((message) => message.text ?? '');
  return {
    idp,
    dovecot,
    telegram,
    bot,
    received,
    adminTexts,
    secrets: [secret, refreshToken].filter(Boolean),
  };
}

describe.concurrent('the token endpoint down for minutes', () => {
  for (const grant of ['client_credentials', 'refresh_token'] as const) {
    it(
      `${grant}: mail arriving during a ${OUTAGE_MS / 60_000} min token endpoint outage is delivered after, once`,
      async () => {
        const w = await world(grant);
        const inSync = () =>
          w.bot.lines.filter((line) => line.includes('caught up: the mailbox is in sync')).length;
        await eventually(() => inSync() >= 2, START_MS, 'both mailboxes in sync');
        const before = reportMail();
        await w.dovecot.append('user1', before.raw);
        await eventually(() => w.received(before.subject) === 1, 30_000, 'the mail before');

        await w.idp.down();
        const outageStarted = Date.now();
        // the token runs out, and the server ends the session (as Exchange does at expiry)
        await sleep((TOKEN_LIFETIME_SECONDS + 2) * 1000);
        await w.dovecot.kick('user1');
        const during = reportMail();
        await w.dovecot.append('user1', during.raw);
        // the password mailbox of the same bot keeps working meanwhile
        const other = reportMail();
        await w.dovecot.append('user2', other.raw);
        await eventually(() => w.received(other.subject) === 1, 60_000, 'the other mailbox');
        await sleep(Math.max(0, OUTAGE_MS - (Date.now() - outageStarted)));
        expect(w.received(during.subject)).toBe(0);
        expect(w.bot.lines.some((line) => line.includes('token endpoint not reachable'))).toBe(true);
        if (OUTAGE_MS - (TOKEN_LIFETIME_SECONDS + 2) * 1000 >= 90_000) {
          // down for more than MAILBOX_DOWN_ALERT_MINUTES (and a health check round): the admin is told why
          expect(w.adminTexts().some((text) => text.includes('token endpoint not reachable'))).toBe(true);
        }

        await w.idp.up();
        await eventually(() => w.received(during.subject) >= 1, RECOVERY_MS, 'the mail of the outage');
        const after = reportMail();
        await w.dovecot.append('user1', after.raw);
        await eventually(() => w.received(after.subject) >= 1, 30_000, 'the mail after');
        await sleep(2000);
        expect([before, during, after, other].map((mail) => w.received(mail.subject))).toEqual([1, 1, 1, 1]);
        const log = w.bot.lines.join('\n');
        for (const secret of w.secrets) expect(log).not.toContain(secret);
        for (const text of w.adminTexts()) for (const secret of w.secrets) expect(text).not.toContain(secret);
        expect(await w.bot.stop()).toBe(0);
      },
      OUTAGE_MS + RECOVERY_MS + SLACK_MS + START_MS,
    );
  }
});
