/**
 * The bot's structured logger: pino JSON lines on stdout (or a given stream), with every registered
 * secret scrubbed from the final line and the usual secret-bearing fields redacted by path.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import type { SecretScrubber } from './secret-scrubber.js';

export type { Logger } from 'pino';

/**
 * Names of fields that hold credentials. Redaction by field name works whatever the value, so a secret
 * too short for the scrubber (under 4 characters) still never reaches a line through a logged object.
 */
export const CREDENTIAL_FIELDS = [
  'password',
  'pass',
  'token',
  'secret',
  'apiToken',
  'accessToken',
  'authorization',
  // the secret settings, should a config object ever be logged
  'TELEGRAM_BOT_TOKEN',
  'SEATABLE_API_TOKEN',
  'TELEGRAM_PROXY',
  'DATABASE_URL',
  // socks-proxy-agent's field for the proxy URL, credentials included
  'proxyUrl',
  'WEBHOOK_SECRET',
] as const;

/** Fields that hold secrets wherever they appear (up to four levels deep), as pino redact paths. */
const REDACTED_PATHS = [
  ...CREDENTIAL_FIELDS.flatMap((field) => [field, `*.${field}`, `*.*.${field}`, `*.*.*.${field}`]),
  'auth.pass',
  '*.auth.pass',
  'headers.authorization',
  '*.headers.authorization',
];

export interface LoggerOptions {
  /** pino level name, or 'silent'. */
  level: string;
  /** Masks secret values in every line written. */
  scrubber: SecretScrubber;
  /** Where lines go (default: stdout, synchronously, so nothing is lost on a crash). */
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: { paths: REDACTED_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      serializers: { err: pino.stdSerializers.err, error: pino.stdSerializers.err },
      hooks: {
        streamWrite: (line) => options.scrubber.scrub(line),
      },
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}
