/**
 * SeaTableDirectory against FakeSeaTable (real HTTP) with a real SQLite file: schema check and
 * `seatable init`, the three forms of the Mailboxes column, bad rows, pagination, token expiry,
 * outages (with and without the saved copy), and the guarded group registration.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { DirectorySnapshot } from '../../src/directory/directory.js';
import { DirectoryUnavailableError, isWebhookOnly } from '../../src/directory/directory.js';
import { SeaTableClient } from '../../src/directory/seatable/seatable-client.js';
import type { SeaTableSqlParameter, SeaTableSqlResult } from '../../src/directory/seatable/seatable-model.js';
import {
  checkSchema,
  checkSeaTableBase,
  DIRECTORY_SCHEMA,
  DIRECTORY_TABLES,
  defaultSeaTableNames,
  initSchema,
  SeaTableNamesError,
  SeaTableSchemaError,
  seaTableNames,
} from '../../src/directory/seatable/seatable-schema.js';
import type { AdminAlerts } from '../../src/observability/admin-alerts.js';
import type { FakeSeaTable } from '../fakes/seatable/fake-seatable.js';
import { eventually } from '../support/bot-harness.js';
import {
  type DirectorySpec,
  directorySeed,
  directoryTables,
  fastClient,
  mailboxRow,
  type SeaTableDirectoryHarness,
  type SubscriptionForm,
  seaTableHarness,
} from './directory-worlds.js';

class RecordingAlerts implements AdminAlerts {
  readonly events: Array<{ action: 'raise' | 'clear'; key: string; text: string }> = [];
  raise(key: string, text: string): void {
    this.events.push({ action: 'raise', key, text });
  }
  clear(key: string, text: string): void {
    this.events.push({ action: 'clear', key, text });
  }
}

const harnesses: SeaTableDirectoryHarness[] = [];
afterEach(async () => {
  await Promise.all(harnesses.splice(0).map((harness) => harness.close()));
});

async function harness(...args: Parameters<typeof seaTableHarness>): Promise<SeaTableDirectoryHarness> {
  const made = await seaTableHarness(...args);
  harnesses.push(made);
  return made;
}

const INFO = {
  email: 'info@example.com',
  host: 'imap.example.com',
  port: 993,
  tls: 'tls' as const,
  login: 'info',
  password: 'info-secret-pw',
};
const SALES = { ...INFO, email: 'sales@example.com', login: 'sales', password: 'sales-secret-pw' };

function smallSpec(): DirectorySpec {
  return {
    mailboxes: [INFO, SALES],
    users: [
      { name: 'Ann', phone: '+79991234567', mailboxes: ['info@example.com'], telegramId: 11 },
      { name: 'Bob', phone: '+79991234568', mailboxes: ['info@example.com', 'sales@example.com'] },
    ],
    groups: [{ title: 'Ops', mailboxes: ['sales@example.com'], telegramId: -100 }],
  };
}

async function started(options: Parameters<typeof seaTableHarness>[0], directoryOptions = {}) {
  const made = await harness(options);
  const directory = made.directory(directoryOptions);
  await directory.start();
  return { ...made, directory };
}

/** The `_id` of the table's row at `index`, in table order. */
function rowIdAt(fake: FakeSeaTable, table: string, index: number): string {
  return String(fake.rows(table)[index]!._id);
}

function warnings(h: SeaTableDirectoryHarness): string[] {
  return h.logs.lines.filter((line) => line.level === 'warn').map((line) => String(line.msg));
}

