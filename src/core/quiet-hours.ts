/**
 * QUIET_HOURS: a daily window of wall-clock time (in a time zone) during which reports arrive without
 * sound. Plain data and rules, no I/O.
 *
 * The window is `HH:MM-HH:MM`, start included, end excluded; a start later than the end crosses
 * midnight (`22:00-08:00` is 22:00–24:00 and 00:00–08:00). The same start and end would mean either
 * nothing or the whole day, so it is refused. On a day the clocks change, the window follows the wall
 * clock: with `01:00-03:00`, an hour that is skipped is simply not there, and an hour that repeats is
 * quiet both times.
 */

/** A parsed QUIET_HOURS window: minutes after midnight, start included, end excluded. */
export interface QuietHours {
  startMinute: number;
  endMinute: number;
  /** IANA time zone the window is read in; undefined: the process's (the TZ environment variable). */
  timeZone?: string;
}

const WINDOW = /^([01]?\d|2[0-3]):([0-5]\d)\s*-\s*([01]?\d|2[0-3]):([0-5]\d)$/;

/**
 * Parses `HH:MM-HH:MM` (24-hour clock); an empty text means no quiet hours (null). Throws an Error
 * whose message says what is wrong.
 */
export function parseQuietHours(text: string, timeZone?: string): QuietHours | null {
  const trimmed = text.trim();
  if (trimmed === '') return null;
  const match = WINDOW.exec(trimmed);
  if (!match) {
    throw new Error(`expected HH:MM-HH:MM on a 24-hour clock, e.g. 22:00-08:00 (got "${trimmed}")`);
  }
  const startMinute = Number(match[1]) * 60 + Number(match[2]);
  const endMinute = Number(match[3]) * 60 + Number(match[4]);
  if (startMinute === endMinute) {
    throw new Error('the start and the end are the same time: leave QUIET_HOURS empty for none');
  }
  return { startMinute, endMinute, ...(timeZone ? { timeZone } : {}) };
}

/** Whether `timeZone` is a time zone this Node knows (IANA name such as `Europe/Moscow`, or `UTC`). */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone });
    return true;
  } catch {
    return false;
  }
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Minutes after midnight of the wall clock in `timeZone` at `at`. */
export function wallClockMinute(at: Date, timeZone?: string): number {
  const key = timeZone ?? '';
  let format = formatters.get(key);
  if (!format) {
    format = new Intl.DateTimeFormat('en-GB', {
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
      ...(timeZone ? { timeZone } : {}),
    });
    formatters.set(key, format);
  }
  let hour = 0;
  let minute = 0;
  for (const part of format.formatToParts(at)) {
    if (part.type === 'hour') hour = Number(part.value);
    else if (part.type === 'minute') minute = Number(part.value);
  }
  return hour * 60 + minute;
}

/** Whether `at` falls inside the window. */
export function isQuietAt(window: QuietHours, at: Date): boolean {
  const minute = wallClockMinute(at, window.timeZone);
  return window.startMinute < window.endMinute
    ? minute >= window.startMinute && minute < window.endMinute
    : minute >= window.startMinute || minute < window.endMinute;
}
