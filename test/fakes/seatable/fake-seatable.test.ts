/**
 * FakeSeaTable against the documented API, with raw fetch: each test pins one behaviour of the
 * research note's §6 list (or of a decision written at the top of fake-seatable.ts).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { FakeSeaTable, type FakeSeaTableOptions } from './fake-seatable.js';

const ROW_ID = /^[A-Za-z0-9_-]{22}$/;

/** A parsed JSON body: the tests walk it freely and their assertions check its shape. */
// biome-ignore lint/suspicious/noExplicitAny: response bodies of the API under test
type Json = any;

const fakes: FakeSeaTable[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

async function start(options: FakeSeaTableOptions = {}): Promise<FakeSeaTable> {
  const fake = await FakeSeaTable.start(options);
  fakes.push(fake);
  return fake;
}

/** The directory's three tables, linked, with a few rows. */
function directorySeed(): FakeSeaTableOptions['seed'] {
  return {
    tables: [
      {
        name: 'Mailboxes',
        columns: [
          { name: 'Name', type: 'text' },
          { name: 'Host', type: 'text' },
        ],
        rows: [
          { $key: 'info', Name: 'info@example.com', Host: 'imap.example.com' },
          { $key: 'sales', Name: 'sales@example.com', Host: 'imap.example.com' },
        ],
      },
      {
        name: 'Users',
        columns: [
          { name: 'Name', type: 'text' },
          { name: 'Phone', type: 'text' },
          { name: 'Telegram ID', type: 'text' },
          { name: 'Locked', type: 'checkbox' },
          { name: 'Role', type: 'single-select', options: ['admin', 'viewer'] },
          { name: 'Tags', type: 'multiple-select', options: ['a', 'b'] },
          { name: 'Mailboxes', type: 'link', linkTo: 'Mailboxes' },
          { name: 'Since', type: 'date' },
          { name: 'Score', type: 'number' },
          { name: 'No', type: 'auto-number' },
          { name: 'Label', type: 'formula', data: { formula: '{Name}' } },
        ],
        rows: [
          {
            $key: 'ann',
            Name: 'Ann',
            Phone: '+4915112345678',
            Locked: true,
            Role: 'admin',
            Tags: ['a'],
            Mailboxes: ['info', 'sales'],
            Since: '2024-01-02',
            Score: 3,
            Label: 'Ann!',
          },
          { $key: 'bob', Name: 'Bob', Phone: '+4915100000000', 'Telegram ID': '', Role: 'viewer', Score: 10 },
          { $key: 'cid', Name: 'Cid', Phone: '', Mailboxes: ['sales'] },
        ],
      },
    ],
  };
}

async function mint(
  fake: FakeSeaTable,
  apiToken = fake.apiToken,
  query = '',
): Promise<Record<string, unknown>> {
  const res = await fetch(`${fake.url}/api/v2.1/dtable/app-access-token/${query}`, {
    headers: { authorization: `Token ${apiToken}` },
  });
  expect(res.status).toBe(200);
  return (await res.json()) as Record<string, unknown>;
}

async function baseToken(fake: FakeSeaTable, apiToken = fake.apiToken): Promise<string> {
  return (await mint(fake, apiToken)).access_token as string;
}

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  json: Json;
}

