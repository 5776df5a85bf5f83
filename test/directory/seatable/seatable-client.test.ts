/**
 * SeaTableClient against FakeSeaTable (a real HTTP server on 127.0.0.1). Waits between retries go
 * through an injected `sleep` that records the delay and returns at once, so backoff is asserted
 * on the numbers the client chose, never on wall-clock time.
 */
import { inspect } from 'node:util';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  SeaTableClient,
  type SeaTableClientOptions,
  type SeaTableLogger,
} from '../../../src/directory/seatable/seatable-client.js';
import { SeaTableError } from '../../../src/directory/seatable/seatable-error.js';
import { findTable, linkedTableId } from '../../../src/directory/seatable/seatable-model.js';
import { FakeSeaTable, type FakeSeaTableOptions } from '../../fakes/seatable/fake-seatable.js';

const fakes: FakeSeaTable[] = [];
afterEach(async () => {
  await Promise.all(fakes.splice(0).map((f) => f.stop()));
});

async function start(options: FakeSeaTableOptions = {}): Promise<FakeSeaTable> {
  const fake = await FakeSeaTable.start({ seed: directorySeed(), ...options });
  fakes.push(fake);
  return fake;
}

function directorySeed(): NonNullable<FakeSeaTableOptions['seed']> {
  return {
    tables: [
      {
        name: 'Mailboxes',
        columns: [{ name: 'Name', type: 'text' }],
        rows: [{ $key: 'info', Name: 'info@example.com' }],
      },
      {
        name: 'Users',
        columns: [
          { name: 'Name', type: 'text' },
          { name: 'Phone', type: 'text' },
          { name: 'Telegram ID', type: 'text' },
          { name: 'Locked', type: 'checkbox' },
          { name: 'Score', type: 'number' },
          { name: 'Role', type: 'single-select', options: ['admin', 'viewer'] },
          { name: 'Mailboxes', type: 'link', linkTo: 'Mailboxes' },
        ],
        rows: [
          {
            $key: 'ann',
            Name: 'Ann',
            Phone: '+4915112345678',
            Locked: true,
            Role: 'admin',
            Mailboxes: ['info'],
          },
          { $key: 'bob', Name: 'Bob', Phone: '+4915100000000' },
        ],
      },
    ],
  };
}

/** A client on the fake's clock whose waits are recorded instead of slept. */
function clientFor(fake: FakeSeaTable, overrides: Partial<SeaTableClientOptions> = {}) {
  const delays: number[] = [];
  const client = new SeaTableClient({
    serverUrl: `${fake.url}/`,
    apiToken: fake.apiToken,
    now: () => fake.now(),
    sleep: async (ms) => {
      delays.push(ms);
    },
    random: () => 0.5,
    ...overrides,
  });
  return { client, delays };
}

async function caught(promise: Promise<unknown>): Promise<SeaTableError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(SeaTableError);
    return error as SeaTableError;
  }
  throw new Error('expected a SeaTableError');
}

const gatewayStatuses = (fake: FakeSeaTable) =>
  fake.requests.map((r) => (r.path.includes('app-access-token') ? 'token' : r.status));

