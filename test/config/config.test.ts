/** The settings schema: defaults, clear errors naming the key, secrets never echoed. */
import { describe, expect, it } from 'vitest';
import { ConfigError, configWarnings, loadConfig, secretValues } from '../../src/config.js';

describe('configuration', () => {
  it('has working defaults for everything but the Telegram token', () => {
    const config = loadConfig({});
    expect(config.DATA_DIR).toBe('./data');
    expect(config.DIRECTORY).toBe('local');
    expect(config.MAX_MAIL_MB).toBe(70);
    expect(config.MAX_FILE_MB).toBe(50);
    expect(config.TELEGRAM_API_ROOT).toBe('https://api.telegram.org');
    expect(config.MARK_SEEN).toBe(false);
    expect(config.TELEGRAM_BOT_TOKEN).toBeUndefined();
  });

  it('reads values, treating empty strings as unset', () => {
    const config = loadConfig({ MAX_FILE_MB: '20', MARK_SEEN: 'yes', LOG_LEVEL: '', PHONE_REGION: 'KZ' });
    expect(config.MAX_FILE_MB).toBe(20);
    expect(config.MARK_SEEN).toBe(true);
    expect(config.LOG_LEVEL).toBe('info');
    expect(config.PHONE_REGION).toBe('KZ');
  });

  it('names every bad key and its problem, and never echoes a secret', () => {
    const secret = 'not-a-token-but-secret-value';
    let error: unknown;
    try {
      loadConfig({
        DIRECTORY: 'excel',
        MAX_MAIL_MB: 'lots',
        TELEGRAM_BOT_TOKEN: secret,
        TELEGRAM_API_ROOT: 'https://api.telegram.org/',
        ADMIN_CHAT_ID: 'the admins',
        PHONE_REGION: 'XX',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    for (const key of [
      'DIRECTORY',
      'MAX_MAIL_MB',
      'TELEGRAM_BOT_TOKEN',
      'TELEGRAM_API_ROOT',
      'ADMIN_CHAT_ID',
      'PHONE_REGION',
    ]) {
      expect(message).toMatch(new RegExp(`^  - ${key}: `, 'm'));
    }
    expect(message).not.toContain(secret);
  });

  it('requires the SeaTable settings with DIRECTORY=seatable', () => {
    expect(() => loadConfig({ DIRECTORY: 'seatable' })).toThrow(
      /SEATABLE_SERVER_URL: required with DIRECTORY=seatable/,
    );
  });

  it('lists the secret values for the log scrubber', () => {
    const token = '123456:AAE_abcdefghijklmnopqrstuvwxyz';
    const config = loadConfig({ TELEGRAM_BOT_TOKEN: token, SEATABLE_API_TOKEN: 'x'.repeat(40) });
    expect(secretValues(config).sort()).toEqual([token, 'x'.repeat(40)].sort());
  });
});

describe('WEBHOOK_*', () => {
  it('is off by default, and needs a secret of at least 32 characters with a port', () => {
    expect(loadConfig({}).WEBHOOK_PORT).toBe(0);
    expect(loadConfig({}).WEBHOOK_HOST).toBe('0.0.0.0');
    expect(() => loadConfig({ WEBHOOK_PORT: '8443' })).toThrow(/WEBHOOK_SECRET: required with WEBHOOK_PORT/);
    const short = 'too-short-secret';
    let message = '';
    try {
      loadConfig({ WEBHOOK_PORT: '8443', WEBHOOK_SECRET: short });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/WEBHOOK_SECRET: expected at least 32 characters/);
    expect(message).not.toContain(short);
    const secret = 'w'.repeat(32);
    const config = loadConfig({ WEBHOOK_PORT: '8443', WEBHOOK_SECRET: secret });
    expect(config.WEBHOOK_PORT).toBe(8443);
    expect(secretValues(config)).toContain(secret);
  });

  it('takes TLS files only as a pair', () => {
    expect(() =>
      loadConfig({ WEBHOOK_PORT: '8443', WEBHOOK_SECRET: 'w'.repeat(32), WEBHOOK_TLS_CERT: '/etc/cert.pem' }),
    ).toThrow(/WEBHOOK_TLS_KEY: WEBHOOK_TLS_CERT and WEBHOOK_TLS_KEY go together/);
  });
});

describe('GROUP_REGISTRATION', () => {
  it('defaults to title, takes title+user and approval, and refuses anything else', () => {
    expect(loadConfig({}).GROUP_REGISTRATION).toBe('title');
    expect(loadConfig({ GROUP_REGISTRATION: 'title+user' }).GROUP_REGISTRATION).toBe('title+user');
    expect(loadConfig({ GROUP_REGISTRATION: 'approval', ADMIN_CHAT_ID: '-100123' }).GROUP_REGISTRATION).toBe(
      'approval',
    );
    expect(() => loadConfig({ GROUP_REGISTRATION: 'password' })).toThrow(/GROUP_REGISTRATION:/);
  });

  it('needs an admin chat to approve in', () => {
    expect(() => loadConfig({ GROUP_REGISTRATION: 'approval' })).toThrow(
      'ADMIN_CHAT_ID: required with GROUP_REGISTRATION=approval (the chat that approves groups)',
    );
  });

  it('keeps the deprecated GROUP_REGISTRATION_REQUIRES_USER working as title+user, with a warning', () => {
    const old = loadConfig({ GROUP_REGISTRATION_REQUIRES_USER: 'true' });
    expect(old.GROUP_REGISTRATION).toBe('title+user');
    expect(configWarnings(old)).toEqual([
      'GROUP_REGISTRATION_REQUIRES_USER is deprecated: set GROUP_REGISTRATION=title+user instead (in effect now: GROUP_REGISTRATION=title+user).',
    ]);
    // a stricter choice wins over the old switch
    const both = loadConfig({
      GROUP_REGISTRATION_REQUIRES_USER: 'true',
      GROUP_REGISTRATION: 'approval',
      ADMIN_CHAT_ID: '42',
    });
    expect(both.GROUP_REGISTRATION).toBe('approval');
    expect(configWarnings(both)[0]).toContain('in effect now: GROUP_REGISTRATION=approval');
    expect(configWarnings(loadConfig({}))).toEqual([]);
  });
});

describe('sending options', () => {
  it('turns paid broadcasts on with TELEGRAM_PAID_BROADCAST, off by default', () => {
    expect(loadConfig({}).TELEGRAM_PAID_BROADCAST).toBe(false);
    expect(loadConfig({ TELEGRAM_PAID_BROADCAST: 'true' }).TELEGRAM_PAID_BROADCAST).toBe(true);
    expect(() => loadConfig({ TELEGRAM_PAID_BROADCAST: 'maybe' })).toThrow(
      /TELEGRAM_PAID_BROADCAST: expected true or false/,
    );
  });

  it('warns when paid broadcasts go one request at a time', () => {
    expect(configWarnings(loadConfig({ TELEGRAM_PAID_BROADCAST: 'true' }))).toEqual([
      expect.stringContaining('raise TELEGRAM_PARALLEL_SENDS'),
    ]);
    expect(
      configWarnings(loadConfig({ TELEGRAM_PAID_BROADCAST: 'true', TELEGRAM_PARALLEL_SENDS: '16' })),
    ).toEqual([]);
  });

  it('takes QUIET_HOURS as HH:MM-HH:MM (empty: off) and TZ as a time zone name, with clear errors', () => {
    expect(loadConfig({}).QUIET_HOURS).toBeUndefined();
    expect(loadConfig({ QUIET_HOURS: '' }).QUIET_HOURS).toBeUndefined();
    expect(loadConfig({ QUIET_HOURS: '22:00-08:00', TZ: 'Europe/Moscow' })).toMatchObject({
      QUIET_HOURS: '22:00-08:00',
      TZ: 'Europe/Moscow',
    });
    expect(() => loadConfig({ QUIET_HOURS: '22:00' })).toThrow(
      /QUIET_HOURS: expected HH:MM-HH:MM on a 24-hour clock, e\.g\. 22:00-08:00/,
    );
    expect(() => loadConfig({ QUIET_HOURS: '08:00-08:00' })).toThrow(/QUIET_HOURS: the start and the end/);
    expect(() => loadConfig({ TZ: 'Moscow' })).toThrow(/TZ: expected a time zone name/);
  });
});

describe('FORWARD_FILE_TYPES', () => {
  it('defaults to pdf,png and reads a list in any case, with spaces, once each', () => {
    expect(loadConfig({}).FORWARD_FILE_TYPES).toEqual(['pdf', 'png']);
    expect(loadConfig({ FORWARD_FILE_TYPES: 'PDF, png,csv , xlsx,zip,text,csv' }).FORWARD_FILE_TYPES).toEqual(
      ['pdf', 'png', 'csv', 'xlsx', 'zip', 'text'],
    );
    expect(loadConfig({ FORWARD_FILE_TYPES: 'text' }).FORWARD_FILE_TYPES).toEqual(['text']);
  });

  it('refuses an unknown kind and a list of nothing, naming the setting', () => {
    expect(() => loadConfig({ FORWARD_FILE_TYPES: 'pdf,docx' })).toThrow(
      /FORWARD_FILE_TYPES: expected a comma-separated list/,
    );
    expect(() => loadConfig({ FORWARD_FILE_TYPES: ' , ' })).toThrow(/FORWARD_FILE_TYPES: name at least one/);
  });
});

describe('DATABASE_URL and DATABASE_SCHEMA', () => {
  it('takes a postgres:// URL as a secret, its password too, and never echoes a bad one', () => {
    expect(loadConfig({}).DATABASE_URL).toBeUndefined();
    expect(loadConfig({}).DATABASE_SCHEMA).toBe('superset_telegram_bot');
    const url = 'postgresql://bot:p%40ss-word@db.example.com:5432/superset?sslmode=require';
    const config = loadConfig({ DATABASE_URL: url, DATABASE_SCHEMA: 'bot_state' });
    expect(config.DATABASE_URL).toBe(url);
    expect(config.DATABASE_SCHEMA).toBe('bot_state');
    expect(secretValues(config)).toEqual(expect.arrayContaining([url, 'p%40ss-word', 'p@ss-word']));
    const bad = 'mysql://bot:hunter2-secret@db/x';
    let message = '';
    try {
      loadConfig({ DATABASE_URL: bad });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/DATABASE_URL: expected a PostgreSQL URL/);
    expect(message).not.toContain('hunter2-secret');
  });
});
