/**
 * `superset-telegram-bot check`: can the bot do its job with this configuration? Checks the directory,
 * every mailbox (login and folder, in parallel, each with a timeout) and the bot token, and says for
 * each what is wrong and what to do. Never prints a secret.
 */
import { Api, GrammyError } from 'grammy';
import { ImapFlow } from 'imapflow';
import { type Config, configWarnings, secretSettingValues } from './config.js';
import { parseSenderAuth } from './core/sender-auth.js';
import { type Directory, isWebhookOnly, type MailboxEntry } from './directory/directory.js';
import { imapConnectionOptions } from './imap/imap-connection.js';
import { describeImapError, isLoginRejected } from './imap/imap-errors.js';
import { OAuth2TokenSource } from './imap/oauth2-token-source.js';
import { type SecretScrubber, SHORT_SECRET_LENGTH } from './observability/secret-scrubber.js';
import { type RefreshTokenStore, refreshTokenSeedHash } from './store/oauth2-refresh-tokens.js';
import { classifySendError } from './telegram/send-failure.js';
import {
  createTelegramProxy,
  describeProxyError,
  proxyClientOptions,
  proxyFailureCode,
  type TelegramProxy,
} from './telegram/telegram-proxy.js';

export type CheckStatus = 'OK' | 'WARN' | 'FAIL';

export interface CheckResult {
  check: string;
  status: CheckStatus;
  detail: string;
  /** What to do about a WARN or FAIL. */
  hint?: string;
}