describe('schema check and seatable init', () => {
  it('refuses to start on a base missing tables and columns, listing every one and how to fix it', async () => {
    const [mailboxColumns, userColumns] = directoryTables('link');
    const h = await harness({
      seed: {
        tables: [
          {
            name: 'Mailboxes',
            columns: mailboxColumns!.filter((c) => c.name !== 'Port' && c.name !== 'TLS'),
          },
          {
            name: 'Users',
            columns: userColumns!.map((c) =>
              c.name === 'Phone' ? { name: 'Phone', type: 'checkbox' as const } : c,
            ),
          },
        ],
      },
    });
    const error = await h
      .directory()
      .start()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(SeaTableSchemaError);
    const message = (error as Error).message;
    expect(message).toContain('column "Port" is missing in table "Mailboxes" (type number)');
    expect(message).toContain('column "TLS" is missing in table "Mailboxes" (type single-select)');
    expect(message).toContain(
      'column "Phone" in table "Users" is of type checkbox; it must be text or number',
    );
    expect(message).toContain('table "Groups" is missing');
    expect(message).toContain('superset-telegram-bot seatable init');
    expect(message).toContain('Change the type of a wrong column by hand');
    expect((error as SeaTableSchemaError).problems).toHaveLength(4);
  });

  it('creates every table and column on an empty base with --with-optional, and nothing on a second run', async () => {
    const h = await harness();
    const client = new SeaTableClient({ serverUrl: h.fake.url, apiToken: h.fake.apiToken });
    const names = defaultSeaTableNames();
    const first = await initSchema(client, names, { withOptional: true });
    expect(first.remaining).toEqual([]);
    expect(first.created[0]).toBe(
      'table "Mailboxes" with columns Email, Host, Port, TLS, Login, Password, Folder, Allowed senders, Active, Media mode, Mark seen, Sender auth, OAuth2 token URL, OAuth2 client ID, OAuth2 client secret, OAuth2 scope, OAuth2 refresh token, Tall image mode',
    );
    expect(first.created).toContain('column "Mailboxes" in table "Users" (link to "Mailboxes")');
    expect(first.created).toContain('column "Mailboxes" in table "Groups" (link to "Mailboxes")');
    const metadata = await client.getMetadata();
    expect(checkSchema(metadata, names).problems).toEqual([]);
    const users = metadata.tables.find((t) => t.name === 'Users')!;
    expect(users.columns.map((c) => [c.name, c.type])).toEqual([
      ['Name', 'text'],
      ['Phone', 'text'],
      ['Telegram ID', 'text'],
      ['Active', 'checkbox'],
      ['Mailboxes', 'link'],
    ]);
    const tls = metadata.tables.find((t) => t.name === 'Mailboxes')!.columns.find((c) => c.name === 'TLS')!;
    expect(tls.type).toBe('single-select');
    expect(((tls.data?.options ?? []) as Array<{ name: string }>).map((o) => o.name)).toEqual([
      'tls',
      'starttls',
      'none',
    ]);

    const second = await initSchema(client, names);
    expect(second).toEqual({ created: [], optionalLeftOut: [], remaining: [] });

    // the directory starts on the new base, empty
    const directory = h.directory();
    await directory.start();
    expect(directory.snapshot()).toMatchObject({ mailboxes: [], users: [], groups: [] });
  });

  it('creates only the required columns by default; the optional ones with --with-optional', async () => {
    const h = await harness();
    const client = new SeaTableClient({ serverUrl: h.fake.url, apiToken: h.fake.apiToken });
    const names = defaultSeaTableNames();
    const first = await initSchema(client, names);
    expect(first.remaining).toEqual([]);
    expect(first.created[0]).toBe(
      'table "Mailboxes" with columns Email, Host, Port, TLS, Login, Password, Folder, Allowed senders, Active',
    );
    expect(first.created).toContain(
      'table "Groups" with columns Name, Telegram ID, Locked, Topic ID, Active',
    );
    const optional = DIRECTORY_TABLES.flatMap((table) =>
      DIRECTORY_SCHEMA[table].filter((column) => column.optional).map((column) => ({ table, column })),
    );
    expect(first.optionalLeftOut).toEqual(optional.map(({ table, column }) => `${table}.${column.name}`));
    expect(first.optionalLeftOut).toEqual(
      expect.arrayContaining([
        'Mailboxes.Media mode',
        'Mailboxes.Mark seen',
        'Mailboxes.Sender auth',
        'Groups.Media mode',
      ]),
    );
    // a base without the optional columns is complete: the bot starts on it
    expect(checkSchema(await client.getMetadata(), names).problems).toEqual([]);
    const directory = h.directory();
    await directory.start();
    expect(directory.snapshot()).toMatchObject({ mailboxes: [], users: [], groups: [] });

    const added = await initSchema(client, names, { withOptional: true });
    expect(added).toEqual({
      created: optional.map(
        ({ table, column }) => `column "${column.name}" in table "${table}" (${column.create.type})`,
      ),
      optionalLeftOut: [],
      remaining: [],
    });
  });

  it('understands a TLS column of type checkbox: ticked tls, unticked or untouched starttls', async () => {
    const [mailboxColumns, userColumns, groupColumns] = directoryTables('text');
    const row = (email: string, tls: boolean | null, port: number | null) => ({
      ...mailboxRow({ ...INFO, email }),
      TLS: tls,
      Port: port,
    });
    const h = await harness({
      seed: {
        tables: [
          {
            name: 'Mailboxes',
            columns: mailboxColumns!.map((c) =>
              c.name === 'TLS' ? { name: 'TLS', type: 'checkbox' as const } : c,
            ),
            rows: [
              row('ticked@example.com', true, null),
              row('unticked@example.com', false, null),
              row('untouched@example.com', null, null),
              row('ownport@example.com', false, 1143),
            ],
          },
          { name: 'Users', columns: userColumns! },
          { name: 'Groups', columns: groupColumns! },
        ],
      },
    });
    const client = new SeaTableClient({ serverUrl: h.fake.url, apiToken: h.fake.apiToken });
    expect(checkSchema(await client.getMetadata(), defaultSeaTableNames()).problems).toEqual([]);
    const directory = h.directory();
    await directory.start();
    expect(directory.snapshot().mailboxes.map((m) => [m.email, m.tls, m.port])).toEqual([
      ['ticked@example.com', 'tls', 993],
      ['unticked@example.com', 'starttls', 143],
      ['untouched@example.com', 'starttls', 143],
      ['ownport@example.com', 'starttls', 1143],
    ]);
  });

  it('adds only the missing columns to an existing base and leaves rows and wrong columns alone', async () => {
    const [mailboxColumns, userColumns, groupColumns] = directoryTables('text');
    const h = await harness({
      seed: {
        tables: [
          {
            name: 'Mailboxes',
            columns: mailboxColumns!.filter((c) => c.name !== 'Folder'),
            rows: [mailboxRow(INFO)],
          },
          { name: 'Users', columns: userColumns! },
          {
            name: 'Groups',
            columns: groupColumns!.map((c) =>
              c.name === 'Locked' ? { name: 'Locked', type: 'text' as const } : c,
            ),
          },
        ],
      },
    });
    const client = new SeaTableClient({ serverUrl: h.fake.url, apiToken: h.fake.apiToken });
    const before = h.fake.rows('Mailboxes');
    const result = await initSchema(client, defaultSeaTableNames(), { withOptional: true });
    expect(result.created).toEqual([
      'column "Folder" in table "Mailboxes" (text)',
      'column "Media mode" in table "Mailboxes" (single-select)',
      'column "Mark seen" in table "Mailboxes" (checkbox)',
      'column "Sender auth" in table "Mailboxes" (text)',
      'column "OAuth2 token URL" in table "Mailboxes" (text)',
      'column "OAuth2 client ID" in table "Mailboxes" (text)',
      'column "OAuth2 client secret" in table "Mailboxes" (text)',
      'column "OAuth2 scope" in table "Mailboxes" (text)',
      'column "OAuth2 refresh token" in table "Mailboxes" (text)',
      'column "Media mode" in table "Groups" (single-select)',
    ]);
    expect(result.remaining.map((p) => p.message)).toEqual([
      'column "Locked" in table "Groups" is of type text; it must be checkbox',
    ]);
    const after = h.fake.rows('Mailboxes');
    expect(after).toHaveLength(1);
    expect(after[0]).toMatchObject({ ...before[0], Folder: null, _mtime: before[0]!._mtime });
  });

  it('checks a base for `superset-telegram-bot check`: complete, incomplete, or not reachable', async () => {
    const h = await harness({ seed: directorySeed(smallSpec()) });
    const names = defaultSeaTableNames();
    const describe = (error: unknown) => h.scrubber.describe(error);
    const complete = await checkSeaTableBase(fastClient(h.fake), names, describe);
    expect(complete).toEqual({ baseName: 'Telegram bot directory', error: null, problems: [] });

    const renamed = { ...names, tables: { ...names.tables, Groups: 'Chats' } };
    const incomplete = await checkSeaTableBase(fastClient(h.fake), renamed, describe);
    expect(incomplete.problems.map((p) => p.message)).toEqual([
      'table "Chats" is missing (columns: Name, Mailboxes, Telegram ID, Locked, Topic ID, Active)',
    ]);

    const refused = await checkSeaTableBase(fastClient(h.fake, 'f'.repeat(40)), names, describe);
    expect(refused).toEqual({
      baseName: null,
      error: 'SeaTable did not accept the API token (HTTP 403: Permission denied.)',
      problems: [],
    });
  });

  it('reads renamed tables and columns (SEATABLE_TABLE_*, SEATABLE_COLUMN_NAMES)', async () => {
    const names = seaTableNames({
      SEATABLE_TABLE_MAILBOXES: 'Почтовые ящики',
      SEATABLE_TABLE_USERS: 'Люди',
      SEATABLE_TABLE_GROUPS: 'Groups',
      SEATABLE_COLUMN_NAMES: 'users.phone=Телефон, Mailboxes.Email = Адрес,Groups.Name=Группа',
    });
    expect(names.columns.Users.Phone).toBe('Телефон');
    expect(names.columns.Mailboxes.Email).toBe('Адрес');
    expect(names.columns.Groups.Name).toBe('Группа');
    expect(names.columns.Users.Name).toBe('Name');
    expect(() =>
      seaTableNames({
        SEATABLE_TABLE_MAILBOXES: 'M',
        SEATABLE_TABLE_USERS: 'U',
        SEATABLE_TABLE_GROUPS: 'G',
        SEATABLE_COLUMN_NAMES: 'Users.Telefon=X',
      }),
    ).toThrow(SeaTableNamesError);
    expect(() =>
      seaTableNames({
        SEATABLE_TABLE_MAILBOXES: 'M',
        SEATABLE_TABLE_USERS: 'U',
        SEATABLE_TABLE_GROUPS: 'G',
        SEATABLE_COLUMN_NAMES: 'People.Phone=X',
      }),
    ).toThrow(/"People" is not a table; use Mailboxes, Users, Groups/);

    const h = await harness();
    const client = new SeaTableClient({ serverUrl: h.fake.url, apiToken: h.fake.apiToken });
    await initSchema(client, names);
    h.fake.seedRows('Почтовые ящики', [
      {
        $key: 'info',
        Адрес: 'info@example.com',
        Host: 'imap.example.com',
        Password: 'x-secret',
        Active: true,
      },
    ]);
    h.fake.seedRows('Люди', [
      { Name: 'Ann', Телефон: '8 999 123 45 67', Mailboxes: ['info'], 'Telegram ID': '5', Active: true },
    ]);
    const directory = h.directory({ names });
    await directory.start();
    expect(directory.snapshot().users).toMatchObject([
      { name: 'Ann', phone: '+79991234567', telegramId: 5, mailboxes: ['info@example.com'], active: true },
    ]);
  });
});