async function call(
  fake: FakeSeaTable,
  token: string,
  method: string,
  path: string,
  options: { query?: Record<string, string | number | boolean>; body?: unknown; scheme?: string } = {},
): Promise<Answer> {
  const url = new URL(`${fake.url}/api-gateway/api/v2/dtables/${fake.baseUuid}/${path}`);
  for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, String(v));
  const res = await fetch(url, {
    method,
    headers: {
      authorization: `${options.scheme ?? 'Bearer'} ${token}`,
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

async function sql(
  fake: FakeSeaTable,
  token: string,
  statement: string,
  parameters?: unknown[],
  convertKeys = true,
) {
  return call(fake, token, 'POST', 'sql/', {
    body: { sql: statement, convert_keys: convertKeys, ...(parameters ? { parameters } : {}) },
  });
}

describe('FakeSeaTable: API-Token → Base-Token', () => {
  it('mints an HS256 JWT with exp, dtable_uuid, permission and app_name, with either scheme', async () => {
    const fake = await start({ baseTokenLifetimeSeconds: 600 });
    const before = Math.floor(fake.now() / 1000);
    const body = await mint(fake);
    expect(body).toMatchObject({
      app_name: 'superset-telegram-bot',
      dtable_uuid: fake.baseUuid,
      dtable_server: `${fake.url}/api-gateway/`,
      use_api_gateway: true,
      workspace_id: 1,
    });
    const token = body.access_token as string;
    expect(JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())).toEqual({
      typ: 'JWT',
      alg: 'HS256',
    });
    const payload = claims(token);
    expect(payload).toMatchObject({ dtable_uuid: fake.baseUuid, permission: 'rw', username: '' });
    expect(payload.exp).toBeGreaterThanOrEqual(before + 600);
    expect(payload.exp).toBeLessThanOrEqual(before + 601);

    const bearer = await fetch(`${fake.url}/api/v2.1/dtable/app-access-token`, {
      headers: { authorization: `Bearer ${fake.readOnlyApiToken}` },
    });
    expect(bearer.status).toBe(200);
    expect(claims(((await bearer.json()) as { access_token: string }).access_token).permission).toBe('r');
    expect(fake.tokenMints).toBe(2);
    expect(fake.requests.map((r) => r.authScheme)).toEqual(['Token', 'Bearer']);
  });

  it('honours ?exp= in hours and days and refuses other forms', async () => {
    const fake = await start();
    const now = Math.floor(fake.now() / 1000);
    expect(
      claims((await mint(fake, fake.apiToken, '?exp=5h')).access_token as string).exp,
    ).toBeGreaterThanOrEqual(now + 5 * 3600);
    expect(
      claims((await mint(fake, fake.apiToken, '?exp=1d')).access_token as string).exp,
    ).toBeLessThanOrEqual(now + 86_400 + 1);
    const bad = await fetch(`${fake.url}/api/v2.1/dtable/app-access-token/?exp=soon`, {
      headers: { authorization: `Token ${fake.apiToken}` },
    });
    expect(bad.status).toBe(400);
    expect(await bad.json()).toEqual({ error_msg: 'exp invalid.' });
  });

  it('refuses an unknown API token with 403 error_msg, or 401 detail when configured', async () => {
    const fake = await start();
    const res = await fetch(`${fake.url}/api/v2.1/dtable/app-access-token/`, {
      headers: { authorization: 'Token 0000000000000000000000000000000000000000' },
    });
    expect(res.status).toBe(403);
    expect(await res.json()).toEqual({ error_msg: 'Permission denied.' });

    const drf = await start({ invalidApiTokenResponse: 'invalid-token-401' });
    drf.revokeApiToken(drf.apiToken);
    const res2 = await fetch(`${drf.url}/api/v2.1/dtable/app-access-token/`, {
      headers: { authorization: `Token ${drf.apiToken}` },
    });
    expect(res2.status).toBe(401);
    expect(await res2.json()).toEqual({ detail: 'Invalid token' });
    expect(drf.tokenMints).toBe(0);
  });

  it('throttles token exchanges like Django REST framework', async () => {
    const fake = await start({ tokenRateLimitPerMinute: 2 });
    await mint(fake);
    await mint(fake);
    const res = await fetch(`${fake.url}/api/v2.1/dtable/app-access-token/`, {
      headers: { authorization: `Token ${fake.apiToken}` },
    });
    expect(res.status).toBe(429);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(((await res.json()) as { detail: string }).detail).toMatch(
      /^Request was throttled\. Expected available in \d+ seconds\.$/,
    );
    fake.advanceTime(61);
    await mint(fake);
  });

  it('imitates a 4.x server without the api-gateway', async () => {
    const fake = await start({ useApiGateway: false });
    const body = await mint(fake);
    expect(body.use_api_gateway).toBeUndefined();
    expect(body.dtable_server).toBe(`${fake.url}/dtable-server/`);
    expect(body.dtable_db).toBe(`${fake.url}/dtable-db/`);
    const res = await call(fake, body.access_token as string, 'GET', 'metadata/');
    expect(res.status).toBe(404);
  });
});

describe('FakeSeaTable: Base-Token checks', () => {
  it('accepts Token and Bearer, with or without the trailing slash', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    expect((await call(fake, token, 'GET', 'metadata/', { scheme: 'Token' })).status).toBe(200);
    expect((await call(fake, token, 'GET', 'metadata', { scheme: 'Bearer' })).status).toBe(200);
    expect((await sql(fake, token, 'SELECT Name FROM Users')).status).toBe(200);
    const noSlash = await call(fake, token, 'POST', 'sql', { body: { sql: 'SELECT Name FROM Users' } });
    expect(noSlash.status).toBe(200);
  });

  it('answers an expired token with 401 "Token expired." (or 403 when configured)', async () => {
    const fake = await start({ seed: directorySeed(), baseTokenLifetimeSeconds: 60 });
    const token = await baseToken(fake);
    expect((await call(fake, token, 'GET', 'metadata/')).status).toBe(200);
    fake.advanceTime(61);
    const expired = await call(fake, token, 'GET', 'metadata/');
    expect(expired.status).toBe(401);
    expect(expired.json).toEqual({ error_message: 'Token expired.' });

    const strict = await start({ expiredTokenStatus: 403 });
    const token2 = await baseToken(strict);
    strict.expireBaseTokens();
    const res = await call(strict, token2, 'GET', 'metadata/');
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ error_message: 'Token expired.' });
    expect((await call(strict, await baseToken(strict), 'GET', 'metadata/')).status).toBe(200);
  });

  it('refuses a token of another base, a forged token, and a missing header', async () => {
    const fake = await start();
    const other = await start();
    const foreign = await baseToken(other);
    const res = await call(fake, foreign, 'GET', 'metadata/');
    expect(res.status).toBe(403);
    expect(res.json).toEqual({ error_message: 'invalid token' });
    const own = await baseToken(fake);
    const forged = `${own.split('.')[0]}.${own.split('.')[1]}.AAAA`;
    expect((await call(fake, forged, 'GET', 'metadata/')).status).toBe(403);
    const bare = await fetch(`${fake.url}/api-gateway/api/v2/dtables/${fake.baseUuid}/metadata/`);
    expect(bare.status).toBe(401);
  });

  it('lets a read-only token read but not write', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake, fake.readOnlyApiToken);
    expect((await call(fake, token, 'GET', 'rows/', { query: { table_name: 'Users' } })).status).toBe(200);
    const write = await call(fake, token, 'PUT', 'rows/', {
      body: { table_name: 'Users', updates: [{ row_id: fake.rowId('Users', 'bob'), row: { Phone: '1' } }] },
    });
    expect(write.status).toBe(403);
    expect(write.json).toEqual({
      error_msg: "You don't have permission to perform this operation on this base.",
    });
    const update = await sql(fake, token, "UPDATE Users SET Phone = '1'");
    expect(update.status).toBe(403);
    expect(fake.row('Users', fake.rowId('Users', 'bob'))?.Phone).toBe('+4915100000000');
  });
});