export interface HealthCheckOptions {
  config: Config;
  directory: Directory;
  scrubber: SecretScrubber;
  /** Extra checks of the directory's source (the SeaTable schema), run before reading it. */
  directoryChecks?: () => Promise<CheckResult[]>;
  /** Per-mailbox and per-call limit, ms (default 15 s). */
  timeoutMs?: number;
  /**
   * The bot's stored (rotated) OAuth2 refresh tokens. `check` stores a token the endpoint rotates at
   * its refresh, like the bot; once one is stored, `check` does not refresh that mailbox (WARN): the
   * bot may hold a newer one, which a refresh here with the stored one would void.
   */
  refreshTokens?: RefreshTokenStore;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${Math.round(ms / 1000)} s`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function checkMailbox(
  mailbox: MailboxEntry,
  scrubber: SecretScrubber,
  timeoutMs: number,
  refreshTokens?: RefreshTokenStore,
): Promise<CheckResult> {
  const name = `mailbox ${mailbox.email}`;
  let accessToken: string | undefined;
  if (mailbox.oauth2) {
    const { tokenUrl, clientId, refreshToken } = mailbox.oauth2;
    // A stored rotated token means the endpoint rotates and the bot holds the newest one (perhaps
    // only in memory: its save may have failed). Presenting a token the bot has since replaced makes an
    // endpoint with reuse detection void the bot's too: check does not refresh beside the bot.
    if (
      refreshToken &&
      (await refreshTokens?.current(mailbox.email, refreshTokenSeedHash(tokenUrl, clientId, refreshToken)))
    ) {
      return {
        check: name,
        status: 'WARN',
        detail:
          'OAuth2 (refresh_token grant): the token endpoint rotates refresh tokens and the bot holds the current one; not refreshed here, so the IMAP login was not tried',
        hint: `a refresh here could void the bot's token; the bot's log shows its logins to ${mailbox.email}, and a refused grant raises an alert in the admin chat (docs/mailboxes.md)`,
      };
    }
    const tokens = new OAuth2TokenSource({
      mailbox: mailbox.email,
      settings: mailbox.oauth2,
      scrubber,
      refreshTokens,
      timeoutMs,
    });
    try {
      accessToken = await tokens.accessToken();
    } catch (error) {
      const secretVariables = [mailbox.oauth2.clientSecretSource, mailbox.oauth2.refreshTokenSource]
        .filter(Boolean)
        .join(' and ');
      return {
        check: name,
        status: 'FAIL',
        detail: `OAuth2 (${tokens.grant} grant): ${scrubber.describe(error)}`,
        hint: `check the token URL, client id ${mailbox.oauth2.clientId}, ${secretVariables}, and the app's consent (docs/mailboxes.md)`,
      };
    }
  } else if (mailbox.password === null) {
    return {
      check: name,
      status: 'FAIL',
      detail: `no password: ${mailbox.passwordSource} is not set`,
      hint: `set ${mailbox.passwordSource.replace(/^env:/, '')} in the environment or .env`,
    };
  }
  const client = new ImapFlow({
    ...imapConnectionOptions(mailbox, undefined, accessToken),
    connectionTimeout: timeoutMs,
    greetingTimeout: timeoutMs,
    socketTimeout: timeoutMs,
  });
  client.on('error', () => undefined);
  try {
    await withTimeout(client.connect(), timeoutMs, 'connect');
    const status = await withTimeout(client.status(mailbox.folder, { messages: true }), timeoutMs, 'STATUS');
    if (!status) throw new Error(`folder ${mailbox.folder} does not exist`);
    const idle = client.capabilities.has('IDLE') ? 'IDLE' : 'no IDLE (the bot polls)';
    return {
      check: name,
      status: 'OK',
      detail: `${mailbox.host}:${mailbox.port} ${mailbox.tls}, folder ${mailbox.folder} (${status.messages ?? 0} messages), ${idle}${accessToken !== undefined ? ', OAuth2 token accepted' : ''}`,
    };
  } catch (error) {
    const fields = error as { authenticationFailed?: boolean; responseText?: string; code?: string };
    // the server's words, made safe like everywhere else (a terminal is as open to escapes as a log)
    const detail = describeImapError(error, scrubber);
    let hint = `check the host, port and TLS mode (--tls, --starttls or --no-tls) of ${mailbox.email}`;
    if (accessToken !== undefined && isLoginRejected(error)) {
      return {
        check: name,
        status: 'FAIL',
        detail: `the token endpoint gave a token, but IMAP refused the token: ${detail}`,
        hint: `check that the app may access ${mailbox.login} (Microsoft 365: IMAP.AccessAsApp with admin consent, the Exchange service principal and Add-MailboxPermission; see docs/mailboxes.md)`,
      };
    }
    if (fields.authenticationFailed)
      hint = `check the login (${mailbox.login}) and the password (${mailbox.passwordSource})`;
    else if (/nonexistent|doesn't exist|not found|NONEXISTENT/i.test(detail))
      hint = `the folder ${mailbox.folder} does not exist`;
    else if (fields.code === 'ECONNREFUSED') hint = `nothing listens on ${mailbox.host}:${mailbox.port}`;
    return { check: name, status: 'FAIL', detail, hint };
  } finally {
    if (client.usable) await client.logout().catch(() => client.close());
    else client.close();
  }
}

/** getMe failed through TELEGRAM_PROXY: the proxy refused our credentials, is down, or cannot reach Telegram. */
function proxyFailureResult(
  error: unknown,
  proxy: TelegramProxy,
  apiRoot: string,
  scrubber: SecretScrubber,
): CheckResult {
  const code = proxyFailureCode(error);
  if (code === 'EPROXYAUTH') {
    return {
      check: 'telegram bot',
      status: 'FAIL',
      detail: describeProxyError(error)!,
      hint: 'check the user and password in TELEGRAM_PROXY (percent-encode special characters)',
    };
  }
  if (code === 'EPROXYUNREACHABLE') {
    return {
      check: 'telegram bot',
      status: 'FAIL',
      detail: describeProxyError(error)!,
      hint: 'check the host and port in TELEGRAM_PROXY, and that the proxy runs',
    };
  }
  return {
    check: 'telegram bot',
    status: 'FAIL',
    detail:
      code === 'EPROXYREFUSED'
        ? (describeProxyError(error) ?? `Telegram not reachable through the proxy ${proxy.address}`)
        : `Telegram not reachable through the proxy ${proxy.address}: ${scrubber.scrub(classifySendError(error).message)}`,
    hint: `check that the proxy may connect to ${apiRoot}`,
  };
}

