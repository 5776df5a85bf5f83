/** Where a rescan after a UIDVALIDITY change starts, against REPORT_RETENTION_DAYS. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { rescanCutoff } from '../../src/imap/first-sync.js';

const DAY = 24 * 3600_000;
const now = Date.parse('2026-03-10T12:00:00Z');

describe('rescan after a UIDVALIDITY change', () => {
  it('starts a day before the newest mail still recorded', () => {
    const newest = new Date(now - 2 * 3600_000).toISOString();
    expect(rescanCutoff(newest, now, 90 * DAY).toISOString()).toBe(
      new Date(now - 26 * 3600_000).toISOString(),
    );
  });

  it('never reaches back to reports the retention may have forgotten already', () => {
    // the newest report kept is 2.5 days old; with 3 days of retention, anything received before
    // now - 3 days may be forgotten, so the rescan starts a day inside that: now - 2 days
    const newest = new Date(now - 2.5 * DAY).toISOString();
    const cutoff = rescanCutoff(newest, now, 3 * DAY);
    expect(cutoff.toISOString()).toBe(new Date(now - 2 * DAY).toISOString());
    expect(cutoff.getTime()).toBeGreaterThan(now - 3 * DAY);
  });

  it('keeps REPORT_RETENTION_DAYS at 3 days or more, so the rescan keeps a window', () => {
    expect(() => loadConfig({ REPORT_RETENTION_DAYS: '1' })).toThrow(/REPORT_RETENTION_DAYS/);
    expect(() => loadConfig({ REPORT_RETENTION_DAYS: '2' })).toThrow(/REPORT_RETENTION_DAYS/);
    expect(loadConfig({ REPORT_RETENTION_DAYS: '3' }).REPORT_RETENTION_DAYS).toBe(3);
    // the shortest retention still leaves the day-long rescan whole
    const newest = new Date(now - 1).toISOString();
    expect(rescanCutoff(newest, now, 3 * DAY).getTime()).toBe(now - 1 - DAY);
  });
});