describe('reading the tables', () => {
  it.each<SubscriptionForm>(['link', 'multiple-select', 'text'])(
    'resolves the Mailboxes column as a %s',
    async (form) => {
      const { directory } = await started({ seed: directorySeed(smallSpec(), form) });
      const snapshot = directory.snapshot();
      expect(snapshot.users.map((u) => [u.name, u.mailboxes])).toEqual([
        ['Ann', ['info@example.com']],
        ['Bob', ['info@example.com', 'sales@example.com']],
      ]);
      expect(snapshot.groups.map((g) => [g.title, g.mailboxes])).toEqual([['Ops', ['sales@example.com']]]);
    },
  );

  it('resolves links by row id, not by the text shown, and addresses case-insensitively', async () => {
    const h = await harness({ seed: directorySeed(smallSpec(), 'link') });
    // the mailbox's address changes: links follow the row
    h.fake.setCells('Mailboxes', h.fake.rowId('Mailboxes', 'info@example.com'), {
      Email: 'Info-New@Example.com',
    });
    const directory = h.directory();
    await directory.start();
    expect(directory.snapshot().users[0]!.mailboxes).toEqual(['info-new@example.com']);

    const t = await harness({ seed: directorySeed(smallSpec(), 'text') });
    const bob = rowIdAt(t.fake, 'Users', 1);
    t.fake.setCells('Users', bob, { Mailboxes: 'INFO@example.com; nobody@example.com' });
    const textDirectory = t.directory();
    await textDirectory.start();
    expect(textDirectory.snapshot().users[1]!.mailboxes).toEqual(['info@example.com']);
    expect(warnings(t)).toContain(
      'Users row "Bob": "Mailboxes": "nobody@example.com" is not a mailbox of the mailboxes table; ignored',
    );
  });

  it('reads every page of a 1500-user table', async () => {
    const spec = smallSpec();
    spec.users = Array.from({ length: 1500 }, (_, i) => ({
      name: `User ${i}`,
      phone: `+7999${String(1_000_000 + i)}`,
      mailboxes: ['info@example.com'],
      telegramId: 10_000 + i,
    }));
    const h = await harness({ seed: directorySeed(spec, 'link') });
    const directory = h.directory();
    await directory.start();
    expect(directory.snapshot().users).toHaveLength(1500);
    expect(directory.snapshot().users[1499]).toMatchObject({ name: 'User 1499', telegramId: 11_499 });
    const pages = h.fake.requestsTo('/rows', 'GET').filter((r) => r.query.table_name === 'Users');
    expect(pages.map((r) => [r.query.start, r.query.limit])).toEqual([
      ['0', '1000'],
      ['1000', '1000'],
    ]);
  });

  it('reads the cell forms an admin writes: TLS synonyms, ports, env passwords, sender lists, Active', async () => {
    const h = await harness({ seed: directorySeed({ mailboxes: [], users: [], groups: [] }) });
    h.fake.seedRows('Mailboxes', [
      { Email: 'a@example.com', Host: 'h', TLS: 'SSL', Password: 'pw-a-secret', Active: true },
      { Email: 'b@example.com', Host: 'h', Port: 143, Password: 'env:B_PASSWORD', Active: true },
      {
        Email: 'c@example.com',
        Host: 'h',
        TLS: 'none',
        Port: 10143,
        Password: 'pw-c-secret',
        'Allowed senders': 'x@bi.example.com\n@Other.example.com',
        Active: true,
      },
      { Email: 'd@example.com', Host: 'h', TLS: 'starttls', Password: 'pw-d-secret' },
    ]);
    const directory = h.directory({ env: { B_PASSWORD: 'b-from-env-secret' } });
    await directory.start();
    expect(
      directory
        .snapshot()
        .mailboxes.map((m) => [m.email, m.tls, m.port, m.passwordSource, m.password, m.allowFrom, m.active]),
    ).toEqual([
      ['a@example.com', 'tls', 993, 'directory', 'pw-a-secret', [], true],
      ['b@example.com', 'starttls', 143, 'env:B_PASSWORD', 'b-from-env-secret', [], true],
      [
        'c@example.com',
        'none',
        10143,
        'directory',
        'pw-c-secret',
        ['x@bi.example.com', '@other.example.com'],
        true,
      ],
      // Active not ticked: known, but not listened to
      ['d@example.com', 'starttls', 143, 'directory', 'pw-d-secret', [], false],
    ]);
    // passwords are secrets for every log line, and an env password never reaches the saved copy
    expect(h.scrubber.scrub('pw-a-secret b-from-env-secret')).toBe('[REDACTED] [REDACTED]');
    const saved = (
      h.db.prepare('SELECT snapshot FROM directory_cache WHERE source = ?').get('seatable') as {
        snapshot: string;
      }
    ).snapshot;
    expect(saved).toContain('b@example.com');
    expect(saved).not.toContain('b-from-env-secret');
  });

  it('reads a row with an empty Host as a webhook-only mailbox, without asking for a password', async () => {
    const h = await harness({ seed: directorySeed({ mailboxes: [], users: [], groups: [] }) });
    h.fake.seedRows('Mailboxes', [
      { Email: 'hook@example.com', Active: true },
      { Email: 'imap@example.com', Host: 'h', Password: 'pw-imap-secret', Active: true },
    ]);
    const directory = h.directory();
    await directory.start();
    const mailboxes = directory.snapshot().mailboxes;
    expect(mailboxes.map((m) => [m.email, isWebhookOnly(m), m.active])).toEqual([
      ['hook@example.com', true, true],
      ['imap@example.com', false, true],
    ]);
    expect(warnings(h)).toEqual([]);
  });

  it('skips rows it cannot use with one warning per row and change, and never fails the load', async () => {
    const h = await harness({ seed: directorySeed(smallSpec(), 'link') });
    const [badEmail, badPort, badTls, badSenders] = h.fake.seedRows('Mailboxes', [
      { Email: 'not-an-address', Host: 'h', Password: 'p1-secret', Active: true },
      { Email: 'port@example.com', Host: 'h', Port: 70000, Password: 'p2-secret', Active: true },
      { Email: 'tls@example.com', Host: 'h', TLS: 'starttls', Password: 'p3-secret', Active: true },
      {
        Email: 'senders@example.com',
        Host: 'h',
        'Allowed senders': 'superset@bi.example.com, nonsense',
        Password: 'p4-secret',
        Active: true,
      },
    ]);
    h.fake.setCells('Mailboxes', badTls!, { TLS: 'quantum' });
    const [badPhone] = h.fake.seedRows('Users', [{ Name: 'Zed', Phone: '12', Active: true }]);
    h.fake.seedRows('Users', [{ Name: 'Twin', Phone: '8 999 123-45-67', Active: true }]);
    h.fake.seedRows('Groups', [{ Name: 'Forum', 'Telegram ID': 'minus five', Active: true }, {}]);
    const directory = h.directory();
    await directory.start();
    const snapshot = directory.snapshot();
    expect(snapshot.mailboxes.map((m) => m.email)).toEqual(['info@example.com', 'sales@example.com']);
    expect(snapshot.users.map((u) => u.name)).toEqual(['Ann', 'Bob']);
    expect(snapshot.groups.map((g) => g.title)).toEqual(['Ops']);
    const first = warnings(h);
    expect(first).toEqual([
      'Mailboxes row "not-an-address": "Email" is not an e-mail address; the mailbox is ignored',
      'Mailboxes row "port@example.com": "Port" is not a TCP port (1–65535); the mailbox is ignored',
      'Mailboxes row "tls@example.com": "TLS" "quantum" is not tls, starttls or none; the mailbox is ignored',
      'Mailboxes row "senders@example.com": "Allowed senders": "nonsense" is neither an address nor @domain; the mailbox is ignored',
      'Users row "Zed": "Phone" "12" is not a valid phone number (numbers without a country code are read as PHONE_REGION RU); the user is ignored',
      'Users row "Twin": the phone number +7999***4567 appears in an earlier row too; this row is ignored',
      'Groups row "Forum": "Telegram ID" is not a Telegram chat id; the group is ignored',
    ]);
    // the same problems are not repeated on every refresh
    await directory.refresh();
    await directory.refresh();
    expect(warnings(h)).toEqual(first);
    // a changed row is reported again; a fixed one joins the directory
    h.fake.setCells('Users', badPhone!, { Phone: '13' });
    h.fake.setCells('Mailboxes', badPort!, { Port: 993 });
    await directory.refresh();
    expect(warnings(h).slice(first.length)).toEqual([
      'Users row "Zed": "Phone" "13" is not a valid phone number (numbers without a country code are read as PHONE_REGION RU); the user is ignored',
    ]);
    expect(directory.snapshot().mailboxes.map((m) => m.email)).toContain('port@example.com');
    expect(badEmail && badSenders).toBeTruthy();
    // passwords of skipped rows are secrets too
    expect(h.scrubber.scrub('p1-secret')).toBe('[REDACTED]');
  });

  it('keeps reading after the Base-Token expires mid-run (one new token, no error)', async () => {
    const { directory, fake } = await started({ seed: directorySeed(smallSpec()) });
    expect(fake.tokenMints).toBe(1);
    fake.expireBaseTokens();
    fake.setCells('Users', rowIdAt(fake, 'Users', 1), { 'Telegram ID': '77' });
    await directory.refresh();
    expect(directory.snapshot().users[1]!.telegramId).toBe(77);
    expect(fake.tokenMints).toBe(2);
    expect(fake.requests.filter((r) => r.status === 401)).toHaveLength(1);
  });

  it('tells listeners when a mailbox is added, changed, deactivated or removed in SeaTable', async () => {
    const { directory, fake } = await started({ seed: directorySeed(smallSpec()) });
    const seen: DirectorySnapshot[] = [];
    directory.onChange((snapshot) => seen.push(snapshot));
    const emails = () => seen.at(-1)!.mailboxes.map((m) => `${m.email}:${m.port}:${m.active}`);
    const [added] = fake.seedRows('Mailboxes', [mailboxRow({ ...INFO, email: 'new@example.com' })]);
    await directory.refresh();
    expect(emails()).toEqual([
      'info@example.com:993:true',
      'sales@example.com:993:true',
      'new@example.com:993:true',
    ]);
    fake.setCells('Mailboxes', added!, { Port: 1993 });
    await directory.refresh();
    expect(emails()).toContain('new@example.com:1993:true');
    fake.setCells('Mailboxes', added!, { Active: false });
    await directory.refresh();
    expect(emails()).toContain('new@example.com:1993:false');
    fake.removeRows('Mailboxes', [added!]);
    await directory.refresh();
    expect(emails()).toEqual(['info@example.com:993:true', 'sales@example.com:993:true']);
    expect(seen).toHaveLength(4);
  });
});