describe('FakeSeaTable: metadata', () => {
  it('describes tables, columns, select options, link columns and the default view', async () => {
    const fake = await start({ seed: directorySeed() });
    const res = await call(fake, await baseToken(fake), 'GET', 'metadata/');
    const tables = res.json.metadata.tables as Json[];
    expect(tables.map((t) => t.name)).toEqual(['Mailboxes', 'Users']);
    expect(tables[0]._id).toBe('0000');
    for (const table of tables) {
      expect(table._id).toMatch(/^[A-Za-z0-9]{4}$/);
      expect(table.columns[0].key).toBe('0000');
      expect(table.views).toEqual([
        expect.objectContaining({ _id: '0000', name: 'Default View', filters: [] }),
      ]);
      for (const column of table.columns) {
        expect(column).toEqual(
          expect.objectContaining({ key: expect.stringMatching(/^.{4}$/), name: expect.any(String) }),
        );
        expect(column).toHaveProperty('type');
        expect(column).toHaveProperty('data');
      }
    }
    const [mailboxes, users] = tables;
    const role = users.columns.find((c: Json) => c.name === 'Role');
    expect(role.data.options.map((o: Json) => o.name)).toEqual(['admin', 'viewer']);
    expect(role.data.options[0].id).toMatch(/^[A-Za-z0-9]{6}$/);
    const link = users.columns.find((c: Json) => c.name === 'Mailboxes');
    const twin = mailboxes.columns.find((c: Json) => c.type === 'link');
    expect(twin.name).toBe('Users');
    expect(link.data).toMatchObject({
      table_id: users._id,
      other_table_id: mailboxes._id,
      display_column_key: '0000',
      is_multiple: true,
    });
    expect(twin.data).toMatchObject({ table_id: mailboxes._id, other_table_id: users._id });
    expect(link.data.link_id).toMatch(/^[A-Za-z0-9]{4}$/);
    expect(twin.data.link_id).toBe(link.data.link_id);
    expect(link.key).not.toBe(link.data.link_id);
    expect(res.json.metadata).toMatchObject({ format_version: 7, version: expect.any(Number) });
  });
});