async function checkTelegram(
  config: Config,
  scrubber: SecretScrubber,
  timeoutMs: number,
): Promise<CheckResult[]> {
  if (!config.TELEGRAM_BOT_TOKEN) {
    return [
      {
        check: 'telegram bot',
        status: 'FAIL',
        detail: 'TELEGRAM_BOT_TOKEN is not set',
        hint: 'create a bot with @BotFather and put its token in .env',
      },
    ];
  }
  const proxy = config.TELEGRAM_PROXY ? createTelegramProxy(config.TELEGRAM_PROXY) : null;
  try {
    return await checkTelegramApi(config, config.TELEGRAM_BOT_TOKEN, proxy, scrubber, timeoutMs);
  } finally {
    proxy?.agent.destroy();
  }
}

async function checkTelegramApi(
  config: Config,
  token: string,
  proxy: TelegramProxy | null,
  scrubber: SecretScrubber,
  timeoutMs: number,
): Promise<CheckResult[]> {
  const api = new Api(token, {
    apiRoot: config.TELEGRAM_API_ROOT,
    timeoutSeconds: Math.ceil(timeoutMs / 1000),
    ...proxyClientOptions(proxy),
  });
  const via = proxy ? ` through the proxy ${proxy.address} (${proxy.protocol})` : '';
  const results: CheckResult[] = [];
  try {
    const me = await withTimeout(api.getMe(), timeoutMs, 'getMe');
    results.push({
      check: 'telegram bot',
      status: 'OK',
      detail: `@${me.username} (id ${me.id})${via}${me.can_join_groups ? '' : ', cannot join groups'}`,
      ...(me.can_join_groups
        ? {}
        : { hint: 'allow groups in @BotFather (/setjoingroups) so groups can register' }),
    });
  } catch (error) {
    const refused = error instanceof GrammyError && (error.error_code === 401 || error.error_code === 404);
    if (proxy && !refused) {
      results.push(proxyFailureResult(error, proxy, config.TELEGRAM_API_ROOT, scrubber));
      return results;
    }
    results.push({
      check: 'telegram bot',
      status: 'FAIL',
      detail: refused ? 'Telegram refused the token (401 Unauthorized)' : scrubber.describe(error),
      hint: refused
        ? 'copy the token again from @BotFather'
        : `check the network path to ${config.TELEGRAM_API_ROOT}`,
    });
    return results;
  }
  if (config.ADMIN_CHAT_ID) {
    try {
      const chat = await withTimeout(api.getChat(Number(config.ADMIN_CHAT_ID)), timeoutMs, 'getChat');
      results.push({
        check: 'admin chat',
        status: 'OK',
        detail: `${chat.type} ${'title' in chat && chat.title ? chat.title : chat.id}`,
      });
    } catch (error) {
      results.push({
        check: 'admin chat',
        status: 'FAIL',
        detail: scrubber.describe(error),
        hint: 'ADMIN_CHAT_ID must be a chat the bot is in (send the bot a message, or add it to the admin group)',
      });
    }
  } else {
    results.push({
      check: 'admin chat',
      status: 'WARN',
      detail: 'ADMIN_CHAT_ID is not set: problems only go to the log',
      hint: 'set ADMIN_CHAT_ID to be told about problems',
    });
  }
  return results;
}

/**
 * A webhook-only mailbox has no IMAP server to log in to: what matters is that the webhook receiver
 * is on. Its URL is not printed here (it is a credential): `webhook url <mailbox>` prints it.
 */