describe('outages', () => {
  it('starts from the saved copy when SeaTable is down, says so once, and catches up when it is back', async () => {
    const h = await harness({ seed: directorySeed(smallSpec()) });
    const first = h.directory();
    await first.start();
    const saved = first.snapshot();
    await first.stop();

    await h.fake.goOffline();
    const alerts = new RecordingAlerts();
    const directory = h.directory({ alerts });
    await directory.start();
    expect(directory.snapshot()).toEqual(saved);
    expect(directory.snapshot().mailboxes[0]!.password).toBe('info-secret-pw');
    await expect(directory.refresh()).rejects.toBeInstanceOf(DirectoryUnavailableError);
    await expect(directory.refresh()).rejects.toThrow(/is unreachable .*stays in use/);
    expect(alerts.events.map((e) => [e.action, e.key])).toEqual([['raise', 'seatable-unreachable']]);
    expect(alerts.events[0]!.text).toMatch(
      /^SeaTable \(http:\/\/127\.0\.0\.1:\d+\) is unreachable \(.*ECONNREFUSED.*\)\. Reports are still delivered/,
    );

    // writes are in effect at once and wait in the queue until SeaTable takes them
    const bob = directory.snapshot().users[1]!;
    await directory.setUserTelegramId(bob.key, 99);
    expect(directory.snapshot().users[1]).toMatchObject({ telegramId: 99, active: true });
    expect(h.fake.row('Users', bob.key)!['Telegram ID']).toBeNull();

    await h.fake.goOnline();
    h.fake.setCells('Users', bob.key, { Name: 'Robert' });
    await directory.refresh();
    // the re-read shows the admin's edit, and the change SeaTable may not have yet on top
    expect(directory.snapshot().users[1]).toMatchObject({ name: 'Robert', telegramId: 99 });
    await directory.writesSettled();
    expect(h.fake.row('Users', bob.key)!['Telegram ID']).toBe('99');
    expect(alerts.events.map((e) => [e.action, e.key])).toEqual([
      ['raise', 'seatable-unreachable'],
      ['clear', 'seatable-unreachable'],
    ]);
    expect(alerts.events[1]!.text).toContain('is reachable again');
  });

  it('starts from the saved copy when SeaTable is too slow, then takes the fresh directory when it answers', async () => {
    const h = await harness({ seed: directorySeed(smallSpec()) });
    const first = h.directory();
    await first.start();
    await first.stop();
    h.fake.setCells('Users', rowIdAt(h.fake, 'Users', 1), { Name: 'Robert' });
    h.fake.setLatency(1000, 'gateway');
    const alerts = new RecordingAlerts();
    const directory = h.directory({ alerts, startTimeoutMs: 100 });
    await directory.start();
    // start did not wait for the slow read: it serves what the previous run saved
    expect(directory.snapshot().users[1]!.name).toBe('Bob');
    const changes: DirectorySnapshot[] = [];
    directory.onChange((snapshot) => changes.push(snapshot));
    await eventually(() => directory.snapshot().users[1]!.name === 'Robert', 10_000, 'the fresh read');
    expect(changes).toHaveLength(1);
    await eventually(() => alerts.events.length === 2, 5000, 'the recovery');
    expect(alerts.events.map((e) => [e.action, e.key])).toEqual([
      ['raise', 'seatable-unreachable'],
      ['clear', 'seatable-unreachable'],
    ]);
    expect(alerts.events[0]!.text).toContain('no answer within 100 ms');
  });

  it('refuses to start when SeaTable is down and there is no saved copy', async () => {
    const h = await harness({ seed: directorySeed(smallSpec()) });
    await h.fake.goOffline();
    const error = await h
      .directory()
      .start()
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(DirectoryUnavailableError);
    expect((error as Error).message).toMatch(
      /is unreachable \(.*\) and there is no cached copy of the directory/,
    );
    expect((error as Error).message).not.toContain(h.fake.apiToken);
  });

  it('keeps serving while a refresh fails with server errors, and never logs the token', async () => {
    const { directory, fake, logs } = await started({ seed: directorySeed(smallSpec()) });
    const before = directory.snapshot();
    fake.failNext(20, 502);
    await expect(directory.refresh()).rejects.toBeInstanceOf(DirectoryUnavailableError);
    expect(directory.snapshot()).toBe(before);
    expect(logs.text()).not.toContain(fake.apiToken);
  });
});