describe('FakeSeaTable: list and get rows', () => {
  it('returns column keys by default and names with convert_keys, every column present', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const byKey = await call(fake, token, 'GET', 'rows/', { query: { table_name: 'Users' } });
    expect(byKey.json.rows[0]['0000']).toBe('Ann');
    expect(byKey.json.rows[0].Name).toBeUndefined();

    const byName = await call(fake, token, 'GET', 'rows/', {
      query: { table_name: 'Users', convert_keys: true },
    });
    const [ann, bob, cid] = byName.json.rows;
    expect(ann._id).toMatch(ROW_ID);
    expect(ann._ctime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
    expect(ann).toMatchObject({
      Name: 'Ann',
      Locked: true,
      Role: 'admin',
      Tags: ['a'],
      Since: '2024-01-02',
      Score: 3,
      No: '0001',
      Label: 'Ann!',
      Mailboxes: [
        { row_id: fake.rowId('Mailboxes', 'info'), display_value: 'info@example.com' },
        { row_id: fake.rowId('Mailboxes', 'sales'), display_value: 'sales@example.com' },
      ],
    });
    expect(bob).toMatchObject({
      'Telegram ID': null,
      Locked: null,
      Tags: null,
      Mailboxes: [],
      Since: null,
      No: '0002',
    });
    expect(cid.Phone).toBeNull();
    const mailboxes = await call(fake, token, 'GET', 'rows/', {
      query: { table_id: '0000', convert_keys: true },
    });
    expect(mailboxes.json.rows[1].Users.map((l: Json) => l.display_value)).toEqual(['Ann', 'Cid']);
  });

  it('pages with start/limit, clamps limit to 1000 and refuses limit 0', async () => {
    const fake = await start({ seed: { tables: [{ name: 'T', columns: [{ name: 'N', type: 'number' }] }] } });
    fake.seedRows(
      'T',
      Array.from({ length: 1500 }, (_, i) => ({ N: i })),
    );
    const token = await baseToken(fake);
    const all = await call(fake, token, 'GET', 'rows/', {
      query: { table_name: 'T', limit: 5000, convert_keys: true },
    });
    expect(all.json.rows).toHaveLength(1000);
    const page2 = await call(fake, token, 'GET', 'rows/', {
      query: { table_name: 'T', start: 1000, limit: 1000, convert_keys: true },
    });
    expect(page2.json.rows).toHaveLength(500);
    expect(page2.json.rows[0].N).toBe(1000);
    const defaults = await call(fake, token, 'GET', 'rows/', { query: { table_name: 'T' } });
    expect(defaults.json.rows).toHaveLength(1000);
    expect((await call(fake, token, 'GET', 'rows/', { query: { table_name: 'T', limit: 0 } })).status).toBe(
      400,
    );
  });

  it('caps link cells at 50', async () => {
    const fake = await start({
      seed: {
        tables: [
          { name: 'A', columns: [{ name: 'Name', type: 'text' }], rows: [{ $key: 'a', Name: 'a' }] },
          {
            name: 'B',
            columns: [
              { name: 'Name', type: 'text' },
              { name: 'As', type: 'link', linkTo: 'A' },
            ],
          },
        ],
      },
    });
    fake.seedRows(
      'B',
      Array.from({ length: 60 }, (_, i) => ({ Name: `b${i}`, As: ['a'] })),
    );
    expect(fake.rows('A')[0]!.B).toHaveLength(50);
  });

  it('answers an unknown table or view with 404, and gets one row by id', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const missing = await call(fake, token, 'GET', 'rows/', { query: { table_name: 'Nope' } });
    expect(missing.status).toBe(404);
    expect(missing.json).toEqual({ error_message: 'table not found' });
    const view = await call(fake, token, 'GET', 'rows/', {
      query: { table_name: 'Users', view_name: 'Mine' },
    });
    expect(view.status).toBe(404);
    const defaultView = await call(fake, token, 'GET', 'rows/', {
      query: { table_name: 'Users', view_name: 'Default View' },
    });
    expect(defaultView.json.rows).toHaveLength(3);

    const id = fake.rowId('Users', 'bob');
    const row = await call(fake, token, 'GET', `rows/${id}/`, {
      query: { table_name: 'Users', convert_keys: true },
    });
    expect(row.json).toMatchObject({ _id: id, Name: 'Bob' });
    const none = await call(fake, token, 'GET', 'rows/AAAAAAAAAAAAAAAAAAAAAA/', {
      query: { table_name: 'Users' },
    });
    expect(none.status).toBe(404);
    expect(none.json).toEqual({ error_message: 'row _id not exits' });
  });
});

describe('FakeSeaTable: writing rows', () => {
  it('appends rows: first_row keyed by column key, auto-number assigned, unknown and read-only columns ignored', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const res = await call(fake, token, 'POST', 'rows/', {
      body: {
        table_name: 'Users',
        rows: [{ Name: 'Dee', Nmae: 'typo', Label: 'x', No: '9' }, { Name: 'Eve' }],
      },
    });
    expect(res.status).toBe(200);
    expect(res.json.inserted_row_count).toBe(2);
    expect(res.json.row_ids).toEqual([
      { _id: expect.stringMatching(ROW_ID) },
      { _id: expect.stringMatching(ROW_ID) },
    ]);
    expect(res.json.first_row).toMatchObject({
      '0000': 'Dee',
      _id: res.json.row_ids[0]._id,
      _creator: expect.any(String),
    });
    const dee = fake.row('Users', res.json.row_ids[0]._id)!;
    expect(dee).toMatchObject({ Name: 'Dee', No: '0004', Label: null });
    expect(dee).not.toHaveProperty('Nmae');
    const tooMany = await call(fake, token, 'POST', 'rows/', {
      body: { table_name: 'Users', rows: Array.from({ length: 1001 }, () => ({ Name: 'x' })) },
    });
    expect(tooMany.status).toBe(400);
  });

  it('updates by name only: partial merge, silent ignores, new select options, _mtime bumped', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const id = fake.rowId('Users', 'ann');
    const before = fake.row('Users', id)!;
    const res = await call(fake, token, 'PUT', 'rows/', {
      body: {
        table_name: 'Users',
        updates: [
          {
            row_id: id,
            row: { 'Telegram ID': '42', 'Telegram Id': '43', Role: 'owner', No: '7', Mailboxes: [] },
          },
          { row_id: 'AAAAAAAAAAAAAAAAAAAAAA', row: { Name: 'ghost' } },
        ],
      },
    });
    expect(res.status).toBe(200);
    expect(res.json).toEqual({ success: true });
    const after = fake.row('Users', id)!;
    expect(after).toMatchObject({
      Name: 'Ann',
      Phone: '+4915112345678',
      'Telegram ID': '42',
      Role: 'owner',
      No: '0001',
    });
    expect((after.Mailboxes as unknown[]).length).toBe(2);
    expect(Date.parse(after._mtime as string)).toBeGreaterThan(Date.parse(before._mtime as string));
    const role = (fake.metadata().tables as Json[])[1].columns.find((c: Json) => c.name === 'Role');
    expect(role.data.options.map((o: Json) => o.name)).toEqual(['admin', 'viewer', 'owner']);
    expect(fake.rows('Users').some((r) => r.Name === 'ghost')).toBe(false);

    const tooMany = await call(fake, token, 'PUT', 'rows/', {
      body: {
        table_name: 'Users',
        updates: Array.from({ length: 1001 }, () => ({ row_id: id, row: { Name: 'x' } })),
      },
    });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.error_message).toEqual(expect.any(String));
  });

  it('deletes rows and their links', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const res = await call(fake, token, 'DELETE', 'rows/', {
      body: { table_name: 'Mailboxes', row_ids: [fake.rowId('Mailboxes', 'sales')] },
    });
    expect(res.json).toEqual({ success: true });
    expect(fake.rows('Mailboxes')).toHaveLength(1);
    expect(fake.rows('Users')[2]!.Mailboxes).toEqual([]);
  });
});