describe('SeaTableClient: base token', () => {
  it('mints one token for concurrent calls and sends it as Bearer', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    const results = await Promise.all([client.getMetadata(), client.getMetadata(), client.getMetadata()]);
    expect(results.map((m) => m.tables.map((t) => t.name))).toEqual(Array(3).fill(['Mailboxes', 'Users']));
    expect(fake.tokenMints).toBe(1);
    expect(fake.requests.every((r) => r.authScheme === 'Bearer')).toBe(true);
  });

  it('renews the token 10 minutes before exp, without a failed call', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    await client.getMetadata();
    fake.advanceTime(2 * 24 * 3600);
    await client.getMetadata();
    expect(fake.tokenMints).toBe(1);
    fake.advanceTime(24 * 3600 - 5 * 60);
    await client.getMetadata();
    expect(fake.tokenMints).toBe(2);
    expect(fake.requests.every((r) => r.status === 200)).toBe(true);
  });

  it('does not mint on every call when its clock runs ahead of the server past the token exp', async () => {
    const fake = await start();
    const { client } = clientFor(fake, { now: () => fake.now() + 4 * 24 * 3600 * 1000 });
    await client.getMetadata();
    await client.getMetadata();
    expect(fake.tokenMints).toBe(1);
  });

  it('renews once and retries once when the token expires mid-run (401, or 403)', async () => {
    for (const expiredTokenStatus of [401, 403] as const) {
      const fake = await start({ expiredTokenStatus });
      const { client } = clientFor(fake);
      await client.getMetadata();
      fake.expireBaseTokens();
      const rows = await client.listAllRows('Users');
      expect(rows.map((r) => r.Name)).toEqual(['Ann', 'Bob']);
      expect(gatewayStatuses(fake)).toEqual(['token', 200, expiredTokenStatus, 'token', 200]);
      expect(fake.tokenMints).toBe(2);
    }
  });

  it('surfaces the second refusal instead of renewing again', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    fake.failNext(2, 401, { body: { error_message: 'Token expired.' } });
    const error = await caught(client.getMetadata());
    expect(error).toMatchObject({
      kind: 'http',
      status: 401,
      method: 'GET',
      serverMessage: 'Token expired.',
    });
    expect(error.isAuthError).toBe(true);
    expect(gatewayStatuses(fake)).toEqual(['token', 401, 'token', 401]);
  });

  it('refuses a server without the api-gateway (SeaTable < 5.0) with a clear message', async () => {
    const fake = await start({ useApiGateway: false });
    const { client } = clientFor(fake);
    const error = await caught(client.checkUseApiGateway());
    expect(error.kind).toBe('unsupported-server');
    expect(error.message).toContain('SeaTable 5.0 or newer');
    await caught(client.getMetadata());
    expect(fake.requests.filter((r) => r.path.startsWith('/api-gateway/'))).toHaveLength(0);

    const modern = await start({ baseName: 'Directory' });
    expect(await clientFor(modern).client.checkUseApiGateway()).toEqual({
      dtableUuid: modern.baseUuid,
      dtableName: 'Directory',
      workspaceId: 1,
      appName: 'superset-telegram-bot',
    });
  });
});

describe('SeaTableClient: reading', () => {
  it('pages through 1500 rows 1000 at a time, keyed by column name', async () => {
    const fake = await start();
    fake.seedRows(
      'Users',
      Array.from({ length: 1498 }, (_, i) => ({ Name: `user ${i}` })),
    );
    const { client } = clientFor(fake);
    const rows = await client.listAllRows('Users');
    expect(rows).toHaveLength(1500);
    expect(rows[0]).toMatchObject({ Name: 'Ann', Locked: true, Role: 'admin' });
    expect(rows[1499]!.Name).toBe('user 1497');
    expect(new Set(rows.map((r) => r._id)).size).toBe(1500);
    const pages = fake.requestsTo('/rows', 'GET').map((r) => r.query);
    expect(pages).toEqual([
      { table_name: 'Users', start: '0', limit: '1000', convert_keys: 'true' },
      { table_name: 'Users', start: '1000', limit: '1000', convert_keys: 'true' },
    ]);
  });

  it('asks for one more page after a full one, and can keep column keys', async () => {
    const fake = await start();
    fake.seedRows(
      'Users',
      Array.from({ length: 998 }, () => ({ Name: 'x' })),
    );
    const { client } = clientFor(fake);
    const rows = await client.listAllRows('Users', { convertKeys: false });
    expect(rows).toHaveLength(1000);
    expect(rows[0]!['0000']).toBe('Ann');
    expect(fake.requestsTo('/rows', 'GET')).toHaveLength(2);
  });

  it('reads link cells and resolves the linked table from metadata', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    const metadata = await client.getMetadata();
    const users = findTable(metadata, 'Users')!;
    const link = users.columns.find((c) => c.name === 'Mailboxes')!;
    expect(linkedTableId(users, link)).toBe(findTable(metadata, 'Mailboxes')!._id);
    const ann = await client.getRow('Users', fake.rowId('Users', 'ann'));
    expect(ann.Mailboxes).toEqual([
      { row_id: fake.rowId('Mailboxes', 'info'), display_value: 'info@example.com' },
    ]);
  });

  it('runs parameterised SQL, always sending convert_keys', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    const result = await client.sql('SELECT Name, Role FROM Users WHERE Phone = ?', ['+4915112345678']);
    expect(result.results).toEqual([{ Name: 'Ann', Role: 'admin', _id: fake.rowId('Users', 'ann') }]);
    expect(result.metadata.map((c) => c.name)).toEqual(['Name', 'Role']);
    const byKey = await client.sql('SELECT Name FROM Users LIMIT 1', [], { convertKeys: false });
    expect(byKey.results[0]!['0000']).toBe('Ann');
    expect(fake.requestsTo('/sql').map((r) => r.body)).toEqual([
      {
        sql: 'SELECT Name, Role FROM Users WHERE Phone = ?',
        convert_keys: true,
        parameters: ['+4915112345678'],
      },
      { sql: 'SELECT Name FROM Users LIMIT 1', convert_keys: false },
    ]);
  });

  it('throws on SQL errors, whether 400 or 200 with success: false', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    const unknown = await caught(client.sql('SELECT * FROM Nope'));
    expect(unknown).toMatchObject({ kind: 'http', status: 400, serverMessage: 'no such table: Nope' });
    fake.failNext(1, 200, { body: { success: false, error_message: 'dtable-db is busy' } });
    const soft = await caught(client.sql('SELECT * FROM Users'));
    expect(soft).toMatchObject({ kind: 'api', status: 200, serverMessage: 'dtable-db is busy' });
    expect(soft.message).toContain('dtable-db is busy');
  });
});