function webhookOnlyCheck(mailbox: MailboxEntry, config: Config): CheckResult {
  const name = `mailbox ${mailbox.email}`;
  if (config.WEBHOOK_PORT === 0) {
    return {
      check: name,
      status: 'FAIL',
      detail: 'webhook-only (no IMAP server), but the webhook receiver is off: its reports cannot arrive',
      hint: 'set WEBHOOK_PORT and WEBHOOK_SECRET, then give Superset the URL from `webhook url <mailbox>`',
    };
  }
  const scheme = config.WEBHOOK_TLS_CERT ? 'https' : 'http';
  return {
    check: name,
    status: 'OK',
    detail: `webhook-only (no IMAP): reports arrive at ${scheme}://${config.WEBHOOK_HOST}:${config.WEBHOOK_PORT}${config.WEBHOOK_PUBLIC_URL ? `, published as ${config.WEBHOOK_PUBLIC_URL}` : ''} (URL: \`webhook url ${mailbox.email}\`)`,
  };
}

/** What the sender-authentication setting of a mailbox means for forged mail. */
function senderChecks(mailbox: MailboxEntry, config: Config): CheckResult[] {
  const name = `mailbox ${mailbox.email}`;
  const policy = mailbox.senderAuth ?? parseSenderAuth(config.SENDER_AUTH)!;
  if (policy.mode === 'authentication-results' && !(policy.authservId ?? config.SENDER_AUTHSERV_ID)) {
    return [
      {
        check: name,
        status: 'FAIL',
        detail:
          'sender authentication by Authentication-Results, but no authserv-id: every mail will be rejected',
        hint: 'set SENDER_AUTHSERV_ID to the host name your mail server writes in Authentication-Results (or authentication-results:<id> on the mailbox)',
      },
    ];
  }
  if (policy.mode === 'off' && mailbox.allowFrom.length > 0) {
    return [
      {
        check: name,
        status: 'WARN',
        detail: 'the allowed senders are checked against the From header alone, which anyone can forge',
        hint: 'set SENDER_AUTH=dkim or authentication-results (or --sender-auth on the mailbox)',
      },
    ];
  }
  return [];
}

/** Settings whose absence or weakness `check` points out. */
function settingChecks(config: Config): CheckResult[] {
  const results: CheckResult[] = [];
  if (!config.SUPERSET_URL) {
    results.push({
      check: 'SUPERSET_URL',
      status: 'WARN',
      detail: 'not set: the first link of any mail becomes the "Open in Superset" button',
      hint: 'set SUPERSET_URL to the public address of Superset; links elsewhere are then dropped',
    });
  }
  // the proxy URL is long whatever its password: the password is what must not be short
  const proxyPassword = config.TELEGRAM_PROXY
    ? decodeURIComponent(new URL(config.TELEGRAM_PROXY).password)
    : '';
  const short =
    secretSettingValues(config).filter((value) => value.length < SHORT_SECRET_LENGTH).length +
    (proxyPassword && proxyPassword.length < SHORT_SECRET_LENGTH ? 1 : 0);
  if (short > 0) {
    results.push({
      check: 'secrets',
      status: 'WARN',
      detail: `${short} secret setting(s) shorter than ${SHORT_SECRET_LENGTH} characters`,
      hint: 'use longer secrets: short ones are easy to guess and too short to be masked reliably',
    });
  }
  return results;
}