describe('FakeSeaTable: SQL', () => {
  it('selects with ? parameters, returns _id always, keys or names per convert_keys', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const res = await sql(fake, token, 'SELECT Name, `Telegram ID` FROM Users WHERE Phone = ?', [
      '+4915100000000',
    ]);
    expect(res.json).toEqual({
      success: true,
      metadata: [
        expect.objectContaining({ key: '0000', name: 'Name', type: 'text' }),
        expect.objectContaining({ name: 'Telegram ID', type: 'text' }),
      ],
      results: [{ Name: 'Bob', 'Telegram ID': null, _id: fake.rowId('Users', 'bob') }],
    });
    const keys = await sql(fake, token, 'SELECT Name, Role FROM Users WHERE Name = ?', ['Ann'], false);
    const roleKey = keys.json.metadata[1].key;
    expect(keys.json.results[0]['0000']).toBe('Ann');
    expect(keys.json.results[0][roleKey]).toMatch(/^\d{6}$/);
    const names = await sql(fake, token, 'SELECT Role, Tags, Since, Mailboxes FROM Users WHERE Name = "Ann"');
    expect(names.json.results[0]).toMatchObject({
      Role: 'admin',
      Tags: ['a'],
      Since: '2024-01-02T00:00:00Z',
      Mailboxes: [expect.objectContaining({ display_value: 'info@example.com' }), expect.any(Object)],
    });
    const star = await sql(fake, token, 'SELECT * FROM Users LIMIT 1');
    expect(Object.keys(star.json.results[0])).toEqual(
      expect.arrayContaining(['Name', 'No', '_id', '_ctime', '_mtime']),
    );
  });

  it('evaluates WHERE with NULL rules, IN, LIKE, IS [NOT] TRUE, AND/OR and parentheses', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const names = async (where: string, parameters?: unknown[]) => {
      const res = await sql(fake, token, `SELECT Name FROM Users WHERE ${where} ORDER BY Name`, parameters);
      expect(res.status, res.text).toBe(200);
      return (res.json.results as Json[]).map((r) => r.Name);
    };
    expect(await names("Phone != '+4915112345678'")).toEqual(['Bob', 'Cid']);
    expect(await names('Phone IS NULL')).toEqual(['Cid']);
    expect(await names('`Telegram ID` IS NULL')).toEqual(['Ann', 'Bob', 'Cid']);
    expect(await names('Locked IS TRUE')).toEqual(['Ann']);
    expect(await names('Locked IS NOT TRUE')).toEqual(['Bob', 'Cid']);
    expect(await names('Role IN (?, ?)', ['viewer', 'owner'])).toEqual(['Bob']);
    expect(await names('Role NOT IN (?)', ['viewer'])).toEqual(['Ann', 'Cid']);
    expect(await names("Phone LIKE '+49151%'")).toEqual(['Ann', 'Bob']);
    expect(await names("Name ILIKE 'a%'")).toEqual(['Ann']);
    expect(await names('Score > ? AND (Role = ? OR Role = ?)', [5, 'viewer', 'admin'])).toEqual(['Bob']);
    expect(await names('Score >= 3 OR Name = ?', ['Cid'])).toEqual(['Ann', 'Bob', 'Cid']);
    expect(await names("Mailboxes = 'sales@example.com'")).toEqual(['Cid']);
    expect(await names("Mailboxes HAS ANY OF ('sales@example.com')")).toEqual(['Ann', 'Cid']);
    expect(await names('NOT Locked IS TRUE AND Score BETWEEN 1 AND 20')).toEqual(['Bob']);
    expect(await names("Since > '2024-01-01'")).toEqual(['Ann']);
    expect(await names('_id = ?', [fake.rowId('Users', 'cid')])).toEqual(['Cid']);
  });

  it('orders, limits, offsets, defaults to 100 rows and caps at 10 000', async () => {
    const fake = await start({
      seed: { tables: [{ name: 'Big T', columns: [{ name: 'N', type: 'number' }] }] },
    });
    fake.seedRows(
      'Big T',
      Array.from({ length: 10_050 }, (_, i) => ({ N: i })),
    );
    const token = await baseToken(fake);
    expect((await sql(fake, token, 'SELECT N FROM `Big T`')).json.results).toHaveLength(100);
    expect((await sql(fake, token, 'SELECT N FROM `Big T` LIMIT 20000')).json.results).toHaveLength(10_000);
    const page = await sql(fake, token, 'SELECT N FROM `Big T` ORDER BY N DESC LIMIT 2 OFFSET 1');
    expect(page.json.results.map((r: Json) => r.N)).toEqual([10_048, 10_047]);
  });

  it('runs UPDATE with constants and parameters, refusing link, auto-number and formula targets', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const res = await sql(
      fake,
      token,
      'UPDATE Users SET `Telegram ID` = ?, Score = 1 WHERE Name = ? AND Locked IS NOT TRUE',
      ['777', 'Bob'],
    );
    expect(res.json).toEqual({ success: true, metadata: null, results: null });
    expect(fake.row('Users', fake.rowId('Users', 'bob'))).toMatchObject({ 'Telegram ID': '777', Score: 1 });
    const locked = await sql(
      fake,
      token,
      "UPDATE Users SET `Telegram ID` = '1' WHERE Name = 'Ann' AND Locked IS NOT TRUE",
    );
    expect(locked.json.success).toBe(true);
    expect(fake.row('Users', fake.rowId('Users', 'ann'))!['Telegram ID']).toBeNull();
    for (const column of ['Mailboxes', 'No', 'Label']) {
      const refused = await sql(fake, token, `UPDATE Users SET \`${column}\` = 'x'`);
      expect(refused.status).toBe(400);
      expect(refused.json.error_message).toContain(column);
    }
  });

  it('answers what it cannot run with 400 error_message', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const statements = [
      'SELECT * FROM Nope',
      'SELECT Nope FROM Users',
      'SELECT * FROM Users JOIN Mailboxes',
      'SELECT * FROM Users WHERE Name IN (SELECT Name FROM Mailboxes)',
      'SELECT * FROM Users UNION SELECT * FROM Mailboxes',
      'SELEKT * FROM Users',
      'SELECT * FROM Users WHERE Name = ?',
      'INSERT INTO Users (Name) VALUES (1)',
      'UPDATE Users SET Name = 1 LIMIT 1',
    ];
    for (const statement of statements) {
      const res = await sql(fake, token, statement);
      expect(res.status, statement).toBe(400);
      expect(res.json.error_message, statement).toEqual(expect.any(String));
    }
    expect((await sql(fake, token, 'SELECT * FROM Nope')).json.error_message).toBe('no such table: Nope');
  });

  it('deletes with DELETE FROM … WHERE', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const res = await sql(fake, token, 'DELETE FROM Users WHERE Score IS NULL');
    expect(res.json.success).toBe(true);
    expect(fake.rows('Users').map((r) => r.Name)).toEqual(['Ann', 'Bob']);
  });
});

