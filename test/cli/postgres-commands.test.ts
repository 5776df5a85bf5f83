/**
 * Every CLI command on PostgreSQL (DATABASE_URL) through the built CLI (`npm run build` first), starting
 * from an EMPTY database (the commands apply the migrations themselves): the directory commands, CSV
 * export/import, `reports`, `resend`, `webhook url` and `check`, with the rows landing in PostgreSQL and
 * the URL's password in no output; and a PostgreSQL that cannot be reached, said plainly.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../../src/store/postgres-database.js';
import { webhookPath } from '../../src/webhook/webhook-token.js';
import { runCli } from '../support/bot-process.js';
import { PostgresCluster } from '../support/postgres-cluster.js';

const SCHEMA = 'cli_commands';
const WEBHOOK_SECRET = 'cli-postgres-webhook-secret-0123456789';

let cluster: PostgresCluster;
let url: string;
let dataDir: string;
const outputs: string[] = [];

beforeAll(async () => {
  cluster = await PostgresCluster.start();
  url = await cluster.createDatabase();
  // DATA_DIR holds nothing that matters with DATABASE_URL: the commands must not need what is in it
  dataDir = mkdtempSync(path.join(tmpdir(), 'cli-postgres-'));
}, 120_000);

afterAll(async () => {
  await cluster?.destroy();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

async function cli(args: string[], env: Record<string, string> = {}) {
  const result = await runCli(args, {
    DATA_DIR: dataDir,
    DATABASE_URL: url,
    DATABASE_SCHEMA: SCHEMA,
    ...env,
  });
  outputs.push(result.stdout + result.stderr);
  return result;
}

async function rows<T>(sql: string): Promise<T[]> {
  // not migrated here: the CLI must have done it
  const db = new PostgresDatabase({ url, schema: SCHEMA });
  try {
    return await db.all<T>(sql);
  } finally {
    await db.close();
  }
}

describe('CLI commands with DATABASE_URL', () => {
  it('work on an empty PostgreSQL database, and the rows land there', async () => {
    // nothing in the database yet: not even the schema
    expect(
      await rows<{ n: number }>(
        `SELECT count(*) AS n FROM information_schema.schemata WHERE schema_name = '${SCHEMA}'`,
      ),
    ).toEqual([{ n: 0 }]);

    const mailbox = await cli([
      'mailbox',
      'add',
      'Reports@Example.com',
      '--host',
      '127.0.0.1',
      '--port',
      '1',
      '--password',
      'Imap-Secret-1',
    ]);
    expect(mailbox.stderr).toBe('');
    expect(mailbox.code).toBe(0);
    expect(mailbox.stdout).toContain('mailbox reports@example.com added (127.0.0.1:1, tls, folder INBOX)');
    const hook = await cli(['mailbox', 'add', 'hook@example.com', '--webhook-only']);
    expect(hook.code).toBe(0);

    const user = await cli([
      'user',
      'add',
      '--name',
      'Anna',
      '--phone',
      '+79001234567',
      '--mailbox',
      'reports@example.com',
    ]);
    expect(user.code).toBe(0);
    expect(user.stdout).toContain('user Anna (+79001234567) added, subscribed to reports@example.com');

    const group = await cli(['group', 'add', '--title', 'Sales team', '--mailbox', 'reports@example.com']);
    expect(group.code).toBe(0);

    expect(await rows('SELECT email, host, port FROM mailboxes ORDER BY email')).toEqual([
      { email: 'hook@example.com', host: '', port: expect.any(Number) },
      { email: 'reports@example.com', host: '127.0.0.1', port: 1 },
    ]);
    expect(await rows('SELECT name, phone FROM users')).toEqual([{ name: 'Anna', phone: '+79001234567' }]);
    expect(
      await rows(
        'SELECT g.title, m.email FROM groups g JOIN group_mailboxes gm ON gm.group_id = g.id JOIN mailboxes m ON m.id = gm.mailbox_id',
      ),
    ).toEqual([{ title: 'Sales team', email: 'reports@example.com' }]);

    // list reads them back from PostgreSQL
    const mailboxes = JSON.parse((await cli(['mailbox', 'list', '--json'])).stdout) as Array<{
      email: string;
    }>;
    expect(mailboxes.map((entry) => entry.email).sort()).toEqual(['hook@example.com', 'reports@example.com']);
    const users = await cli(['user', 'list']);
    expect(users.code).toBe(0);
    expect(users.stdout).toContain('+79001234567');
    const groups = await cli(['group', 'list']);
    expect(groups.stdout).toContain('Sales team');

    // export, add a row to the file, import it
    const file = path.join(dataDir, 'users.csv');
    const exported = await cli(['user', 'export', file]);
    expect(exported.code).toBe(0);
    expect(exported.stderr).toContain('1 users exported');
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('+79001234567');
    const separator = text.includes(';') ? ';' : ',';
    const newline = text.includes('\r\n') ? '\r\n' : '\n';
    const header = text
      .replace(/^\uFEFF/, '')
      .split(newline)[0]!
      .split(separator);
    const row = header.map((column) =>
      /name|имя/i.test(column)
        ? 'Boris'
        : /phone|телефон/i.test(column)
          ? '+79007654321'
          : /mailbox|ящик/i.test(column)
            ? 'reports@example.com'
            : '',
    );
    writeFileSync(
      file,
      `${text.replace(new RegExp(`(${newline})?$`), newline)}${row.join(separator)}${newline}`,
    );
    const dry = await cli(['user', 'import', file]);
    expect(dry.code).toBe(0);
    expect(await rows('SELECT name FROM users ORDER BY name')).toEqual([{ name: 'Anna' }]);
    const applied = await cli(['user', 'import', file, '--apply']);
    expect(applied.stderr).toBe('');
    expect(applied.code).toBe(0);
    expect(applied.stdout).toContain('done: 1 added, 0 changed, 0 removed');
    expect(
      await rows(
        'SELECT u.name, m.email FROM users u JOIN user_mailboxes um ON um.user_id = u.id JOIN mailboxes m ON m.id = um.mailbox_id ORDER BY u.name',
      ),
    ).toEqual([
      { name: 'Anna', email: 'reports@example.com' },
      { name: 'Boris', email: 'reports@example.com' },
    ]);

    // reports: none yet
    const reports = await cli(['reports']);
    expect(reports.code).toBe(0);
    expect(reports.stdout.trim()).toBe('(no reports yet)');
    expect(JSON.parse((await cli(['reports', '--json'])).stdout)).toEqual([]);

    // resend of a report that does not exist: a clear error
    const resend = await cli(['resend', '42']);
    expect(resend.code).toBe(1);
    expect(resend.stderr.trim()).toBe('error: no report #42 (see: superset-telegram-bot reports)');
    expect(await rows('SELECT id FROM deliveries')).toEqual([]);

    // the webhook URL of a mailbox kept in PostgreSQL
    const webhook = await cli(['webhook', 'url', 'hook@example.com'], {
      WEBHOOK_SECRET,
      WEBHOOK_PORT: '8443',
    });
    expect(webhook.code).toBe(0);
    expect(webhook.stdout.trim().split('\n').at(-1)).toBe(webhookPath(WEBHOOK_SECRET, 'hook@example.com'));

    // check names the state database: engine, host:port/database, schema and its version
    const check = await cli(['check'], {
      TELEGRAM_BOT_TOKEN: '123456:AAH-cli-postgres-token-abcdefghijklmnop',
      TELEGRAM_API_ROOT: 'http://127.0.0.1:1',
    });
    const schemaVersion = (
      await rows<{ version: number }>('SELECT max(version) AS version FROM schema_migrations')
    )[0]!.version;
    expect(schemaVersion).toBeGreaterThan(0);
    expect(check.stdout).toMatch(
      new RegExp(
        `OK\\s+state database\\s+PostgreSQL 127\\.0\\.0\\.1:${cluster.port}/${new URL(url).pathname.slice(1)}, schema ${SCHEMA}, version ${schemaVersion}`,
      ),
    );
    // the directory was read from PostgreSQL (the mailbox check ran against the mailbox stored there)
    expect(check.stdout).toMatch(/mailbox reports@example\.com/);

    for (const output of outputs) expect(output).not.toContain(cluster.password);
    // each command closed its pool: no session of the CLI left behind
    const sessions = await rows<{ n: number }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'superset-telegram-bot'",
    );
    expect(Number(sessions[0]!.n)).toBeLessThanOrEqual(1); // the query's own session
  }, 120_000);

  it('says plainly when PostgreSQL cannot be reached, without the password', async () => {
    const password = 'Unreachable-Pw-9876';
    const unreachable = `postgres://bot:${password}@127.0.0.1:1/state`;
    const env = { DATABASE_URL: unreachable };
    const list = await cli(['user', 'list'], env);
    expect(list.code).toBe(1);
    expect(list.stderr).toMatch(
      /^error: the state database cannot be reached \(.*127\.0\.0\.1:1\/state.*ECONNREFUSED.*\): check DATABASE_URL/,
    );
    const check = await cli(['check'], env);
    expect(check.code).toBe(1);
    expect(check.stdout).toMatch(
      /FAIL\s+state database\s+the state database cannot be reached \(.*127\.0\.0\.1:1\/state/,
    );
    for (const output of [list, check]) expect(output.stdout + output.stderr).not.toContain(password);
  }, 60_000);
});
