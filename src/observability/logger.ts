/**
 * The bot's structured logger: pino JSON lines on stdout (or a given stream), with every registered
 * secret scrubbed from the final line and the usual secret-bearing fields redacted by path.
 */
import { type DestinationStream, type Logger, pino } from 'pino';
import type { SecretScrubber } from './secret-scrubber.js';

export type { Logger } from 'pino';

/** Fields that hold secrets wherever they appear (one or two levels deep). */
const REDACTED_PATHS = [
  'password',
  'pass',
  'token',
  'apiToken',
  'accessToken',
  'authorization',
  '*.password',
  '*.pass',
  '*.token',
  '*.apiToken',
  '*.accessToken',
  '*.authorization',
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
