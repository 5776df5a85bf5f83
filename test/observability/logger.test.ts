/** Credential fields are redacted by name, whatever the length of the value: a 3-character password too. */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { describeSettings } from '../../src/config.js';
import { CREDENTIAL_FIELDS, createLogger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      lines.push(String(chunk));
      callback();
    },
  });
  return { lines, logger: createLogger({ level: 'trace', scrubber: new SecretScrubber(), destination }) };
}

describe('logger redaction', () => {
  it('masks credential fields at any of four levels, however short the value', () => {
    const { lines, logger } = capture();
    const short = 'z|~';
    logger.info({ password: short }, 'top');
    logger.info({ mailbox: { email: 'a@b.example', password: short } }, 'nested');
    logger.info({ options: { auth: { user: 'a', pass: short } } }, 'imap options');
    logger.info({ config: { SEATABLE_API_TOKEN: short, TELEGRAM_BOT_TOKEN: short } }, 'config');
    logger.info({ snapshot: { mailboxes: [{ email: 'a@b.example', password: short }] } }, 'deep');
    expect(lines).toHaveLength(5);
    for (const line of lines) {
      expect(line).not.toContain(short);
      expect(line).toContain('[REDACTED]');
    }
    // an ordinary field with the same text is left alone: redaction is by name, not by value
    logger.info({ subject: short }, 'subject');
    expect(lines.at(-1)).toContain(short);
  });

  it('knows every setting marked secret', () => {
    const secretSettings = describeSettings()
      .filter((setting) => setting.secret)
      .map((setting) => setting.name);
    expect(secretSettings.length).toBeGreaterThan(0);
    expect(CREDENTIAL_FIELDS).toEqual(expect.arrayContaining(secretSettings));
  });
});