describe('SeaTableClient: errors', () => {
  it('turns each of the three error body shapes into one clear SeaTableError', async () => {
    const gateway = await start();
    const notFound = await caught(clientFor(gateway).client.getRow('Users', 'AAAAAAAAAAAAAAAAAAAAAA'));
    expect(notFound).toMatchObject({
      kind: 'http',
      status: 404,
      method: 'GET',
      serverMessage: 'row _id not exits',
    });
    expect(notFound.path).toBe(
      `/api-gateway/api/v2/dtables/${gateway.baseUuid}/rows/AAAAAAAAAAAAAAAAAAAAAA/`,
    );
    expect(notFound.message).toBe(`SeaTable GET ${notFound.path} failed with HTTP 404: row _id not exits`);

    const web = await start();
    const denied = await caught(clientFor(web, { apiToken: 'f'.repeat(40) }).client.getMetadata());
    expect(denied).toMatchObject({ kind: 'http', status: 403, serverMessage: 'Permission denied.' });
    expect(denied.message).toBe('SeaTable did not accept the API token (HTTP 403: Permission denied.)');

    const drf = await start({ invalidApiTokenResponse: 'invalid-token-401' });
    const invalid = await caught(clientFor(drf, { apiToken: 'f'.repeat(40) }).client.getMetadata());
    expect(invalid).toMatchObject({
      status: 401,
      serverMessage: 'Invalid token',
      path: '/api/v2.1/dtable/app-access-token/',
    });

    const server = await start();
    server.failNext(1, 400, {
      body: { error_type: 'exceed_rows_limit', error_msg: 'The base exceeds its row limit.' },
    });
    const proxied = await caught(clientFor(server).client.appendRows('Users', [{ Name: 'x' }]));
    expect(proxied).toMatchObject({
      status: 400,
      errorType: 'exceed_rows_limit',
      serverMessage: 'The base exceeds its row limit.',
    });
  });

  it('times out a slow answer and does not retry it', async () => {
    const fake = await start();
    const { client, delays } = clientFor(fake, { timeoutMs: 100 });
    await client.checkUseApiGateway();
    fake.setLatency(1000, 'gateway');
    const error = await caught(client.getMetadata());
    expect(error).toMatchObject({ kind: 'timeout', status: 0, method: 'GET' });
    expect(error.message).toContain('timed out after 100 ms');
    expect(delays).toEqual([]);
    expect(fake.requestsTo('/metadata')).toHaveLength(1);
  });

  it('retries a refused connection and gives up after maxAttempts', async () => {
    const fake = await start();
    const { client, delays } = clientFor(fake, { maxAttempts: 3 });
    await client.checkUseApiGateway();
    await fake.goOffline('refuse');
    const error = await caught(client.getMetadata());
    expect(error).toMatchObject({ kind: 'network', code: 'ECONNREFUSED', status: 0 });
    expect(delays).toEqual([750, 1500]);

    const back = clientFor(fake, {
      sleep: async () => {
        await fake.goOnline();
      },
    });
    await fake.goOffline('reset');
    expect((await back.client.getMetadata()).tables).toHaveLength(2);
  });

  it('never puts a token in an error, its inspection, or a log line', async () => {
    const fake = await start();
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const secrets = new Set<string>();
    // A server that echoes the Authorization header into its error texts.
    const echoing: typeof fetch = async (input, init) => {
      const auth = new Headers(init?.headers).get('authorization') ?? '';
      secrets.add(auth.split(' ')[1] ?? '');
      const url = String(input);
      if (url.includes('/rows/')) {
        return new Response(JSON.stringify({ error_message: `bad header ${auth}` }), { status: 400 });
      }
      if (url.includes('/sql/')) return new Response(`upstream said ${auth}`, { status: 502 });
      return fetch(input, init);
    };
    const { client } = clientFor(fake, { fetch: echoing, logger, maxAttempts: 2 });
    const errors = [
      await caught(client.listAllRows('Users')),
      await caught(client.sql('SELECT Name FROM Users')),
    ];
    fake.revokeApiToken(fake.apiToken);
    fake.expireBaseTokens();
    errors.push(await caught(client.getMetadata()));

    expect([...secrets].some((s) => s.split('.').length === 3)).toBe(true);
    expect(secrets).toContain(fake.apiToken);
    expect(errors[0]!.message).toContain('bad header Bearer [redacted]');
    expect(errors[1]!.message).toContain('upstream said Bearer [redacted]');
    expect(lines.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      for (const error of errors) {
        const texts = [
          error.message,
          String(error),
          error.stack ?? '',
          inspect(error, { depth: 5 }),
          JSON.stringify(error),
        ];
        for (const text of texts) expect(text).not.toContain(secret);
      }
      expect(lines.join('\n')).not.toContain(secret);
      expect(inspect(client, { depth: 5 })).not.toContain(secret);
    }
  });
});