describe('the base changes shape while the bot runs', () => {
  it('keeps the last good copy when a column disappears, says so once, and recovers when it is back', async () => {
    const alerts = new RecordingAlerts();
    const { directory, fake } = await started({ seed: directorySeed(smallSpec()) }, { alerts });
    const before = directory.snapshot();
    fake.renameColumn('Users', 'Phone', 'Telefon');
    await expect(directory.refresh()).rejects.toBeInstanceOf(SeaTableSchemaError);
    await expect(directory.refresh()).rejects.toThrow('column "Phone" is missing in table "Users"');
    expect(directory.snapshot()).toBe(before);
    expect(alerts.events.map((e) => [e.action, e.key])).toEqual([['raise', 'seatable-schema']]);
    fake.renameColumn('Users', 'Telefon', 'Phone');
    await directory.refresh();
    expect(alerts.events.map((e) => [e.action, e.key])).toEqual([
      ['raise', 'seatable-schema'],
      ['clear', 'seatable-schema'],
    ]);
  });
});

describe('writes', () => {
  it('never overwrites a group locked by another chat between the check and the write', async () => {
    const h = await harness({ seed: directorySeed(smallSpec()) });
    const fake: FakeSeaTable = h.fake;
    const opsRow = rowIdAt(fake, 'Groups', 0);
    fake.setCells('Groups', opsRow, { 'Telegram ID': null, Locked: false });
    // another bot instance (or a human) locks the group to its chat just before our UPDATE lands
    class RacingClient extends SeaTableClient {
      override async sql(
        statement: string,
        parameters: readonly SeaTableSqlParameter[] = [],
      ): Promise<SeaTableSqlResult> {
        if (statement.startsWith('UPDATE'))
          fake.setCells('Groups', opsRow, { 'Telegram ID': '-200', Locked: true });
        return super.sql(statement, parameters);
      }
    }
    const directory = h.directory({
      client: new RacingClient({ serverUrl: fake.url, apiToken: fake.apiToken }),
    });
    await directory.start();
    const claim = await directory.claimGroup('Ops', -300);
    expect(claim).toMatchObject({
      outcome: 'locked-to-another-chat',
      group: { telegramId: -200, locked: true },
    });
    expect(fake.row('Groups', opsRow)).toMatchObject({ 'Telegram ID': '-200', Locked: true });
    expect(directory.snapshot().groups[0]).toMatchObject({ telegramId: -200, locked: true });
  });

  it('refuses a claim when the copy is stale and SeaTable shows the group locked to another chat', async () => {
    const { directory, fake } = await started({ seed: directorySeed(smallSpec()) });
    const row = rowIdAt(fake, 'Groups', 0);
    fake.setCells('Groups', row, { 'Telegram ID': '-555' });
    fake.clearRequests();
    const claim = await directory.claimGroup('Ops', -100999);
    expect(claim.outcome).toBe('locked-to-another-chat');
    expect(fake.row('Groups', row)!['Telegram ID']).toBe('-555');
    // nothing was written
    expect(fake.requests.some((r) => JSON.stringify(r.body ?? '').includes('UPDATE'))).toBe(false);
  });

  it('writes Telegram ids into a number column as numbers, and into a text column as text', async () => {
    const seed = directorySeed(smallSpec());
    for (const table of seed.tables) {
      if (table.name === 'Users') {
        table.columns = table.columns.map((c) =>
          c.name === 'Telegram ID' ? { name: 'Telegram ID', type: 'number' as const } : c,
        );
        for (const row of table.rows ?? [])
          row['Telegram ID'] = row['Telegram ID'] === null ? null : Number(row['Telegram ID']);
      }
    }
    const { directory, fake } = await started({ seed });
    const bob = directory.snapshot().users[1]!;
    await directory.setUserTelegramId(bob.key, 11);
    await directory.writesSettled();
    expect(fake.rows('Users').map((r) => r['Telegram ID'])).toEqual([null, 11]);
    await directory.claimGroup('Ops', -100);
    await directory.writesSettled();
    expect(fake.rows('Groups')[0]!['Telegram ID']).toBe('-100');
    // only the columns the bot owns were written: never Active, which is the admin's
    const puts = fake.requestsTo('/rows', 'PUT').map((r) => r.body as { updates: Array<{ row: object }> });
    expect(puts.flatMap((b) => b.updates.map((u) => Object.keys(u.row).sort()))).toEqual([
      ['Telegram ID'],
      ['Telegram ID'],
    ]);
    const sql = fake.requestsTo('/sql', 'POST').map((r) => (r.body as { sql: string }).sql);
    const updates = sql.filter((text) => text.startsWith('UPDATE'));
    expect(updates.length).toBeGreaterThan(0);
    for (const text of updates) expect(text).not.toContain('`Active`');
  });

  it('registers a group added in SeaTable after the last refresh', async () => {
    const { directory, fake } = await started({ seed: directorySeed(smallSpec()) });
    fake.seedRows('Groups', [
      { Name: 'Brand New', Mailboxes: [fake.rowId('Mailboxes', 'info@example.com')], Active: true },
    ]);
    const claim = await directory.claimGroup('Brand New', -100123);
    expect(claim.outcome).toBe('registered');
    expect(directory.snapshot().groups.find((g) => g.title === 'Brand New')).toMatchObject({
      telegramId: -100123,
      locked: true,
      mailboxes: ['info@example.com'],
    });
  });
});