describe('FakeSeaTable: rate limits and faults', () => {
  it('sends x-ratelimit headers and answers 429 with an empty body past the per-base limit', async () => {
    const fake = await start({ rateLimitPerMinute: 3, seed: directorySeed() });
    const token = await baseToken(fake);
    const answers = [];
    for (let i = 0; i < 4; i++) answers.push(await call(fake, token, 'GET', 'metadata/'));
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    expect(answers.map((a) => a.headers.get('x-ratelimit-remaining'))).toEqual(['2', '1', '0', '0']);
    expect(answers[3]!.headers.get('x-ratelimit-limit')).toBe('3');
    const reset = Number(answers[3]!.headers.get('x-ratelimit-reset'));
    expect(reset).toBeGreaterThan(Date.now() / 1000);
    expect(reset).toBeLessThanOrEqual(Math.ceil(fake.now() / 1000) + 60);
    expect(answers[3]!.text).toBe('');
    fake.advanceTime(61);
    expect((await call(fake, token, 'GET', 'metadata/')).status).toBe(200);
  });

  it('can put an error_message in the 429 body', async () => {
    const fake = await start({ rateLimitPerMinute: 1, rateLimitBody: 'error-message' });
    const token = await baseToken(fake);
    await call(fake, token, 'GET', 'metadata/');
    expect((await call(fake, token, 'GET', 'metadata/')).json).toEqual({
      error_message: 'too many requests',
    });
  });

  it('forces the next N responses to 429, 502 or 503', async () => {
    const fake = await start();
    const token = await baseToken(fake);
    fake.failNext(1, 429, { resetInSeconds: 5 });
    fake.failNext(1, 502);
    fake.failNext(1, 503, { headers: { 'retry-after': '2' } });
    const a = await call(fake, token, 'GET', 'metadata/');
    expect(a.status).toBe(429);
    expect(a.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(a.headers.get('x-ratelimit-reset'))).toBe(Math.ceil(fake.now() / 1000) + 5);
    const b = await call(fake, token, 'GET', 'metadata/');
    expect(b.status).toBe(502);
    expect(b.text).toContain('502 Bad Gateway');
    const c = await call(fake, token, 'GET', 'metadata/');
    expect(c.status).toBe(503);
    expect(c.headers.get('retry-after')).toBe('2');
    expect((await call(fake, token, 'GET', 'metadata/')).status).toBe(200);

    fake.failNext(1, 503, { scope: 'token' });
    const res = await fetch(`${fake.url}/api/v2.1/dtable/app-access-token/`, {
      headers: { authorization: `Token ${fake.apiToken}` },
    });
    expect(res.status).toBe(503);
    expect(fake.requests.map((r) => r.status)).toEqual([200, 429, 502, 503, 200, 503]);
  });

  it('answers every n-th gateway request with 429 (reset ahead, empty body) until stopped', async () => {
    const fake = await start();
    const token = await baseToken(fake);
    const stop = fake.failEvery(3, 429, { resetInSeconds: 60 });
    const answers = [];
    for (let index = 0; index < 7; index++) answers.push(await call(fake, token, 'GET', 'metadata/'));
    expect(answers.map((answer) => answer.status)).toEqual([200, 200, 429, 200, 200, 429, 200]);
    const limited = answers[2]!;
    expect(limited.text).toBe('');
    expect(limited.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(limited.headers.get('x-ratelimit-reset'))).toBe(Math.ceil(fake.now() / 1000) + 60);
    // the token endpoint is not counted: only base operations are
    const res = await fetch(`${fake.url}/api/v2.1/dtable/app-access-token/`, {
      headers: { authorization: `Token ${fake.apiToken}` },
    });
    expect(res.status).toBe(200);
    stop();
    for (let index = 0; index < 3; index++) {
      expect((await call(fake, token, 'GET', 'metadata/')).status).toBe(200);
    }
  });

  it('refuses connections during an outage and serves again afterwards', async () => {
    const fake = await start();
    const token = await baseToken(fake);
    await fake.goOffline('refuse');
    await expect(fetch(`${fake.url}/api/v2.1/dtable/app-access-token/`)).rejects.toMatchObject({
      cause: expect.objectContaining({ code: 'ECONNREFUSED' }),
    });
    await fake.goOnline();
    expect((await call(fake, token, 'GET', 'metadata/')).status).toBe(200);
    await fake.goOffline('reset');
    await expect(fetch(`${fake.url}/api/v2.1/dtable/app-access-token/`)).rejects.toThrow();
    await fake.goOnline();
    expect((await call(fake, token, 'GET', 'metadata/')).status).toBe(200);
  });

  it('delays responses when latency is injected', async () => {
    const fake = await start();
    const token = await baseToken(fake);
    fake.setLatency(2000, 'gateway');
    await expect(
      fetch(`${fake.url}/api-gateway/api/v2/dtables/${fake.baseUuid}/metadata/`, {
        headers: { authorization: `Bearer ${token}` },
        signal: AbortSignal.timeout(50),
      }),
    ).rejects.toMatchObject({ name: 'TimeoutError' });
    fake.setLatency(0);
    expect((await call(fake, token, 'GET', 'metadata/')).status).toBe(200);
  });

  it('logs method, path, query, body and status of every request', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    await call(fake, token, 'GET', 'rows/', { query: { table_name: 'Users', limit: 2 } });
    await call(fake, token, 'PUT', 'rows/', { body: { table_name: 'Users', updates: [] } });
    expect(fake.requests.slice(1)).toEqual([
      {
        method: 'GET',
        path: `/api-gateway/api/v2/dtables/${fake.baseUuid}/rows/`,
        query: { table_name: 'Users', limit: '2' },
        body: undefined,
        status: 200,
        authScheme: 'Bearer',
      },
      expect.objectContaining({ method: 'PUT', body: { table_name: 'Users', updates: [] }, status: 400 }),
    ]);
    expect(fake.requestsTo('/rows', 'PUT')).toHaveLength(1);
  });
});

