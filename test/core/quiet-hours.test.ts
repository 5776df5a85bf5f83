/**
 * QUIET_HOURS: parsing, a window crossing midnight, and the wall clock of a time zone on the days its
 * clocks change.
 */
import { describe, expect, it } from 'vitest';
import { isKnownTimeZone, isQuietAt, parseQuietHours, wallClockMinute } from '../../src/core/quiet-hours.js';

const at = (iso: string) => new Date(iso);

describe('parseQuietHours', () => {
  it('reads HH:MM-HH:MM, and nothing for an empty text', () => {
    expect(parseQuietHours('22:00-08:00')).toEqual({ startMinute: 22 * 60, endMinute: 8 * 60 });
    expect(parseQuietHours(' 7:30 - 9:05 ', 'UTC')).toEqual({
      startMinute: 7 * 60 + 30,
      endMinute: 9 * 60 + 5,
      timeZone: 'UTC',
    });
    expect(parseQuietHours('')).toBeNull();
    expect(parseQuietHours('   ')).toBeNull();
  });

  it('refuses what is not a window, with a message that says why', () => {
    expect(() => parseQuietHours('22-08')).toThrow(/HH:MM-HH:MM/);
    expect(() => parseQuietHours('24:00-08:00')).toThrow(/HH:MM-HH:MM/);
    expect(() => parseQuietHours('22:60-08:00')).toThrow(/HH:MM-HH:MM/);
    expect(() => parseQuietHours('10pm-8am')).toThrow(/HH:MM-HH:MM/);
    expect(() => parseQuietHours('08:00-08:00')).toThrow(/same time/);
  });
});

describe('isQuietAt', () => {
  it('covers a window within one day, start included and end excluded', () => {
    const window = parseQuietHours('13:00-14:30', 'UTC')!;
    expect(isQuietAt(window, at('2026-03-10T12:59:59Z'))).toBe(false);
    expect(isQuietAt(window, at('2026-03-10T13:00:00Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-03-10T14:29:59Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-03-10T14:30:00Z'))).toBe(false);
  });

  it('covers a window crossing midnight on both sides of it', () => {
    const window = parseQuietHours('22:00-08:00', 'UTC')!;
    expect(isQuietAt(window, at('2026-03-10T21:59:00Z'))).toBe(false);
    expect(isQuietAt(window, at('2026-03-10T22:00:00Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-03-10T23:59:59Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-03-11T00:00:00Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-03-11T07:59:00Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-03-11T08:00:00Z'))).toBe(false);
    expect(isQuietAt(window, at('2026-03-11T12:00:00Z'))).toBe(false);
  });

  it('reads the window in its time zone, not UTC', () => {
    // Moscow is UTC+3 all year: 22:00 there is 19:00 UTC
    const moscow = parseQuietHours('22:00-08:00', 'Europe/Moscow')!;
    expect(isQuietAt(moscow, at('2026-07-01T18:59:00Z'))).toBe(false);
    expect(isQuietAt(moscow, at('2026-07-01T19:00:00Z'))).toBe(true);
    expect(isQuietAt(moscow, at('2026-07-02T04:59:00Z'))).toBe(true);
    expect(isQuietAt(moscow, at('2026-07-02T05:00:00Z'))).toBe(false);
    // a zone east of the date line: 07:00 on the 2nd there is still the 1st in UTC
    const auckland = parseQuietHours('22:00-08:00', 'Pacific/Auckland')!;
    expect(isQuietAt(auckland, at('2026-07-01T19:00:00Z'))).toBe(true); // 07:00 NZST
    expect(isQuietAt(auckland, at('2026-07-01T20:00:00Z'))).toBe(false); // 08:00 NZST
  });

  it('follows the wall clock on the days the clocks change (Europe/Berlin)', () => {
    const window = parseQuietHours('22:00-08:00', 'Europe/Berlin')!;
    // 29 March 2026, 02:00 CET → 03:00 CEST: 07:59 CEST is 05:59 UTC, 08:00 CEST is 06:00 UTC
    expect(isQuietAt(window, at('2026-03-29T05:59:00Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-03-29T06:00:00Z'))).toBe(false);
    // the evening before, still CET: 22:00 is 21:00 UTC
    expect(isQuietAt(window, at('2026-03-28T20:59:00Z'))).toBe(false);
    expect(isQuietAt(window, at('2026-03-28T21:00:00Z'))).toBe(true);
    // 25 October 2026, 03:00 CEST → 02:00 CET: 08:00 CET is 07:00 UTC
    expect(isQuietAt(window, at('2026-10-25T06:59:00Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-10-25T07:00:00Z'))).toBe(false);
  });

  it('is quiet both times through an hour that repeats, and never in one that is skipped', () => {
    const window = parseQuietHours('02:00-03:00', 'Europe/Berlin')!;
    // 25 October 2026: 02:00–03:00 happens twice (00:00–01:00 UTC in CEST, 01:00–02:00 UTC in CET)
    expect(isQuietAt(window, at('2026-10-25T00:30:00Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-10-25T01:30:00Z'))).toBe(true);
    expect(isQuietAt(window, at('2026-10-25T02:00:00Z'))).toBe(false);
    // 29 March 2026: 02:00–03:00 does not exist; 00:59 UTC is 01:59 CET, 01:00 UTC is 03:00 CEST
    expect(isQuietAt(window, at('2026-03-29T00:59:00Z'))).toBe(false);
    expect(isQuietAt(window, at('2026-03-29T01:00:00Z'))).toBe(false);
  });

  it('reads the wall clock of a zone with a half-hour offset', () => {
    // India is UTC+5:30
    expect(wallClockMinute(at('2026-01-15T16:30:00Z'), 'Asia/Kolkata')).toBe(22 * 60);
    expect(isQuietAt(parseQuietHours('22:00-22:30', 'Asia/Kolkata')!, at('2026-01-15T16:45:00Z'))).toBe(true);
  });
});

describe('isKnownTimeZone', () => {
  it('knows IANA names and refuses others', () => {
    expect(isKnownTimeZone('Europe/Moscow')).toBe(true);
    expect(isKnownTimeZone('UTC')).toBe(true);
    expect(isKnownTimeZone('Mars/Olympus_Mons')).toBe(false);
  });
});