describe('SeaTableClient: rate limits and retries', () => {
  it('waits for x-ratelimit-reset after a 429, then succeeds', async () => {
    const fake = await start();
    const { client, delays } = clientFor(fake);
    await client.checkUseApiGateway();
    fake.failNext(1, 429, { resetInSeconds: 3 });
    const before = fake.now();
    const metadata = await client.getMetadata();
    const after = fake.now();
    expect(metadata.tables).toHaveLength(2);
    // x-ratelimit-reset is whole unix seconds, 3 s after the fake's clock at the 429.
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual((Math.ceil(before / 1000) + 3) * 1000 - after);
    expect(delays[0]).toBeLessThanOrEqual((Math.ceil(after / 1000) + 3) * 1000 - before + 250);
    expect(delays[0]).toBeGreaterThan(1000);
    expect(gatewayStatuses(fake)).toEqual(['token', 429, 200]);
  });

  it('honours Retry-After and backs off exponentially on 502/503, within maxAttempts', async () => {
    const fake = await start();
    const { client, delays } = clientFor(fake, { maxAttempts: 4 });
    await client.checkUseApiGateway();
    fake.failNext(1, 503, { headers: { 'retry-after': '2' } });
    fake.failNext(2, 502);
    await client.getMetadata();
    expect(delays).toEqual([2000 + 125, 1500, 3000]);

    delays.length = 0;
    fake.failNext(10, 503);
    const error = await caught(client.getMetadata());
    expect(error).toMatchObject({ kind: 'http', status: 503, serverMessage: 'HTTP 503' });
    expect(delays).toHaveLength(3);
  });

  it('fails at once when the server asks for a longer wait than maxRetryDelayMs', async () => {
    const fake = await start({ rateLimitPerMinute: 2 });
    const { client, delays } = clientFor(fake, { maxRetryDelayMs: 5000 });
    await client.getMetadata();
    await client.getMetadata();
    const error = await caught(client.getMetadata());
    expect(error).toMatchObject({
      kind: 'http',
      status: 429,
      serverMessage: 'too many requests (rate limited)',
    });
    expect(error.retryAfterMs).toBeGreaterThan(5000);
    expect(delays).toEqual([]);
  });

  it('does not resend a non-idempotent append after a 502', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    await client.checkUseApiGateway();
    fake.failNext(1, 502);
    const error = await caught(client.appendRows('Users', [{ Name: 'Cid' }]));
    expect(error.status).toBe(502);
    expect(fake.requestsTo('/rows', 'POST')).toHaveLength(1);
    expect(fake.rows('Users')).toHaveLength(2);
  });
});

