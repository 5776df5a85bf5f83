/**
 * Every setting of the bot, in one zod schema that is also its documentation. Values come from
 * environment variables (and `.env`, loaded by the CLI). Nothing else in the code reads `process.env`
 * except where a mailbox password is explicitly taken from a named variable.
 */
import { z } from 'zod';
import { isPhoneRegion } from './core/phone.js';
import { isKnownTimeZone, parseQuietHours } from './core/quiet-hours.js';
import { FORWARD_FILE_TYPES, type ForwardFileType } from './core/report.js';

const booleanFromEnv = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', 'on', 'off'], { error: 'expected true or false' })
  .transform((value) => ['true', '1', 'yes', 'on'].includes(value));

const positiveInteger = (min = 1) => z.coerce.number({ error: 'expected a number' }).int().min(min);

const telegramChatId = z.string().regex(/^-?\d{1,16}$/, { error: 'expected a numeric Telegram chat id' });

/** The settings, with their schema and documentation. Order here is the order in the docs. */
export const settings = {
  DATA_DIR: {
    schema: z.string().min(1).default('./data'),
    description:
      'Directory for the SQLite state (reports, outbox, watermarks, local directory) and the file spool.',
  },
  DATABASE_URL: {
    schema: z
      .string()
      .refine(
        (value) => {
          try {
            const url = new URL(value);
            return ['postgres:', 'postgresql:'].includes(url.protocol);
          } catch {
            return false;
          }
        },
        { error: 'expected a PostgreSQL URL: postgres://user:password@host:5432/database' },
      )
      .optional(),
    description:
      'Keep the state in PostgreSQL instead of SQLite in DATA_DIR: `postgres://user:password@host:5432/database` (or `postgresql://`; percent-encode special characters; libpq query parameters such as `sslmode=require` apply). Unset: SQLite in DATA_DIR. A secret: logs and errors show only host:port/database.',
    secret: true,
  },
  DATABASE_SCHEMA: {
    schema: z.string().min(1).max(63).default('superset_telegram_bot'),
    description:
      'With DATABASE_URL: the PostgreSQL schema the bot keeps its tables in (created when missing), so it can share a database such as Superset\u2019s own.',
  },
  INSTANCE_LOCK_CHECK_SECONDS: {
    schema: positiveInteger(1).default(30),
    description:
      'How often the running bot checks that its lock file in DATA_DIR (bot.lock) is still its own. Removed, it is taken again; taken by another bot meanwhile, this bot stops sending at once and exits with an error.',
  },
  LEASE_SECONDS: {
    schema: positiveInteger(5).default(15),
    description:
      'With several instances sharing one PostgreSQL (DATABASE_URL): how long the leader\u2019s lease lasts after each renewal, in seconds (at least 5). The leader renews every third of it; a standby tries as often, so it takes over within this time of the leader\u2019s death. A leader that could not renew (database unreachable, process frozen) stops sending a fifth of it (at least 1 s) before the lease runs out. Shorter: faster failover, more database traffic and more failovers on short database hiccups.',
  },
  LOG_LEVEL: {
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    description:
      'Log level: fatal, error, warn, info, debug, trace or silent. Logs are JSON lines on stdout.',
  },
  DIRECTORY: {
    schema: z.enum(['local', 'seatable']).default('local'),
    description:
      'Where mailboxes, users and groups are kept: `local` (embedded SQLite, managed with the CLI) or `seatable`.',
  },
  SEATABLE_SERVER_URL: {
    schema: z
      .url({ error: 'expected the SeaTable server URL, e.g. https://cloud.seatable.io' })
      .regex(/^https?:\/\//, { error: 'expected an http(s) URL' })
      .optional(),
    description: 'SeaTable server (with DIRECTORY=seatable), e.g. https://cloud.seatable.io.',
  },
  SEATABLE_API_TOKEN: {
    schema: z
      .string()
      .min(20, { error: 'expected the base API token (Base → Advanced → API Token)' })
      .optional(),
    description:
      'API token of the SeaTable base (with DIRECTORY=seatable); read-write, for registration write-back.',
    secret: true,
  },
  SEATABLE_REFRESH_SECONDS: {
    schema: positiveInteger(5).default(60),
    description: 'How often the SeaTable directory is re-read; changes apply without a restart.',
  },
  SEATABLE_TABLE_MAILBOXES: {
    schema: z.string().min(1).default('Mailboxes'),
    description: 'Name of the mailboxes table in the SeaTable base.',
  },
  SEATABLE_TABLE_USERS: {
    schema: z.string().min(1).default('Users'),
    description: 'Name of the users table in the SeaTable base.',
  },
  SEATABLE_TABLE_GROUPS: {
    schema: z.string().min(1).default('Groups'),
    description: 'Name of the groups table in the SeaTable base.',
  },
  SEATABLE_COLUMN_NAMES: {
    schema: z
      .string()
      .regex(/^\s*([^=,]+\.[^=,]+=[^=,]+)(\s*,\s*[^=,]+\.[^=,]+=[^=,]+)*\s*$/, {
        error: 'expected Table.Column=Name pairs separated by commas, e.g. Users.Phone=Телефон',
      })
      .optional(),
    description:
      'Column names that differ from the defaults (docs/seatable.md), as `Table.Column=Name` pairs separated by commas, e.g. `Users.Phone=Телефон,Groups.Name=Группа`.',
  },
  MAX_MAIL_MB: {
    schema: positiveInteger().default(70),
    description:
      'Largest mail (in MB) the bot downloads; a bigger mail is recorded as skipped with the reason. 70 lets through a mail carrying a 50 MB file (base64 makes it about 68 MB).',
  },
  MAX_FILE_MB: {
    schema: positiveInteger().default(50),
    description:
      'Largest single file (PDF, PNG, or a kind FORWARD_FILE_TYPES adds) in MB the bot keeps; a bigger part is skipped and recipients get a short notice instead. 50 MB is the Bot API upload limit.',
  },
  FORWARD_FILE_TYPES: {
    schema: z
      .string()
      .default('pdf,png')
      .transform((value) => [
        ...new Set(
          value
            .toLowerCase()
            .split(/[\s,]+/)
            .filter(Boolean),
        ),
      ])
      .refine((types) => types.length > 0, { error: 'name at least one of pdf, png, csv, xlsx, zip, text' })
      .refine((types) => types.every((type) => (FORWARD_FILE_TYPES as readonly string[]).includes(type)), {
        error: 'expected a comma-separated list of pdf, png, csv, xlsx, zip, text',
      })
      .transform((types) => types as ForwardFileType[]),
    description:
      'What the bot forwards, separated by commas: `pdf`, `png` (the default), and also `csv`, `xlsx`, `zip` (Superset\u2019s data reports and CSV bundles, sent as documents) and `text` (a TEXT report: the table in the mail body, sent as an aligned monospace table when it fits in one message, otherwise as a CSV file with a BOM and `;` separators for Excel). Files are recognised by their bytes, not by their names: a ZIP named `.csv` goes as a ZIP (when `zip` is listed), an HTML page named `.csv` is not sent. Data reports go to Telegram\u2019s servers as readable data, so each kind is the admin\u2019s explicit choice.',
  },
  MARK_SEEN: {
    schema: booleanFromEnv.default(false),
    description:
      'Mark processed mails \\Seen on the server (default false: mailboxes may be shared with people, and the bot never changes them).',
  },
  SENDER_AUTH: {
    schema: z
      .enum(['off', 'dkim', 'authentication-results'], {
        error: 'expected off, dkim or authentication-results',
      })
      .default('off'),
    description:
      'How a mail proves that its From is true, for mailboxes without their own setting: `off` (the From header is believed, as anyone can forge it), `dkim` (the bot verifies a DKIM signature of the From domain itself; needs DNS) or `authentication-results` (the receiving mail server named by SENDER_AUTHSERV_ID checked DKIM/SPF; the bot reads its Authentication-Results header). A mail that fails is recorded as rejected and never forwarded; the admin chat hears of each such sender at most once an hour.',
  },
  SENDER_AUTHSERV_ID: {
    schema: z
      .string()
      .regex(/^[A-Za-z0-9.-]+$/, { error: 'expected a host name such as mx.example.com' })
      .optional(),
    description:
      'With SENDER_AUTH=authentication-results: the authserv-id (first word) of the Authentication-Results headers the receiving server adds, usually its host name. Headers with any other id are ignored. A mailbox may name its own.',
  },
  DNS_SERVERS: {
    schema: z
      .string()
      .regex(/^\s*[^\s,]+(\s*,\s*[^\s,]+)*\s*$/, {
        error: 'expected addresses separated by commas, e.g. 10.0.0.53,10.0.0.54:5353',
      })
      .optional(),
    description:
      'DNS servers for the DKIM key lookups of SENDER_AUTH=dkim, separated by commas (`host` or `host:port`); default: the system resolver.',
  },
  SUPERSET_URL: {
    schema: z
      .url({ error: 'expected the public address of Superset, e.g. https://bi.example.com' })
      .regex(/^https?:\/\//, { error: 'expected an http(s) URL' })
      .optional(),
    description:
      'Public address of Superset. When set, only links under it become the "Open in Superset" button of a report; other links are dropped. Unset, the first link of the mail is trusted (`check` warns).',
  },
  SUPERSET_NOTICES: {
    schema: z.enum(['admin', 'subscribers', 'off']).default('admin'),
    description:
      'Superset\u2019s own notices (mail or webhook without files: "…unable to be generated", "Report Retry [n of m]: …", "Report Failed - All Retries Exhausted: …", EN and RU): `admin` tells the admin chat in one line (report name and mailbox); `subscribers` also tells the mailbox\u2019s current recipients once that the report was not produced today (retry notices only ever go to the admin chat); `off` records them silently. A report delivered after retry notices is mentioned in the admin chat. The allowed senders and SENDER_AUTH apply to notices as to reports.',
  },
  IMAP_IDLE_RESTART_SECONDS: {
    schema: positiveInteger(2).default(240),
    description: 'Re-issue IDLE this often, and poll with NOOP this often on servers without IDLE.',
  },
  IMAP_SOCKET_TIMEOUT_SECONDS: {
    schema: positiveInteger(2).default(60),
    description:
      'A connection silent this long is probed with NOOP; a dead one is dropped after about twice this.',
  },
  IMAP_CATCHUP_SECONDS: {
    schema: positiveInteger(1).default(300),
    description: 'Safety net: look for missed mail this often even when the server pushed nothing.',
  },
  IMAP_RECONNECT_MAX_SECONDS: {
    schema: positiveInteger(1).default(300),
    description: 'Longest wait between reconnect attempts (exponential backoff with jitter, from 1 s).',
  },
  IMAP_FIRST_SYNC_LOOKBACK_HOURS: {
    schema: positiveInteger(0).default(24),
    description:
      'A mailbox without a watermark (new, or DATA_DIR lost) starts at the time its directory row was created only when that was at most this many hours ago; otherwise it starts from now, so old mail is never sent again. 0: always from now.',
  },
  IMAP_CONNECT_CONCURRENCY: {
    schema: positiveInteger(1).max(500).default(10),
    description:
      'Mailboxes that may be connecting and logging in at the same moment; the rest wait their turn (hundreds starting together would otherwise run into login timeouts).',
  },
  PHONE_REGION: {
    schema: z
      .string()
      .regex(/^[A-Z]{2}$/, { error: 'expected a two-letter country code such as RU' })
      .refine(isPhoneRegion, { error: 'unknown country code' })
      .default('RU'),
    description: 'Country for phone numbers written without a country code (users table, shared contacts).',
  },
  GROUP_REGISTRATION: {
    schema: z.enum(['title', 'title+user', 'approval']).default('title'),
    description:
      'How a group registers when someone makes the bot its administrator. `title`: its title matches a groups-table row not yet registered (anyone who learns such a title can create a group with it and take that row\u2019s reports). `title+user`: also, the person who promoted the bot is an active registered user subscribed to one of that row\u2019s mailboxes. `approval` (recommended): the admin chat gets the group\u2019s title, id, member count and who promoted the bot, with Approve / Reject buttons; needs ADMIN_CHAT_ID.',
  },
  GROUP_REGISTRATION_REQUIRES_USER: {
    schema: booleanFromEnv.default(false),
    description: 'Deprecated: use GROUP_REGISTRATION=title+user, which `true` here still turns on.',
  },
  TELEGRAM_BOT_TOKEN: {
    schema: z
      .string()
      .regex(/^\d+:[A-Za-z0-9_-]{20,}$/, { error: 'expected a bot token from @BotFather (123456:ABC...)' })
      .optional(),
    description: 'The bot token from @BotFather. Required by `start`.',
    secret: true,
  },
  TELEGRAM_API_ROOT: {
    schema: z
      .url({ error: 'expected an http(s) URL' })
      .regex(/^https?:\/\/.*[^/]$/, { error: 'expected an http(s) URL without a trailing slash' })
      .default('https://api.telegram.org'),
    description: 'Bot API root, without a trailing slash (a local Bot API server, or a test double).',
  },
  TELEGRAM_PROXY: {
    schema: z
      .string()
      .refine(
        (value) => {
          try {
            const url = new URL(value);
            // the agents decode the user and password: a broken %-escape must stop here
            decodeURIComponent(url.username);
            decodeURIComponent(url.password);
            return ['http:', 'https:', 'socks5:', 'socks5h:'].includes(url.protocol) && url.hostname !== '';
          } catch {
            return false;
          }
        },
        {
          error:
            'expected a proxy URL: http://, https://, socks5:// or socks5h://[user:password@]host:port (special characters percent-encoded)',
        },
      )
      .optional(),
    description:
      'Proxy for every Bot API call (polling, sends, uploads, the admin chat, `check`): `http://` or `https://` (HTTP CONNECT), `socks5://` (names resolved by the bot) or `socks5h://` (names resolved by the proxy), with an optional `user:password@` (percent-encode special characters), e.g. `socks5h://bot:secret@proxy.example.com:1080`. A secret: logs and `check` show only host:port.',
    secret: true,
  },
  ADMIN_CHAT_ID: {
    schema: telegramChatId.optional(),
    description:
      'Telegram chat that receives problem reports (mailbox down, failed deliveries, refused registrations).',
  },
  LAST_COMMAND_INTERVAL_SECONDS: {
    schema: positiveInteger(0).default(60),
    description:
      'Least time between two `/last` commands of one chat (a user or a group) that are carried out; another one sooner is answered once with "wait", then ignored until the time is up. 0: no limit.',
  },
  TELEGRAM_MESSAGES_PER_SECOND: {
    schema: positiveInteger().default(30),
    description: 'Overall sending rate (messages per second; an album counts as its number of items).',
  },
  TELEGRAM_CHAT_INTERVAL_MS: {
    schema: positiveInteger(0).default(1000),
    description: 'Least time between two sends to the same chat.',
  },
  TELEGRAM_GROUP_MESSAGES_PER_MINUTE: {
    schema: positiveInteger().default(20),
    description: 'Most messages per minute to one group (an album counts as its number of items).',
  },
  TELEGRAM_PARALLEL_SENDS: {
    schema: positiveInteger().max(16).default(1),
    description:
      'Bot API requests in flight at once. 1 (the default) means a crash can repeat at most one message; more is faster on slow links and needed for paid broadcasts: sent messages are then recorded in groups (one disk sync at most every 40 ms), and a crash may repeat at most one message per chat (those answered in the last moments).',
  },
  TELEGRAM_PAID_BROADCAST: {
    schema: booleanFromEnv.default(false),
    description:
      'Paid broadcasts: every message of a report\u2019s broadcast is sent with `allow_paid_broadcast` (not one asked for again by /last or `resend`: one chat\u2019s request needs no paid rate), and the overall rate rises to 1000 messages per second (the per-chat and per-group limits stay). Telegram charges 0.1 Star per message above the free 30 per second, from the bot\u2019s Stars balance; enable Paid Broadcasts in @BotFather and keep the balance funded (docs/operations.md). When the balance runs out, the bot falls back to TELEGRAM_MESSAGES_PER_SECOND without the flag until restarted, and tells the admin chat once.',
  },
  QUIET_HOURS: {
    schema: z
      .string()
      .superRefine((value, context) => {
        try {
          parseQuietHours(value);
        } catch (error) {
          context.addIssue({ code: 'custom', message: (error as Error).message });
        }
      })
      .optional(),
    description:
      'Reports recorded in this daily window, `HH:MM-HH:MM` in TZ (e.g. `22:00-08:00`, which crosses midnight), are sent without sound (`disable_notification`), every message of them; they are never held. A report asked for again (/last, `resend`) rings whenever it goes. Empty: off.',
  },
  TZ: {
    schema: z
      .string()
      .refine((value) => isKnownTimeZone(value), {
        error: 'expected a time zone name such as Europe/Moscow or UTC',
      })
      .optional(),
    description:
      'Time zone of QUIET_HOURS (an IANA name such as `Europe/Moscow`); unset: the system\u2019s. Node reads it for its own clock too.',
  },
  DELIVERY_MAX_ATTEMPTS: {
    schema: positiveInteger().default(8),
    description:
      'Attempts for one delivery after errors about that delivery that are neither rate limits nor permanent; then it is marked failed. Attempts while Telegram as a whole is unreachable do not count.',
  },
  DELIVERY_MAX_AGE_HOURS: {
    schema: positiveInteger().default(24),
    description:
      'A delivery not completed this many hours after it was queued (when the report was recorded, or when `resend` queued it) is stale: it is marked failed and the admin chat is told. Outages of Telegram shorter than this lose nothing.',
  },
  MEDIA_MODE: {
    schema: z.enum(['photo', 'document', 'both']).default('photo'),
    description:
      'Default for how PNGs are sent: `photo` (a preview; too large or too tall images go as documents), `document` (lossless) or `both`. Mailboxes and groups may override it.',
  },
  PHOTO_MAX_ASPECT_RATIO: {
    schema: z.coerce.number({ error: 'expected a number' }).min(1).max(20).default(3),
    description:
      'PNGs longer than this ratio (long side / short side) go as documents even in `photo` mode: Telegram shrinks photos to 2560 px on the long side, which makes a tall dashboard unreadable. Telegram itself refuses photos above 20.',
  },
  TALL_IMAGE_MODE: {
    schema: z.enum(['tiles+document', 'tiles', 'document']).default('tiles+document'),
    description:
      'Default for a PNG past PHOTO_MAX_ASPECT_RATIO (a tall dashboard): `tiles+document` (cut at intake into tiles within the ratio, cut in the gaps between dashboard rows where possible, sent as photo albums, then the original as a document), `tiles` (the tiles only) or `document` (the original only). Media mode `document` always sends the original only. Mailboxes and groups may override it.',
  },
  BLANK_SCREENSHOTS: {
    schema: z.enum(['deliver', 'hold']).default('deliver'),
    description:
      'What to do with a report whose PNG is blank or unfinished (taken before the charts rendered: its page and card backgrounds cover BLANK_SCREENSHOT_SHARE of its pixels). Either way the admin chat is told the report and mailbox. `deliver` sends it anyway; `hold` records it and sends nothing: release it with `superset-telegram-bot resend <id>` while its files are kept (SPOOL_RETENTION_HOURS).',
  },
  BLANK_SCREENSHOT_SHARE: {
    schema: z.coerce.number({ error: 'expected a number' }).gt(0.5).max(1).default(0.98),
    description:
      'Share of the pixels (0.5–1) in a PNG\u2019s two most common colours (page and card backgrounds) from which it counts as a blank screenshot; 1 leaves only images of one or two flat colours. Measured on generated Superset-like screenshots: rendered dashboards 71–78% (a row of big numbers 95%); a blank page 100%, a white page with a spinner 99.9%, empty cards with loading spinners 98.7%.',
  },
  HTTP_HOST: {
    schema: z.string().min(1).default('127.0.0.1'),
    description:
      'Address of the /healthz, /readyz and /metrics endpoints (0.0.0.0 to expose them, e.g. in a container).',
  },
  HTTP_PORT: {
    schema: positiveInteger(0).max(65535).default(8080),
    description: 'Port of the /healthz, /readyz and /metrics endpoints; 0 turns them off.',
  },
  WEBHOOK_PORT: {
    schema: positiveInteger(0).max(65535).default(0),
    description:
      "Port of the receiver of Superset's webhook (Superset 6.1+, feature flag `ALERT_REPORT_WEBHOOK`): a report POSTed to a mailbox's webhook URL (`webhook url <mailbox>`) goes to the mailbox's subscribers at once, as a mail would. 0 turns it off. See docs/superset.md.",
  },
  WEBHOOK_HOST: {
    schema: z.string().min(1).default('0.0.0.0'),
    description: 'Address the webhook receiver listens on.',
  },
  WEBHOOK_SECRET: {
    schema: z
      .string()
      .min(32, { error: 'expected at least 32 characters (e.g. `openssl rand -base64 32`)' })
      .optional(),
    description:
      'Required with WEBHOOK_PORT: the secret every webhook URL is derived from (at least 32 characters). Superset sends no signature, so the URL is the credential; changing this secret changes every URL.',
    secret: true,
  },
  WEBHOOK_PUBLIC_URL: {
    schema: z
      .url({ error: 'expected an http(s) URL' })
      .regex(/^https?:\/\//, { error: 'expected an http(s) URL' })
      .optional(),
    description:
      'How Superset reaches the webhook receiver (e.g. `https://bot.example.com`, a reverse proxy in front): `webhook url` prints full URLs starting with it; without it, only the path.',
  },
  WEBHOOK_TLS_CERT: {
    schema: z.string().min(1).optional(),
    description:
      'PEM certificate (chain) file: the webhook receiver speaks HTTPS itself (Superset requires HTTPS unless `ALERT_REPORTS_WEBHOOK_HTTPS_ONLY = False`). Set with WEBHOOK_TLS_KEY, or put a reverse proxy in front.',
  },
  WEBHOOK_TLS_KEY: {
    schema: z.string().min(1).optional(),
    description: 'PEM private key file for WEBHOOK_TLS_CERT.',
  },
  MAILBOX_DOWN_ALERT_MINUTES: {
    schema: positiveInteger(1).default(10),
    description:
      'Tell the admin chat when a mailbox has not been connected and caught up for this many minutes (a login alone is not enough: a missing folder, a refused FETCH or a full disk keep it down).',
  },
  SPOOL_RETENTION_HOURS: {
    schema: positiveInteger(0).default(72),
    description:
      'Keep a report\u2019s spooled files this long after all its deliveries are final (for `resend`).',
  },
  REPORT_RETENTION_DAYS: {
    schema: positiveInteger(3).default(90),
    description:
      'Forget a report (its record, its deliveries and any spooled files) this many days after it was received and its last delivery ended; a report with a delivery still pending is kept. At least 3: a report is recognised as already recorded only while it is kept, and after a UIDVALIDITY change the mailbox is rescanned from a day before the newest report, at most back to a day inside this time; a shorter retention would leave that rescan too short a window, or replay forgotten reports.',
  },
} satisfies Record<string, { schema: z.ZodType; description: string; secret?: boolean }>;

export type SettingName = keyof typeof settings;

const schema = z.object(
  Object.fromEntries(Object.entries(settings).map(([name, setting]) => [name, setting.schema])) as {
    [K in SettingName]: (typeof settings)[K]['schema'];
  },
);

/** The validated settings. */
export type Config = z.output<typeof schema>;

/** A setting that is missing or invalid; the message names the key and never echoes a secret. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates the settings in `env`. Empty strings count as unset, so a `.env` line `KEY=` takes the
 * default.
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const input: Record<string, string> = {};
  for (const name of Object.keys(settings)) {
    const value = env[name]?.trim();
    if (value) input[name] = value;
  }
  const result = schema
    .superRefine((config, context) => {
      if (config.GROUP_REGISTRATION === 'approval' && config.ADMIN_CHAT_ID === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['ADMIN_CHAT_ID'],
          message: 'required with GROUP_REGISTRATION=approval (the chat that approves groups)',
        });
      }
      if (config.WEBHOOK_PORT > 0 && !config.WEBHOOK_SECRET) {
        context.addIssue({
          code: 'custom',
          path: ['WEBHOOK_SECRET'],
          message: 'required with WEBHOOK_PORT (at least 32 characters)',
        });
      }
      if (Boolean(config.WEBHOOK_TLS_CERT) !== Boolean(config.WEBHOOK_TLS_KEY)) {
        context.addIssue({
          code: 'custom',
          path: [config.WEBHOOK_TLS_CERT ? 'WEBHOOK_TLS_KEY' : 'WEBHOOK_TLS_CERT'],
          message: 'WEBHOOK_TLS_CERT and WEBHOOK_TLS_KEY go together',
        });
      }
      if (config.DIRECTORY !== 'seatable') return;
      for (const key of ['SEATABLE_SERVER_URL', 'SEATABLE_API_TOKEN'] as const) {
        if (!config[key])
          context.addIssue({ code: 'custom', path: [key], message: 'required with DIRECTORY=seatable' });
      }
    })
    .safeParse(input);
  if (!result.success) {
    throw new ConfigError(
      result.error.issues.map((issue) => {
        const key = String(issue.path[0] ?? '');
        return `${key}: ${issue.message}`;
      }),
    );
  }
  const config = result.data;
  // the deprecated switch asks for title+user; a stricter GROUP_REGISTRATION (approval) wins
  if (config.GROUP_REGISTRATION_REQUIRES_USER && config.GROUP_REGISTRATION === 'title') {
    return { ...config, GROUP_REGISTRATION: 'title+user' };
  }
  return config;
}

/** Settings that work but should be changed (deprecated names), for the log at start and `check`. */
export function configWarnings(config: Config): string[] {
  const warnings: string[] = [];
  if (config.GROUP_REGISTRATION_REQUIRES_USER) {
    warnings.push(
      `GROUP_REGISTRATION_REQUIRES_USER is deprecated: set GROUP_REGISTRATION=title+user instead (in effect now: GROUP_REGISTRATION=${config.GROUP_REGISTRATION}).`,
    );
  }
  if (config.TELEGRAM_PAID_BROADCAST && config.TELEGRAM_PARALLEL_SENDS === 1) {
    warnings.push(
      'TELEGRAM_PAID_BROADCAST is on with TELEGRAM_PARALLEL_SENDS=1: one request at a time cannot reach 1000 messages per second; raise TELEGRAM_PARALLEL_SENDS (e.g. 16).',
    );
  }
  return warnings;
}

/** Documentation of every setting, for the README table and `--help`. */
export function describeSettings(): Array<{
  name: string;
  default: string;
  description: string;
  secret: boolean;
}> {
  return Object.entries(settings).map(([name, setting]) => {
    const parsed = setting.schema.safeParse(undefined);
    const fallback = parsed.success && parsed.data !== undefined ? String(parsed.data) : '';
    const entry: { description: string; secret?: boolean } = setting;
    return { name, default: fallback, description: setting.description, secret: entry.secret === true };
  });
}

/** The values of the settings marked secret. */
export function secretSettingValues(config: Config): string[] {
  return describeSettings()
    .filter((setting) => setting.secret)
    .map((setting) => config[setting.name as SettingName])
    .filter((value): value is string => typeof value === 'string' && value.length > 0);
}

/** Everything secret in the settings, for the log scrubber: their values and the proxy's credentials. */
export function secretValues(config: Config): string[] {
  return [
    ...new Set([
      ...secretSettingValues(config),
      ...proxyCredentials(config.TELEGRAM_PROXY),
      ...databaseCredentials(config.DATABASE_URL),
    ]),
  ];
}

/** The password of DATABASE_URL (as written and decoded, in the userinfo or a `password=` parameter). */
function databaseCredentials(databaseUrl: string | undefined): string[] {
  if (!databaseUrl) return [];
  const url = new URL(databaseUrl);
  const written = [url.password, url.searchParams.get('password') ?? ''].filter(Boolean);
  const decoded = written.map((value) => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  });
  return [...written, ...decoded];
}

/**
 * The password of a proxy URL (as written and decoded) and `user:password`: an error or a library's
 * debug text may quote them without the rest of the URL.
 */
function proxyCredentials(proxyUrl: string | undefined): string[] {
  if (!proxyUrl) return [];
  const url = new URL(proxyUrl);
  if (!url.password) return [];
  const decode = (value: string) => {
    try {
      return decodeURIComponent(value);
    } catch {
      return value;
    }
  };
  const userPassword = `${decode(url.username)}:${decode(url.password)}`;
  // the Proxy-Authorization header carries them in base64
  return [
    `${url.username}:${url.password}`,
    url.password,
    decode(url.password),
    Buffer.from(userPassword).toString('base64'),
  ];
}