describe('the write queue', () => {
  it('keeps changes made while SeaTable is down across a restart, and writes them once it is back', async () => {
    const h = await harness({ seed: directorySeed(smallSpec()) });
    const first = h.directory();
    await first.start();
    const bob = first.snapshot().users[1]!;
    // the admin paused Bob: registering his account must not switch him on
    h.fake.setCells('Users', bob.key, { Active: false });
    await first.refresh();
    await h.fake.goOffline();
    const startedAt = Date.now();
    await first.setUserTelegramId(bob.key, 4242);
    await first.moveGroupChat(-100, -1001);
    expect(Date.now() - startedAt).toBeLessThan(100);
    expect(first.snapshot().users.map((user) => [user.telegramId, user.active])).toEqual([
      [11, true],
      [4242, false],
    ]);
    expect(first.snapshot().groups[0]!.telegramId).toBe(-1001);
    await first.stop();

    // a new run during the outage: the saved copy and the queued changes
    const second = h.directory();
    await second.start();
    expect(second.snapshot().users.map((user) => [user.telegramId, user.active])).toEqual([
      [11, true],
      [4242, false],
    ]);
    expect(second.snapshot().groups[0]!.telegramId).toBe(-1001);
    await h.fake.goOnline();
    await second.writesSettled();
    expect(h.fake.rows('Users').map((row) => [row['Telegram ID'], row.Active])).toEqual([
      ['11', true],
      ['4242', false],
    ]);
    expect(h.fake.rows('Groups')[0]!['Telegram ID']).toBe('-1001');
    expect(h.db.prepare('SELECT COUNT(*) AS n FROM directory_writes').get()).toEqual({ n: 0 });
  });

  it('confirms a registration at once while every third SeaTable call answers 429, and writes it after', async () => {
    const h = await harness({ seed: directorySeed(smallSpec()) });
    const opsRow = rowIdAt(h.fake, 'Groups', 0);
    h.fake.setCells('Groups', opsRow, { 'Telegram ID': null, Locked: false });
    // the client waits out the announced reset (1–2 s here, a minute in the fault suite)
    const client = new SeaTableClient({
      serverUrl: h.fake.url,
      apiToken: h.fake.apiToken,
      maxAttempts: 3,
      retryBaseDelayMs: 10,
    });
    const directory = h.directory({ client, claimWaitMs: 300 });
    await directory.start();
    const stop = h.fake.failEvery(3, 429, { resetInSeconds: 1 });
    h.fake.clearRequests();
    const bob = directory.snapshot().users[1]!;
    const before = Date.now();
    await directory.setUserTelegramId(bob.key, 777);
    expect(await directory.claimGroup('Ops', -300)).toMatchObject({ outcome: 'registered' });
    expect(Date.now() - before).toBeLessThan(1000);
    expect(directory.snapshot().users[1]!.telegramId).toBe(777);
    await directory.writesSettled();
    expect(h.fake.row('Groups', opsRow)).toMatchObject({ 'Telegram ID': '-300', Locked: true });
    stop();
    expect(h.fake.row('Users', bob.key)!['Telegram ID']).toBe('777');
    expect(h.fake.requests.some((request) => request.status === 429)).toBe(true);
  });

  it('undoes a group registration confirmed from the copy when SeaTable shows the group locked to another chat', async () => {
    const alerts = new RecordingAlerts();
    const h = await harness({ seed: directorySeed(smallSpec()) });
    const opsRow = rowIdAt(h.fake, 'Groups', 0);
    h.fake.setCells('Groups', opsRow, { 'Telegram ID': null, Locked: false });
    const directory = h.directory({ alerts, claimWaitMs: 200 });
    await directory.start();
    const rejections: unknown[] = [];
    directory.onWriteRejected((rejection) => rejections.push(rejection));

    await h.fake.goOffline();
    const claim = await directory.claimGroup('Ops', -300);
    expect(claim).toMatchObject({ outcome: 'registered', group: { telegramId: -300, locked: true } });
    expect(directory.snapshot().groups[0]).toMatchObject({ telegramId: -300, locked: true, active: true });
    // meanwhile another chat took the group in SeaTable
    h.fake.setCells('Groups', opsRow, { 'Telegram ID': '-200', Locked: true });
    await h.fake.goOnline();
    await directory.writesSettled();

    expect(rejections).toEqual([{ kind: 'group-claim', chatId: -300, title: 'Ops', lockedTo: -200 }]);
    expect(directory.snapshot().groups[0]).toMatchObject({ telegramId: -200, locked: true });
    expect(h.fake.row('Groups', opsRow)).toMatchObject({ 'Telegram ID': '-200', Locked: true });
    // the next read does not bring the undone registration back
    await directory.refresh();
    expect(directory.snapshot().groups[0]!.telegramId).toBe(-200);
  });

  it('hands a refusal that happened before anyone listened to the first listener', async () => {
    const h = await harness({ seed: directorySeed(smallSpec()) });
    const opsRow = rowIdAt(h.fake, 'Groups', 0);
    h.fake.setCells('Groups', opsRow, { 'Telegram ID': null, Locked: false });
    const first = h.directory({ claimWaitMs: 100 });
    await first.start();
    await h.fake.goOffline();
    expect((await first.claimGroup('Ops', -300)).outcome).toBe('registered');
    await first.stop();
    h.fake.setCells('Groups', opsRow, { 'Telegram ID': '-200', Locked: true });
    await h.fake.goOnline();

    const second = h.directory();
    await second.start();
    await second.writesSettled();
    const heard: unknown[] = [];
    second.onWriteRejected((rejection) => heard.push(rejection));
    expect(heard).toEqual([{ kind: 'group-claim', chatId: -300, title: 'Ops', lockedTo: -200 }]);
  });

  it('drops a change SeaTable refuses for good, says so, and goes on with the next one', async () => {
    const alerts = new RecordingAlerts();
    const { directory, fake } = await started({ seed: directorySeed(smallSpec()) }, { alerts });
    const [ann, bob] = directory.snapshot().users;
    // the admin deleted Bob's row since the last read
    fake.removeRows('Users', [bob!.key]);
    await directory.setUserTelegramId(bob!.key, 55);
    await directory.setUserActive(ann!.key, false);
    await directory.writesSettled();
    expect(fake.row('Users', ann!.key)!.Active).toBe(false);
    const dropped = alerts.events.filter((event) => event.key.startsWith('seatable-write-dropped:'));
    expect(dropped).toHaveLength(1);
    expect(dropped[0]!.text).toContain(`set the Telegram id of user row ${bob!.key} to 55`);
  });

  it('updates the copy in place after a write instead of re-reading the base', async () => {
    const { directory, fake } = await started({ seed: directorySeed(smallSpec()) });
    fake.clearRequests();
    await directory.setUserTelegramId(directory.snapshot().users[1]!.key, 31);
    await directory.setUserActive(directory.snapshot().users[0]!.key, false);
    await directory.moveGroupChat(-100, -1001234);
    await directory.writesSettled();
    expect(fake.requestsTo('/rows', 'GET')).toHaveLength(0);
    expect(fake.requestsTo('/metadata', 'GET')).toHaveLength(0);
    expect(directory.snapshot().groups[0]!.telegramId).toBe(-1001234);
    expect(fake.rows('Groups')[0]!['Telegram ID']).toBe('-1001234');
  });

  it('does not keep a sender waiting while SeaTable is slow', async () => {
    const { directory, fake } = await started({ seed: directorySeed(smallSpec()) });
    fake.setLatency(3000, 'gateway');
    const before = Date.now();
    await directory.setUserActive(directory.snapshot().users[0]!.key, false);
    await directory.moveGroupChat(-100, -1009);
    expect(Date.now() - before).toBeLessThan(100);
    expect(directory.snapshot().users[0]!.active).toBe(false);
    expect(directory.snapshot().groups[0]!.telegramId).toBe(-1009);
    fake.setLatency(0);
    await directory.writesSettled();
    expect(fake.rows('Users')[0]!.Active).toBe(false);
  });

  it('re-reads for unknown phones at most once per interval, whoever asks', async () => {
    const { directory, fake } = await started(
      { seed: directorySeed(smallSpec()) },
      { missRefreshIntervalMs: 60_000 },
    );
    fake.clearRequests();
    await Promise.all([directory.refreshAfterMiss(), directory.refreshAfterMiss()]);
    for (let index = 0; index < 20; index++) await directory.refreshAfterMiss();
    expect(fake.requestsTo('/metadata', 'GET')).toHaveLength(1);

    // the answer of a failed read stands until the next one is due
    const other = await started({ seed: directorySeed(smallSpec()) }, { missRefreshIntervalMs: 60_000 });
    await other.fake.goOffline();
    await expect(other.directory.refreshAfterMiss()).rejects.toBeInstanceOf(DirectoryUnavailableError);
    await other.fake.goOnline();
    other.fake.clearRequests();
    await expect(other.directory.refreshAfterMiss()).rejects.toBeInstanceOf(DirectoryUnavailableError);
    expect(other.fake.requests).toHaveLength(0);
  });
});