describe('SeaTableClient: writing', () => {
  it('updates 1500 rows in two calls of at most 1000', async () => {
    const fake = await start();
    const ids = fake.seedRows(
      'Users',
      Array.from({ length: 1500 }, (_, i) => ({ Name: `u${i}` })),
    );
    const { client } = clientFor(fake);
    await client.updateRows(
      'Users',
      ids.map((rowId, i) => ({ rowId, row: { 'Telegram ID': String(i) } })),
    );
    const puts = fake.requestsTo('/rows', 'PUT');
    expect(puts.map((r) => (r.body as { updates: unknown[] }).updates.length)).toEqual([1000, 500]);
    expect(
      fake
        .rows('Users')
        .slice(2)
        .every((r, i) => r['Telegram ID'] === String(i)),
    ).toBe(true);
  });

  it('appends rows and returns their ids in order', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    const ids = await client.appendRows('Users', [{ Name: 'Cid' }, { Name: 'Dee' }]);
    expect(ids.map((id) => fake.row('Users', id)?.Name)).toEqual(['Cid', 'Dee']);
  });

  it('rejects an unknown column before sending any write', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    const bob = fake.rowId('Users', 'bob');
    const error = await caught(
      client.updateRowsChecked('Users', [{ rowId: bob, row: { 'Telegram Id': '42' } }]),
    );
    expect(error.kind).toBe('validation');
    expect(error.message).toContain('Column "Telegram Id" does not exist in table "Users"');
    expect(error.message).toContain('"Telegram ID"');
    expect(fake.requestsTo('/rows', 'PUT')).toHaveLength(0);

    const metadata = await client.getMetadata();
    fake.clearRequests();
    const linkWrite = await caught(
      client.updateRowsChecked('Users', [{ rowId: bob, row: { Mailboxes: [] } }], { metadata }),
    );
    expect(linkWrite.message).toContain('is of type link');
    const noTable = await caught(
      client.updateRowsChecked('Userz', [{ rowId: bob, row: { Name: 'x' } }], { metadata }),
    );
    expect(noTable.message).toContain('Table "Userz" does not exist');
    expect(fake.requests).toEqual([]);
  });

  it('writes, then reads back to confirm the values landed', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    const bob = fake.rowId('Users', 'bob');
    await client.updateRowsChecked('Users', [
      { rowId: bob, row: { 'Telegram ID': '42', Locked: false, Score: 7, Role: 'viewer' } },
    ]);
    expect(fake.row('Users', bob)).toMatchObject({ 'Telegram ID': '42', Score: 7, Role: 'viewer' });
    expect(fake.requestsTo('/sql')[0]!.body).toEqual({
      sql: 'SELECT `Telegram ID`, `Locked`, `Score`, `Role` FROM `Users` WHERE _id IN (?) LIMIT 1',
      convert_keys: true,
      parameters: [bob],
    });
  });

  it('reports a write that SeaTable accepted but did not apply', async () => {
    const fake = await start();
    const { client } = clientFor(fake);
    const bob = fake.rowId('Users', 'bob');
    const ghost = 'AAAAAAAAAAAAAAAAAAAAAA';
    const error = await caught(
      client.updateRowsChecked('Users', [
        { rowId: bob, row: { Score: 'seven' } },
        { rowId: ghost, row: { Name: 'Ghost' } },
      ]),
    );
    expect(error.kind).toBe('verification');
    expect(error.message).toContain(`row ${bob} column "Score"`);
    expect(error.message).toContain(`row ${ghost} does not exist`);
    expect(error.message).not.toContain('seven');
  });

  it('creates tables and columns, links included', async () => {
    const fake = await start({ seed: { tables: [] } });
    const { client } = clientFor(fake);
    const mailboxes = await client.createTable('Mailboxes', [{ name: 'Name', type: 'text' }]);
    expect(mailboxes.columns.map((c) => c.name)).toEqual(['Name']);
    await client.createTable('Users', [
      { name: 'Name', type: 'text' },
      { name: 'Role', type: 'single-select', data: { options: [{ name: 'admin' }] } },
    ]);
    const link = await client.addColumn('Users', { name: 'Mailboxes', type: 'link', linkTo: 'Mailboxes' });
    expect(link.type).toBe('link');
    const phone = await client.addColumn('Users', { name: 'Phone', type: 'text' }, { anchorColumn: 'Name' });
    expect(phone.name).toBe('Phone');
    expect(fake.requestsTo('/columns', 'POST')[0]!.body).toEqual({
      table_name: 'Users',
      column_name: 'Mailboxes',
      column_type: 'link',
      column_data: { table: 'Users', other_table: 'Mailboxes' },
    });
    const users = findTable(await client.getMetadata(), 'Users')!;
    expect(users.columns.map((c) => c.name)).toEqual(['Name', 'Phone', 'Role', 'Mailboxes']);
    const duplicate = await caught(client.addColumn('Users', { name: 'Phone', type: 'text' }));
    expect(duplicate.status).toBe(400);
  });
});

describe('SeaTableClient: logger', () => {
  it('accepts a pino logger and reports retries on it', async () => {
    const fake = await start();
    const lines: string[] = [];
    const logger: SeaTableLogger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const { client } = clientFor(fake, { logger });
    fake.failNext(1, 503);
    await client.getMetadata();
    const records = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records).toEqual([
      expect.objectContaining({ msg: 'SeaTable base token minted', dtableUuid: fake.baseUuid }),
      expect.objectContaining({ msg: 'SeaTable request failed; retrying', status: 503, attempt: 1 }),
    ]);
  });
});