describe('FakeSeaTable: schema and links', () => {
  it('creates tables and columns through the api-gateway, link columns with their twin', async () => {
    const fake = await start();
    const token = await baseToken(fake);
    const mailboxes = await call(fake, token, 'POST', 'tables/', {
      body: { table_name: 'Mailboxes', columns: [{ column_name: 'Name', column_type: 'text' }] },
    });
    expect(mailboxes.status).toBe(200);
    expect(mailboxes.json).toMatchObject({
      _id: '0000',
      name: 'Mailboxes',
      rows: [],
      columns: [{ key: '0000', name: 'Name' }],
    });
    const users = await call(fake, token, 'POST', 'tables/', {
      body: {
        table_name: 'Users',
        columns: [
          { column_name: 'Name', column_type: 'text' },
          {
            column_name: 'Role',
            column_type: 'single-select',
            column_data: { options: [{ name: 'admin' }] },
          },
        ],
      },
    });
    expect(users.json.columns.map((c: Json) => c.name)).toEqual(['Name', 'Role']);
    const link = await call(fake, token, 'POST', 'columns/', {
      body: {
        table_name: 'Users',
        column_name: 'Mailboxes',
        column_type: 'link',
        column_data: { table: 'Users', other_table: 'Mailboxes' },
      },
    });
    expect(link.json).toMatchObject({ name: 'Mailboxes', type: 'link', data: { other_table_id: '0000' } });
    const inserted = await call(fake, token, 'POST', 'columns/', {
      body: { table_name: 'Users', column_name: 'Phone', column_type: 'text', anchor_column: 'Name' },
    });
    expect(inserted.status).toBe(200);
    const columns = await call(fake, token, 'GET', 'columns/', { query: { table_name: 'Users' } });
    expect(columns.json.columns.map((c: Json) => c.name)).toEqual(['Name', 'Phone', 'Role', 'Mailboxes']);
    const other = await call(fake, token, 'GET', 'columns/', { query: { table_name: 'Mailboxes' } });
    expect(other.json.columns.map((c: Json) => [c.name, c.type])).toEqual([
      ['Name', 'text'],
      ['Users', 'link'],
    ]);
    const batch = await call(fake, token, 'POST', 'batch-append-columns/', {
      body: { table_name: 'Users', columns: [{ column_name: 'Locked', column_type: 'checkbox' }] },
    });
    expect(batch.json.columns).toHaveLength(1);

    const duplicate = await call(fake, token, 'POST', 'columns/', {
      body: { table_name: 'Users', column_name: 'Phone', column_type: 'text' },
    });
    expect(duplicate.status).toBe(400);
    const badFirst = await call(fake, token, 'POST', 'tables/', {
      body: { table_name: 'X', columns: [{ column_name: 'On', column_type: 'checkbox' }] },
    });
    expect(badFirst.status).toBe(400);
    const linkInBatch = await call(fake, token, 'POST', 'batch-append-columns/', {
      body: {
        table_name: 'Users',
        columns: [
          {
            column_name: 'L',
            column_type: 'link',
            column_data: { table: 'Users', other_table: 'Mailboxes' },
          },
        ],
      },
    });
    expect(linkInBatch.status).toBe(400);
    expect((fake.metadata().tables as Json[]).map((t) => t.name)).toEqual(['Mailboxes', 'Users']);
  });

  it('adds, replaces and deletes links through /links/, and lists them with /query-links/', async () => {
    const fake = await start({ seed: directorySeed() });
    const token = await baseToken(fake);
    const users = (fake.metadata().tables as Json[])[1];
    const linkId = users.columns.find((c: Json) => c.name === 'Mailboxes').data.link_id;
    const bob = fake.rowId('Users', 'bob');
    const info = fake.rowId('Mailboxes', 'info');
    const sales = fake.rowId('Mailboxes', 'sales');
    const body = {
      link_id: linkId,
      table_name: 'Users',
      other_table_name: 'Mailboxes',
      other_rows_ids_map: { [bob]: [info] },
    };
    expect((await call(fake, token, 'POST', 'links/', { body })).json).toEqual({ success: true });
    expect((await call(fake, token, 'POST', 'links/', { body })).status).toBe(400);
    expect(fake.row('Users', bob)!.Mailboxes).toEqual([{ row_id: info, display_value: 'info@example.com' }]);
    // the same link seen from the other table
    await call(fake, token, 'PUT', 'links/', {
      body: {
        link_id: linkId,
        table_name: 'Mailboxes',
        other_table_name: 'Users',
        other_rows_ids_map: { [sales]: [bob] },
      },
    });
    expect(fake.row('Mailboxes', sales)!.Users).toEqual([{ row_id: bob, display_value: 'Bob' }]);
    expect((fake.row('Users', bob)!.Mailboxes as unknown[]).length).toBe(2);
    const deleted = await call(fake, token, 'DELETE', 'links/', { body });
    expect(deleted.json).toEqual({ success: true, deleted_links_count: 1 });
    const ann = fake.rowId('Users', 'ann');
    const listed = await call(fake, token, 'POST', 'query-links/', {
      body: { table_name: 'Users', link_column_name: 'Mailboxes', rows: [{ row_id: ann, limit: 1 }] },
    });
    expect(listed.json).toEqual({ [ann]: [{ row_id: info, display_value: 'info@example.com' }] });
  });

  it('seeds from a description and gives direct access to the data', async () => {
    const fake = await start({ seed: directorySeed() });
    const bob = fake.rowId('Users', 'bob');
    fake.setCells('Users', bob, { 'Telegram ID': '5', No: 'X-1' });
    expect(fake.row('Users', bob)).toMatchObject({ 'Telegram ID': '5', No: 'X-1' });
    const [id] = fake.seedRows('Users', [{ Name: 'Zed', Mailboxes: ['info'] }]);
    expect(fake.row('Users', id!)!.Mailboxes).toEqual([
      { row_id: fake.rowId('Mailboxes', 'info'), display_value: 'info@example.com' },
    ]);
    expect(fake.rows('Users', { convertKeys: false })[0]!['0000']).toBe('Ann');
    expect(() => fake.rowId('Users', 'nobody')).toThrow(/no seeded row/);
  });
});
