/** Server words made safe: one line, no control or bidi characters, secrets masked, bounded. */
import { describe, expect, it } from 'vitest';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';
import { SERVER_TEXT_MAX_LENGTH, sanitizeServerText } from '../../src/observability/server-text.js';

const UNSAFE = /[\u0000-\u001f\u007f-\u009f\u061c\u200b-\u200f\u2028\u2029\u202a-\u202e\u2060-\u2069\ufeff]/;

describe('sanitizeServerText', () => {
  const scrubber = new SecretScrubber();
  scrubber.add('hunter2-imap-password');

  it('turns line breaks of every kind into spaces, so a server cannot start a new log line', () => {
    const text = sanitizeServerText(
      'NO bad\r\n{"level":"info","msg":"INJECTED"}\u2028next\u0085line\tend',
      scrubber,
    );
    expect(text).toBe('NO bad {"level":"info","msg":"INJECTED"} next line end');
    expect(text).not.toMatch(UNSAFE);
  });

  it('removes terminal escapes, other controls, bidi overrides and zero-width characters', () => {
    const text = sanitizeServerText(
      'NO \u001b[31mred\u001b[0m \u0007bell \u202egnp.exe\u202c \u2066iso\u2069 zero\u200bwidth \u200fmark\ufeff',
      scrubber,
    );
    expect(text).toBe('NO [31mred[0m bell gnp.exe iso zerowidth mark');
    expect(text).not.toMatch(UNSAFE);
  });

  it('masks a secret even when the server splits it with invisible characters', () => {
    expect(sanitizeServerText('NO LOGIN user hunter2-imap-password rejected', scrubber)).toBe(
      'NO LOGIN user [REDACTED] rejected',
    );
    expect(sanitizeServerText('NO hunter2-\u200bimap-\u202epassword', scrubber)).toBe('NO [REDACTED]');
  });

  it('bounds the length, cutting after masking so no part of a secret is left', () => {
    const long = `${'x'.repeat(SERVER_TEXT_MAX_LENGTH - 5)}hunter2-imap-password${'y'.repeat(10_000)}`;
    const text = sanitizeServerText(long, scrubber);
    expect(Array.from(text)).toHaveLength(SERVER_TEXT_MAX_LENGTH);
    expect(text.endsWith('…')).toBe(true);
    expect(text).not.toContain('hunter2');
    expect(sanitizeServerText('short', scrubber)).toBe('short');
  });

  it('keeps ordinary text, Cyrillic included, as it is', () => {
    expect(sanitizeServerText("NO [NONEXISTENT] Mailbox doesn't exist: Отчёты", scrubber)).toBe(
      "NO [NONEXISTENT] Mailbox doesn't exist: Отчёты",
    );
  });
});