/** Runs every check. */
export async function runHealthCheck(options: HealthCheckOptions): Promise<CheckResult[]> {
  const timeoutMs = options.timeoutMs ?? 15_000;
  const results: CheckResult[] = [
    {
      check: 'configuration',
      status: 'OK',
      detail: `directory ${options.config.DIRECTORY}, data in ${options.config.DATA_DIR}`,
    },
    ...settingChecks(options.config),
    ...configWarnings(options.config).map(
      (warning): CheckResult => ({ check: 'configuration', status: 'WARN', detail: warning }),
    ),
  ];
  if (options.directoryChecks) {
    const directoryResults = await options.directoryChecks();
    results.push(...directoryResults);
    if (directoryResults.some((result) => result.status === 'FAIL')) {
      results.push(...(await checkTelegram(options.config, options.scrubber, timeoutMs)));
      return results;
    }
  }
  let mailboxes: MailboxEntry[] = [];
  try {
    await options.directory.start();
    const snapshot = options.directory.snapshot();
    mailboxes = snapshot.mailboxes.filter((mailbox) => mailbox.active);
    for (const mailbox of mailboxes) {
      options.scrubber.add(mailbox.password, mailbox.oauth2?.clientSecret, mailbox.oauth2?.refreshToken);
    }
    options.scrubber.add(...((await options.refreshTokens?.all()) ?? []));
    const registeredUsers = snapshot.users.filter((user) => user.active && user.telegramId !== null).length;
    const registeredGroups = snapshot.groups.filter(
      (group) => group.active && group.telegramId !== null,
    ).length;
    results.push({
      check: 'directory',
      status: mailboxes.length > 0 ? 'OK' : 'WARN',
      detail: `${mailboxes.length} active mailboxes, ${snapshot.users.length} users (${registeredUsers} registered), ${snapshot.groups.length} groups (${registeredGroups} registered)`,
      ...(mailboxes.length > 0
        ? {}
        : {
            hint:
              options.directory.kind === 'seatable'
                ? 'add a row to the Mailboxes table and tick Active'
                : 'add a mailbox (superset-telegram-bot mailbox add ...)',
          }),
    });
    // a title is not a password: say which rows anyone could take today
    const claimable = snapshot.groups.filter((group) => !group.locked || group.telegramId === null);
    if (options.config.GROUP_REGISTRATION === 'title' && claimable.length > 0) {
      const titles = claimable.map((group) => `"${group.title}"`).join(', ');
      results.push({
        check: 'group registration',
        status: 'WARN',
        detail: `GROUP_REGISTRATION=title and ${claimable.length} group(s) not registered yet (${titles}): whoever creates a Telegram group with such a title and makes the bot its administrator receives its reports`,
        hint: 'set GROUP_REGISTRATION=approval (with ADMIN_CHAT_ID), or register these groups now',
      });
    }
    for (const mailbox of mailboxes) {
      if (isWebhookOnly(mailbox)) continue;
      results.push(...senderChecks(mailbox, options.config));
      if (mailbox.password !== null && mailbox.password.length < SHORT_SECRET_LENGTH) {
        results.push({
          check: `mailbox ${mailbox.email}`,
          status: 'WARN',
          detail: `the IMAP password is shorter than ${SHORT_SECRET_LENGTH} characters`,
          hint: 'use a longer password: a short one is easy to guess, and too short to be masked reliably if another program logs it',
        });
      }
      if (mailbox.allowFrom.length === 0) {
        results.push({
          check: `mailbox ${mailbox.email}`,
          status: 'WARN',
          detail: 'no allowed senders: mail from anyone is forwarded',
          hint: 'restrict it to Superset\u2019s sender (--allow-from superset@your.domain or @your.domain)',
        });
      }
    }
  } catch (error) {
    results.push({ check: 'directory', status: 'FAIL', detail: options.scrubber.describe(error) });
  } finally {
    await options.directory.stop().catch(() => undefined);
  }
  const [mailboxResults, telegramResults] = await Promise.all([
    Promise.all(
      mailboxes.map((mailbox) =>
        isWebhookOnly(mailbox)
          ? webhookOnlyCheck(mailbox, options.config)
          : checkMailbox(mailbox, options.scrubber, timeoutMs, options.refreshTokens),
      ),
    ),
    checkTelegram(options.config, options.scrubber, timeoutMs),
  ]);
  results.push(...mailboxResults, ...telegramResults);
  return results;
}
