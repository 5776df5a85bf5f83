/**
 * FakeSeaTable: a SeaTable server (≥ 5.0, api-gateway) on 127.0.0.1 for the tests, built from the
 * public API documentation, not from what our client happens to send.
 *
 * Sources
 * - api.seatable.com OpenAPI (github.com/seatable/seatable-api-php openapi_input/authentication.yaml
 *   and base_operations.yaml, v6.x): token exchange, metadata, rows, SQL, links, and the
 *   schema endpoints used by `seatable init`:
 *     POST …/tables/                {table_name, columns: [{column_name, column_type, column_data?}]}
 *                                   → the new table object ("Create Table")
 *     GET  …/columns/?table_name=T  → {columns: […]}                                ("List Columns")
 *     POST …/columns/               {table_name, column_name, column_type, column_data?, anchor_column?}
 *                                   → the new column object; a link column takes
 *                                   column_data {table, other_table}                ("Insert Column")
 *     POST …/batch-append-columns/  {table_name, columns: […]} → {columns: […]}; no link/formula
 *                                   columns here                                    ("Append Columns")
 *   The same paths and bodies are what seatable-api-js src/api-gateway.js sends (addTable,
 *   insertColumn), which also posts single rows as `{table_name, row}` to …/rows/.
 * - seatable-developer-docs docs/sql/*.md (SQL syntax, NULL rules, result formats, writability) and
 *   docs/scripts/python/objects/links.md (link column data).
 * - /work/shared/research/seatable-api.md (research note; §6 lists what this fake must do).
 *
 * Decisions where the docs are silent (the research note's "open questions"); each is a choice
 * to settle against a real server, not a fact:
 * - Base-Token expired → 401 `{"error_message":"Token expired."}` (option `expiredTokenStatus: 403`).
 *   Malformed token, bad signature, or token of another base → 403 `{"error_message":"invalid token"}`;
 *   no Authorization header → 401 `{"error_message":"no token"}`.
 * - Unknown API token → 403 `{"error_msg":"Permission denied."}` (option: 401 `{"detail":"Invalid token"}`).
 *   Deleting an API token does not invalidate Base-Tokens already minted from it (they are plain JWTs).
 * - `?exp=` accepts `<n>h` and `<n>d` (the documented forms); anything else → 400 `{"error_msg":"exp invalid."}`.
 * - Unknown table on the row endpoints → 404 `{"error_message":"table not found"}`; in SQL →
 *   400 `{"error_message":"no such table: X"}` (the documented SQL error).
 * - `limit > 1000` on list rows is clamped silently to 1000; `limit < 1` or a non-number → 400.
 * - SQL `convert_keys` defaults to false (column keys), as the schema and the developer manual say.
 * - Update with an unknown `row_id`: that update is skipped silently, the call still answers
 *   `{"success":true}` (like unknown column names). Delete with unknown ids: same.
 * - `parameters` bind in every statement (SELECT, UPDATE, DELETE); a count mismatch → 400.
 * - Append > 1000 rows, update > 1000 rows → 400; delete > 10 000 → 400 (old batch limits).
 * - Link column data: `table_id` is the table holding the column and `other_table_id` the linked
 *   one (links.md); the twin column in the other table is named after the source table.
 *   Link cells list links in creation order, at most 50; `query-links` orders by `_ctime` (documented).
 * - Views: only each table's "Default View" exists (no filters, nothing hidden); other view → 404.
 * - list/get rows return select cells as option names, links as `[{row_id, display_value}]`, dates
 *   as written (e.g. `2023-02-18`), every column present with `null` when empty. SQL returns option
 *   names with convert_keys=true and option ids otherwise, dates in RFC 3339 (`…T00:00:00Z`),
 *   empty cells as `null`; `SELECT *` also returns `_id, _ctime, _mtime, _creator, _last_modifier`;
 *   SQL `metadata` lists the selected user columns.
 * - A write of the wrong shape for a column (e.g. "abc" into a number) is ignored like an unknown
 *   column; SQL UPDATE with such a constant → 400. Unknown select options are created, by SQL too.
 * - SQL DELETE answers like UPDATE; INSERT → 400 (it needs the big data backend).
 * - Formula and link-formula columns are not computed: they hold what a seed put there.
 * - Rate limits: a sliding 60 s window per base uuid on every gateway request (rejected requests do
 *   not count); `x-ratelimit-limit`, `-remaining`, `-reset` (unix seconds: when the oldest counted
 *   request leaves the window) on every gateway response; 429 has an empty body (option:
 *   `{"error_message":"too many requests"}`). The token endpoint has its own window (default
 *   60/min, the strictest documented figure) and throttles like Django REST framework: 429
 *   `{"detail":"Request was throttled. Expected available in N seconds."}` + `Retry-After`.
 * - `useApiGateway: false` imitates a 4.x server: the token response has `dtable_server: …/dtable-server/`,
 *   `dtable_db`, no `use_api_gateway`, and every /api-gateway/ path is a plain 404.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import {
  badRequest,
  type ColumnSpec,
  FakeApiError,
  FakeBase,
  type FakeColumnType,
  type FakeRow,
  type FakeTable,
  notFound,
  type RowJson,
} from './fake-base.js';
import { executeSql } from './fake-sql.js';
import { signBaseToken, verifyBaseToken } from './jwt.js';

export type { FakeColumnType, RowJson } from './fake-base.js';

/** A column of a seeded table. */
export interface FakeColumnSeed {
  name: string;
  type: FakeColumnType;
  /** Column data as in metadata (e.g. `{format: 'YYYY-MM-DD HH:mm'}`); select options go in `options`. */
  data?: Record<string, unknown>;
  /** single/multiple-select: the option names, in order (ids are generated). */
  options?: string[];
  /** link: the name of the other table. Declare a link on one side only; the twin is created. */
  linkTo?: string;
  /** link: the name of the twin column in the other table (default: this table's name). */
  twinColumnName?: string;
}

/**
 * A seeded row: column name → value in the API's write format. Link columns take a list of the
 * other table's row references: their `$key`, or their `_id`. Computed columns (formula,
 * auto-number…) may be given values here, which the API itself would ignore.
 */
export type FakeRowSeed = Record<string, unknown> & {
  /** A name for this row that links and `fake.rowId()` can use. */
  $key?: string;
  /** A fixed row id (22 chars of [A-Za-z0-9_-]); generated otherwise. */
  _id?: string;
};

export interface FakeTableSeed {
  name: string;
  /** The first column must be text, number, date, single-select, formula or auto-number. */
  columns: FakeColumnSeed[];
  rows?: FakeRowSeed[];
}

/** The base's contents at start. */
export interface FakeBaseSeed {
  tables: FakeTableSeed[];
}

export interface FakeApiTokenSeed {
  /** The 40-char token; generated when omitted. */
  token?: string;
  /** `rw` (default) or `r`. */
  permission?: 'rw' | 'r';
  /** The token's app name, echoed as `app_name`. Default `superset-telegram-bot` / `read-only`. */
  appName?: string;
}

export interface FakeSeaTableOptions {
  /** Tables, columns and rows at start. Default: an empty base. */
  seed?: FakeBaseSeed;
  /** The base's uuid (`dtable_uuid`). Default: random. */
  baseUuid?: string;
  /** `dtable_name` in the token response. Default "Telegram bot directory". */
  baseName?: string;
  /** API tokens of the base. Default: one `rw` token and one `r` token. */
  apiTokens?: FakeApiTokenSeed[];
  /** Lifetime of a Base-Token minted without `?exp=`, in seconds. Default 259 200 (3 days). */
  baseTokenLifetimeSeconds?: number;
  /** Status for an expired Base-Token. Default 401. */
  expiredTokenStatus?: 401 | 403;
  /** Answer to an unknown API token: 403 `error_msg` (default) or 401 DRF `detail`. */
  invalidApiTokenResponse?: 'permission-denied-403' | 'invalid-token-401';
  /** Gateway requests per base per sliding minute; 0 disables the limit and its headers. Default 200. */
  rateLimitPerMinute?: number;
  /** Body of a rate-limited gateway response. Default `empty`. */
  rateLimitBody?: 'empty' | 'error-message';
  /** Token exchanges per sliding minute; 0 disables. Default 60. */
  tokenRateLimitPerMinute?: number;
  /** False imitates a SeaTable 4.x server without the api-gateway. Default true. */
  useApiGateway?: boolean;
}

/** Which requests a fault or a delay applies to. */
export type FakeScope = 'gateway' | 'token' | 'any';

export interface FakeFaultOptions {
  /** Response body: a string is sent as is, an object as JSON. Default: empty for 429, an HTML error page for 5xx, `{"error_message": …}` otherwise. */
  body?: string | Record<string, unknown>;
  /** Extra response headers, e.g. `{'retry-after': '2'}`. */
  headers?: Record<string, string>;
  /** Gateway 429 only: `x-ratelimit-reset` = now + this many seconds. Default 1. */
  resetInSeconds?: number;
  /** Which requests the fault replaces. Default `gateway`. */
  scope?: FakeScope;
}

/** One request as the fake saw it. */
export interface LoggedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  /** Parsed JSON body, the raw text when it is not JSON, or undefined when empty. */
  body: unknown;
  /** Status sent; 0 when the connection was dropped before a response. */
  status: number;
  /** Scheme of the Authorization header (`Token`, `Bearer`), or null without one. */
  authScheme: string | null;
}

interface ApiTokenRecord {
  permission: 'rw' | 'r';
  appName: string;
}

interface PendingFault extends FakeFaultOptions {
  status: number;
  remaining: number;
}

/** A fault that answers every n-th matching request until it is stopped. */
interface PeriodicFault extends FakeFaultOptions {
  status: number;
  every: number;
  /** Matching requests seen since it was set. */
  seen: number;
}

const GATEWAY_PREFIX = '/api-gateway/api/v2/dtables/';
const TOKEN_PATH = '/api/v2.1/dtable/app-access-token';
const WINDOW_MS = 60_000;
const ROW_WRITE_LIMIT = 1000;
const ROW_DELETE_LIMIT = 10_000;
const LIST_ROWS_MAX = 1000;
const NO_PERMISSION = "You don't have permission to perform this operation on this base.";

function forbidden(): FakeApiError {
  return new FakeApiError(403, { error_msg: NO_PERMISSION });
}

/** A boolean query parameter: `true` in any case (Python clients send `True`). */
function isTrue(value: string | null): boolean {
  return value !== null && value.toLowerCase() === 'true';
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function errorPage(status: number): string {
  const title = status === 502 ? 'Bad Gateway' : status === 503 ? 'Service Unavailable' : 'Gateway Timeout';
  return `<html>\r\n<head><title>${status} ${title}</title></head>\r\n<body>\r\n<center><h1>${status} ${title}</h1></center>\r\n</body>\r\n</html>\r\n`;
}

/** A sliding window of request times per key. */
class SlidingWindow {
  private readonly hits = new Map<string, number[]>();

  constructor(readonly limit: number) {}

  /** Counts a request unless the window is full. `resetSeconds` is when the oldest hit leaves. */
  take(key: string, now: number): { allowed: boolean; remaining: number; resetSeconds: number } {
    const hits = (this.hits.get(key) ?? []).filter((t) => t > now - WINDOW_MS);
    this.hits.set(key, hits);
    const allowed = hits.length < this.limit;
    if (allowed) hits.push(now);
    const oldest = hits[0] ?? now;
    return {
      allowed,
      remaining: Math.max(0, this.limit - hits.length),
      resetSeconds: Math.ceil((oldest + WINDOW_MS) / 1000),
    };
  }
}

interface Reply {
  status: number;
  body: string | Record<string, unknown> | null;
  headers?: Record<string, string>;
}

export class FakeSeaTable {
  /** `http://127.0.0.1:<port>`: the server URL a client is configured with. */
  url = '';
  readonly baseUuid: string;
  readonly baseName: string;
  /** The first read-write API token. */
  readonly apiToken: string;
  /** The first read-only API token (created by default). */
  readonly readOnlyApiToken: string;
  /** Every request, in arrival order. */
  readonly requests: LoggedRequest[] = [];
  /** Base-Tokens minted so far. */
  tokenMints = 0;

  private readonly base: FakeBase;
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly tokens = new Map<string, ApiTokenRecord>();
  private readonly expiredTokens = new Set<string>();
  private readonly mintedTokens: string[] = [];
  /** After expireBaseTokens(), new tokens get a later `exp`, so they differ from the expired ones. */
  private minimumExp = 0;
  private readonly jwtSecret = randomBytes(32).toString('hex');
  private readonly gatewayWindow: SlidingWindow | null;
  private readonly tokenWindow: SlidingWindow | null;
  private readonly seedKeys = new Map<string, Map<string, string>>();
  private faults: PendingFault[] = [];
  private periodicFaults: PeriodicFault[] = [];
  private latency: { ms: number; scope: FakeScope } = { ms: 0, scope: 'any' };
  private clockOffsetMs = 0;
  private port = 0;
  private offline: 'refuse' | 'reset' | null = null;
  private stopped = false;

  private constructor(private readonly options: FakeSeaTableOptions) {
    this.baseUuid = options.baseUuid ?? randomUUID();
    this.baseName = options.baseName ?? 'Telegram bot directory';
    this.base = new FakeBase(() => this.now());
    const seeds = options.apiTokens ?? [{ permission: 'rw' }, { permission: 'r' }];
    for (const seed of seeds) {
      const permission = seed.permission ?? 'rw';
      this.tokens.set(seed.token ?? randomBytes(20).toString('hex'), {
        permission,
        appName: seed.appName ?? (permission === 'rw' ? 'superset-telegram-bot' : 'read-only'),
      });
    }
    const entries = [...this.tokens.entries()];
    this.apiToken = entries.find(([, t]) => t.permission === 'rw')?.[0] ?? '';
    this.readOnlyApiToken = entries.find(([, t]) => t.permission === 'r')?.[0] ?? '';
    const gatewayLimit = options.rateLimitPerMinute ?? 200;
    const tokenLimit = options.tokenRateLimitPerMinute ?? 60;
    this.gatewayWindow = gatewayLimit > 0 ? new SlidingWindow(gatewayLimit) : null;
    this.tokenWindow = tokenLimit > 0 ? new SlidingWindow(tokenLimit) : null;
    if (options.seed) this.seed(options.seed);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        if (!res.headersSent) {
          res.writeHead(500, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ error_message: `fake crashed: ${String(error)}` }));
        }
      });
    });
    this.server.on('connection', (socket: Socket) => {
      if (this.offline === 'reset') {
        socket.destroy();
        return;
      }
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Starts a fake on a random port of 127.0.0.1. */
  static async start(options: FakeSeaTableOptions = {}): Promise<FakeSeaTable> {
    const fake = new FakeSeaTable(options);
    await fake.listen(0);
    return fake;
  }

  /** Stops listening, drops every connection and pending delayed response. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await this.closeServer();
  }

  // ------------------------------------------------------------ control API

  /** The fake's clock (epoch ms): the real clock plus whatever `advanceTime` added. */
  now(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** Moves the fake's clock forward: tokens expire and rate windows slide without waiting. */
  advanceTime(seconds: number): void {
    this.clockOffsetMs += seconds * 1000;
  }

  /** Makes every Base-Token minted so far count as expired. */
  expireBaseTokens(): void {
    for (const token of this.mintedTokens) {
      this.expiredTokens.add(token);
      const claims = verifyBaseToken(token, this.jwtSecret);
      if (claims) this.minimumExp = Math.max(this.minimumExp, claims.exp + 1);
    }
  }

  /** Adds an API token; returns it. */
  addApiToken(permission: 'rw' | 'r' = 'rw', appName = `app-${this.tokens.size + 1}`): string {
    const token = randomBytes(20).toString('hex');
    this.tokens.set(token, { permission, appName });
    return token;
  }

  /** Deletes an API token: later exchanges with it are refused. */
  revokeApiToken(token: string): void {
    this.tokens.delete(token);
  }

  /**
   * The next `count` matching requests get `status` instead of being served. Gateway 429s carry
   * `x-ratelimit-remaining: 0` and a reset `resetInSeconds` ahead.
   */
  failNext(count: number, status: number, options: FakeFaultOptions = {}): void {
    this.faults.push({ ...options, status, remaining: count });
  }

  /**
   * Every `every`-th matching request from now on (the `every`-th, the 2×`every`-th, …) gets
   * `status` instead of being served, like a server whose rate limit other clients of the base use
   * up. Gateway 429s carry the `x-ratelimit-*` headers with a reset `resetInSeconds` ahead, as
   * `failNext`. Returns a function that stops it.
   */
  failEvery(every: number, status: number, options: FakeFaultOptions = {}): () => void {
    if (!Number.isInteger(every) || every < 1) throw new Error('FakeSeaTable.failEvery: every must be ≥ 1');
    const fault: PeriodicFault = { ...options, status, every, seen: 0 };
    this.periodicFaults.push(fault);
    return () => {
      this.periodicFaults = this.periodicFaults.filter((entry) => entry !== fault);
    };
  }

  /** Delays every matching response by `ms` (0 turns it off). */
  setLatency(ms: number, scope: FakeScope = 'any'): void {
    this.latency = { ms, scope };
  }

  /**
   * Simulates an outage. `refuse`: the port stops listening (connection refused). `reset`: the
   * port accepts and immediately drops every connection. Open connections are dropped either way.
   */
  async goOffline(mode: 'refuse' | 'reset' = 'refuse'): Promise<void> {
    this.offline = mode;
    for (const socket of this.sockets) socket.destroy();
    if (mode === 'refuse') await this.closeServer();
    else if (!this.server.listening) await this.listen(this.port);
  }

  /** Ends an outage; the server listens on the same port again. */
  async goOnline(): Promise<void> {
    this.offline = null;
    if (!this.server.listening) await this.listen(this.port);
  }

  /** Forgets the request log. */
  clearRequests(): void {
    this.requests.length = 0;
  }

  /** Logged requests whose path ends with `suffix` (trailing slashes ignored), e.g. `/rows`. */
  requestsTo(suffix: string, method?: string): LoggedRequest[] {
    const wanted = suffix.replace(/\/+$/, '');
    return this.requests.filter(
      (r) => r.path.replace(/\/+$/, '').endsWith(wanted) && (method === undefined || r.method === method),
    );
  }

  /** The Get Metadata response's `metadata` object. */
  metadata(): Record<string, unknown> {
    return this.base.metadataJson().metadata as Record<string, unknown>;
  }

  /** A table's rows as list-rows returns them (column names by default). */
  rows(tableName: string, options: { convertKeys?: boolean } = {}): RowJson[] {
    const table = this.tableOrThrow(tableName);
    return table.rows.map((row) => this.base.rowJson(table, row, options.convertKeys ?? true));
  }

  /** One row as get-row returns it (column names), or undefined. */
  row(tableName: string, rowId: string): RowJson | undefined {
    const table = this.tableOrThrow(tableName);
    const row = this.base.rowById(table, rowId);
    return row && this.base.rowJson(table, row, true);
  }

  /** The `_id` of a seeded row, by its `$key`. */
  rowId(tableName: string, key: string): string {
    const id = this.seedKeys.get(this.tableOrThrow(tableName)._id)?.get(key);
    if (!id) throw new Error(`FakeSeaTable: no seeded row with $key ${key} in ${tableName}`);
    return id;
  }

  /** Appends rows with seed rules (links by `$key`/`_id`, computed columns settable); returns their ids. */
  seedRows(tableName: string, rows: FakeRowSeed[]): string[] {
    const table = this.tableOrThrow(tableName);
    const created = this.appendSeedRows(table, rows);
    this.linkSeedRows(table, rows, created);
    return created.map((r) => r._id);
  }

  /** Writes cells directly, bypassing the API's rules (read-only columns included, links excluded). */
  setCells(tableName: string, rowId: string, values: Record<string, unknown>): void {
    const table = this.tableOrThrow(tableName);
    const row = this.base.rowById(table, rowId);
    if (!row) throw new Error(`FakeSeaTable: no row ${rowId} in ${tableName}`);
    this.base.writeValues(table, row, values, 'seed');
  }

  /**
   * Sets every row's creation and modification time (`_ctime`, `_mtime`) to `at` (epoch ms), like a
   * base whose rows were created long ago.
   */
  backdateRows(tableName: string, at: number): void {
    for (const row of this.tableOrThrow(tableName).rows) {
      row.ctime = at;
      row.mtime = at;
    }
  }

  /** Renames a column, like an admin editing its header in the grid. */
  renameColumn(tableName: string, from: string, to: string): void {
    const table = this.tableOrThrow(tableName);
    const column = this.base.columnNamed(table, from);
    if (!column) throw new Error(`FakeSeaTable: no column ${from} in ${tableName}`);
    if (this.base.columnNamed(table, to)) throw new Error(`FakeSeaTable: ${tableName} already has ${to}`);
    column.name = to;
    this.base.version++;
  }

  /** Deletes rows (and their links), like an admin deleting them in the grid. */
  removeRows(tableName: string, rowIds: string[]): void {
    this.base.deleteRows(this.tableOrThrow(tableName), rowIds);
  }

  // ------------------------------------------------------------ seeding

  private seed(seed: FakeBaseSeed): void {
    const pendingLinks: Array<{ table: FakeTable; column: FakeColumnSeed; after: string }> = [];
    for (const tableSeed of seed.tables) {
      const [first, ...rest] = tableSeed.columns;
      if (!first || first.type === 'link') {
        throw new Error(`FakeSeaTable seed: table ${tableSeed.name} needs a first column that is not a link`);
      }
      const table = this.base.createTable(tableSeed.name, [this.seedColumnSpec(first)]);
      let previous = first.name;
      for (const column of rest) {
        // Links wait until every table exists; they are then put back after their predecessor.
        if (column.type === 'link') pendingLinks.push({ table, column, after: previous });
        else this.base.addColumn(table, this.seedColumnSpec(column));
        previous = column.name;
      }
    }
    for (const { table, column, after } of pendingLinks) {
      if (!column.linkTo) throw new Error(`FakeSeaTable seed: link column ${column.name} needs linkTo`);
      this.base.addColumn(table, {
        name: column.name,
        type: 'link',
        data: { table: table.name, other_table: column.linkTo },
        anchor: after,
        twinName: column.twinColumnName,
      });
    }
    const created = seed.tables.map((tableSeed) => {
      const table = this.tableOrThrow(tableSeed.name);
      return { table, rows: tableSeed.rows ?? [], created: this.appendSeedRows(table, tableSeed.rows ?? []) };
    });
    for (const { table, rows, created: made } of created) this.linkSeedRows(table, rows, made);
  }

  private seedColumnSpec(column: FakeColumnSeed): ColumnSpec {
    const data = column.options
      ? { ...column.data, options: column.options.map((name) => ({ name })) }
      : column.data;
    return { name: column.name, type: column.type, data };
  }

  private appendSeedRows(table: FakeTable, rows: FakeRowSeed[]): FakeRow[] {
    const created = this.base.appendRows(
      table,
      rows.map(({ $key: _key, ...values }) => values),
      'seed',
    );
    const keys = this.seedKeys.get(table._id) ?? new Map<string, string>();
    this.seedKeys.set(table._id, keys);
    rows.forEach((row, i) => {
      if (row.$key !== undefined) keys.set(row.$key, created[i]!._id);
    });
    return created;
  }

  private linkSeedRows(table: FakeTable, rows: FakeRowSeed[], created: FakeRow[]): void {
    rows.forEach((seedRow, i) => {
      for (const [name, value] of Object.entries(seedRow)) {
        const column = this.base.columnNamed(table, name);
        if (column?.type !== 'link' || value === null || value === undefined) continue;
        const other = this.base.linkTarget(table, column);
        if (!other || !Array.isArray(value)) {
          throw new Error(`FakeSeaTable seed: ${table.name}.${name} takes a list of row $keys or _ids`);
        }
        const otherIds = value.map((ref) => {
          const id = this.seedKeys.get(other._id)?.get(String(ref)) ?? String(ref);
          if (!this.base.rowById(other, id)) {
            throw new Error(`FakeSeaTable seed: ${table.name}.${name} links to unknown row ${String(ref)}`);
          }
          return id;
        });
        this.base.changeLinks(
          String(column.data?.link_id),
          table,
          other,
          { [created[i]!._id]: otherIds },
          'add',
        );
      }
    });
  }

  private tableOrThrow(name: string): FakeTable {
    const table = this.base.tableNamed(name);
    if (!table) throw new Error(`FakeSeaTable: no table ${name}`);
    return table;
  }

  // ------------------------------------------------------------ server plumbing

  private listen(port: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        this.port = (this.server.address() as AddressInfo).port;
        this.url = `http://127.0.0.1:${this.port}`;
        resolve();
      });
    });
  }

  private closeServer(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        resolve();
      }, ms);
      this.timers.add(timer);
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    const url = new URL(req.url ?? '/', 'http://fake');
    const authorization = req.headers.authorization ?? '';
    const scheme = /^(\S+)\s/.exec(authorization)?.[1] ?? null;
    let body: unknown;
    if (text !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    const entry: LoggedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: Object.fromEntries(url.searchParams),
      body,
      status: 0,
      authScheme: scheme,
    };
    this.requests.push(entry);

    const scope: FakeScope | null = url.pathname.startsWith(GATEWAY_PREFIX)
      ? 'gateway'
      : url.pathname.replace(/\/+$/, '') === TOKEN_PATH
        ? 'token'
        : null;
    const applies = (wanted: FakeScope) => wanted === 'any' || wanted === scope;
    if (this.latency.ms > 0 && applies(this.latency.scope)) {
      await this.delay(this.latency.ms);
      if (this.stopped || res.destroyed) return;
    }

    let reply: Reply;
    const fault = this.faults.find((f) => f.remaining > 0 && applies(f.scope ?? 'gateway'));
    let periodic: PeriodicFault | undefined;
    for (const candidate of this.periodicFaults) {
      if (!applies(candidate.scope ?? 'gateway')) continue;
      candidate.seen++;
      if (candidate.seen % candidate.every === 0) periodic ??= candidate;
    }
    if (periodic && !fault) {
      reply = this.faultReply({ ...periodic, remaining: 1 }, scope);
    } else if (fault) {
      fault.remaining--;
      this.faults = this.faults.filter((f) => f.remaining > 0);
      reply = this.faultReply(fault, scope);
    } else if (scope === 'token') {
      reply = this.tokenExchange(req.method ?? 'GET', url, authorization);
    } else if (scope === 'gateway') {
      reply = this.gateway(
        req.method ?? 'GET',
        url,
        authorization,
        body,
        text !== '' && typeof body === 'string',
      );
    } else {
      reply = { status: 404, body: { error_message: 'not found' } };
    }
    entry.status = reply.status;
    const payload =
      reply.body === null ? '' : typeof reply.body === 'string' ? reply.body : JSON.stringify(reply.body);
    const contentType =
      typeof reply.body !== 'string'
        ? 'application/json'
        : reply.body.startsWith('<')
          ? 'text/html'
          : 'text/plain';
    res.writeHead(reply.status, {
      ...(payload === '' ? {} : { 'content-type': contentType }),
      ...reply.headers,
    });
    res.end(payload);
  }

  private faultReply(fault: PendingFault, scope: FakeScope | null): Reply {
    const headers: Record<string, string> = { ...fault.headers };
    if (fault.status === 429 && scope === 'gateway' && this.gatewayWindow) {
      headers['x-ratelimit-limit'] = String(this.gatewayWindow.limit);
      headers['x-ratelimit-remaining'] = '0';
      headers['x-ratelimit-reset'] = String(Math.ceil(this.now() / 1000) + (fault.resetInSeconds ?? 1));
    }
    const body =
      fault.body ??
      (fault.status === 429
        ? null
        : fault.status >= 500
          ? errorPage(fault.status)
          : { error_message: 'fault' });
    return { status: fault.status, body, headers };
  }

  // ------------------------------------------------------------ token exchange

  private tokenExchange(method: string, url: URL, authorization: string): Reply {
    if (method !== 'GET') return { status: 405, body: { detail: `Method "${method}" not allowed.` } };
    if (this.tokenWindow) {
      const window = this.tokenWindow.take('token', this.now());
      if (!window.allowed) {
        const wait = Math.max(1, window.resetSeconds - Math.floor(this.now() / 1000));
        return {
          status: 429,
          body: { detail: `Request was throttled. Expected available in ${wait} seconds.` },
          headers: { 'retry-after': String(wait) },
        };
      }
    }
    const match = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(authorization);
    const record = match ? this.tokens.get(match[1]!) : undefined;
    if (!record) {
      return this.options.invalidApiTokenResponse === 'invalid-token-401'
        ? { status: 401, body: { detail: 'Invalid token' } }
        : { status: 403, body: { error_msg: 'Permission denied.' } };
    }
    let lifetime = this.options.baseTokenLifetimeSeconds ?? 3 * 24 * 3600;
    const exp = url.searchParams.get('exp');
    if (exp !== null) {
      const parsed = /^(\d+)([hd])$/.exec(exp);
      if (!parsed) return { status: 400, body: { error_msg: 'exp invalid.' } };
      lifetime = Number(parsed[1]) * (parsed[2] === 'h' ? 3600 : 86_400);
    }
    const accessToken = signBaseToken(
      {
        exp: Math.max(Math.floor(this.now() / 1000) + lifetime, this.minimumExp),
        dtable_uuid: this.baseUuid,
        username: '',
        permission: record.permission,
        app_name: record.appName,
      },
      this.jwtSecret,
    );
    this.tokenMints++;
    this.mintedTokens.push(accessToken);
    const common = {
      app_name: record.appName,
      access_token: accessToken,
      dtable_uuid: this.baseUuid,
      workspace_id: 1,
      dtable_name: this.baseName,
    };
    if (this.options.useApiGateway === false) {
      return {
        status: 200,
        body: {
          ...common,
          dtable_server: `${this.url}/dtable-server/`,
          dtable_socket: `${this.url}/`,
          dtable_db: `${this.url}/dtable-db/`,
        },
      };
    }
    return {
      status: 200,
      body: { ...common, dtable_server: `${this.url}/api-gateway/`, use_api_gateway: true },
    };
  }

  // ------------------------------------------------------------ api-gateway

  private gateway(method: string, url: URL, authorization: string, body: unknown, badJson: boolean): Reply {
    if (this.options.useApiGateway === false) {
      return {
        status: 404,
        body: '<h1>Not Found</h1><p>The requested resource was not found on this server.</p>',
      };
    }
    const [uuid = '', ...rest] = url.pathname.slice(GATEWAY_PREFIX.length).split('/');
    const route = rest.filter((part) => part !== '').map(decodeURIComponent);
    let headers: Record<string, string> = {};
    if (this.gatewayWindow) {
      const window = this.gatewayWindow.take(uuid, this.now());
      headers = {
        'x-ratelimit-limit': String(this.gatewayWindow.limit),
        'x-ratelimit-remaining': String(window.remaining),
        'x-ratelimit-reset': String(window.resetSeconds),
      };
      if (!window.allowed) {
        return {
          status: 429,
          body:
            this.options.rateLimitBody === 'error-message' ? { error_message: 'too many requests' } : null,
          headers,
        };
      }
    }
    try {
      const permission = this.authenticate(uuid, authorization);
      if (badJson) throw badRequest('request body is not valid JSON');
      const result = this.route(
        method,
        route,
        url.searchParams,
        isRecord(body) ? body : {},
        permission === 'rw',
      );
      return { status: 200, body: result, headers };
    } catch (error) {
      if (error instanceof FakeApiError) return { status: error.status, body: error.body, headers };
      throw error;
    }
  }

  private authenticate(uuid: string, authorization: string): 'rw' | 'r' {
    const match = /^(?:token|bearer)\s+(\S+)\s*$/i.exec(authorization);
    if (!match) throw new FakeApiError(401, { error_message: 'no token' });
    const token = match[1]!;
    const claims = verifyBaseToken(token, this.jwtSecret);
    if (!claims || claims.dtable_uuid !== uuid)
      throw new FakeApiError(403, { error_message: 'invalid token' });
    if (claims.exp <= Math.floor(this.now() / 1000) || this.expiredTokens.has(token)) {
      throw new FakeApiError(this.options.expiredTokenStatus ?? 401, { error_message: 'Token expired.' });
    }
    return claims.permission;
  }

  private route(
    method: string,
    route: string[],
    query: URLSearchParams,
    body: Record<string, unknown>,
    canWrite: boolean,
  ): Record<string, unknown> {
    const [resource, id, ...extra] = route;
    const write = () => {
      if (!canWrite) throw forbidden();
    };
    const notAllowed = () => new FakeApiError(405, { error_message: `method ${method} not allowed` });
    const q = (name: string) => query.get(name) ?? undefined;
    if (extra.length > 0) throw notFound('not found');
    if (id !== undefined && resource !== 'rows') throw notFound('not found');

    switch (resource) {
      case 'metadata':
        if (method !== 'GET') throw notAllowed();
        return this.base.metadataJson();
      case 'rows': {
        if (id !== undefined) {
          if (method !== 'GET') throw notAllowed();
          const table = this.base.table({ name: q('table_name'), id: q('table_id') });
          const row = this.base.rowById(table, id);
          if (!row) throw notFound('row _id not exits');
          return this.base.rowJson(table, row, isTrue(query.get('convert_keys')));
        }
        if (method === 'GET') return this.listRows(query);
        write();
        if (method === 'POST') return this.appendRows(body);
        if (method === 'PUT') return this.updateRows(body);
        if (method === 'DELETE') return this.deleteRows(body);
        throw notAllowed();
      }
      case 'sql':
        if (method !== 'POST') throw notAllowed();
        return executeSql(
          this.base,
          body.sql,
          body.parameters,
          body.convert_keys === true,
          canWrite,
          forbidden,
        ) as unknown as Record<string, unknown>;
      case 'tables': {
        if (method !== 'POST') throw notAllowed();
        write();
        const columns = body.columns === undefined ? [] : body.columns;
        if (!Array.isArray(columns)) throw badRequest('columns invalid');
        const table = this.base.createTable(
          String(body.table_name ?? ''),
          columns.map((c) => this.apiColumnSpec(c)),
        );
        return {
          ...this.base.tableJson(table),
          is_header_locked: false,
          summary_configs: {},
          rows: [],
          id_row_map: {},
        };
      }
      case 'columns': {
        if (method === 'GET') {
          const table = this.base.table({ name: q('table_name'), id: q('table_id') });
          if ((q('view_name') !== undefined || q('view_id') !== undefined) && !this.viewExists(query)) {
            throw notFound('view not found');
          }
          return { columns: table.columns.map((c) => this.base.columnJson(c)) };
        }
        if (method !== 'POST') throw notAllowed();
        write();
        const table = this.base.table({ name: body.table_name, id: body.table_id });
        const spec = this.apiColumnSpec(body);
        if (typeof body.anchor_column === 'string') spec.anchor = body.anchor_column;
        return this.base.columnJson(this.base.addColumn(table, spec));
      }
      case 'batch-append-columns': {
        if (method !== 'POST') throw notAllowed();
        write();
        const table = this.base.table({ name: body.table_name, id: body.table_id });
        if (!Array.isArray(body.columns) || body.columns.length === 0) throw badRequest('columns invalid');
        const specs = body.columns.map((c) => this.apiColumnSpec(c));
        const refused = specs.find((s) => ['link', 'formula', 'link-formula'].includes(s.type));
        if (refused) throw badRequest(`column type ${refused.type} cannot be appended with this endpoint`);
        return { columns: specs.map((spec) => this.base.columnJson(this.base.addColumn(table, spec))) };
      }
      case 'links': {
        write();
        const table = this.base.table({ name: body.table_name, id: body.table_id });
        const other = this.base.table({ name: body.other_table_name, id: body.other_table_id });
        if (typeof body.link_id !== 'string') throw badRequest('link_id invalid');
        if (!isRecord(body.other_rows_ids_map)) throw badRequest('other_rows_ids_map invalid');
        const operation =
          method === 'POST' ? 'add' : method === 'PUT' ? 'replace' : method === 'DELETE' ? 'remove' : null;
        if (!operation) throw notAllowed();
        const count = this.base.changeLinks(body.link_id, table, other, body.other_rows_ids_map, operation);
        return operation === 'remove' ? { success: true, deleted_links_count: count } : { success: true };
      }
      case 'query-links':
        if (method !== 'POST') throw notAllowed();
        return this.queryLinks(body);
      default:
        throw notFound('not found');
    }
  }

  /** A column definition as the API takes it: `{column_name, column_type, column_data?}`. */
  private apiColumnSpec(raw: unknown): ColumnSpec {
    if (!isRecord(raw)) throw badRequest('column invalid');
    return {
      name: raw.column_name as string,
      type: raw.column_type as string,
      data: isRecord(raw.column_data) ? raw.column_data : null,
    };
  }

  private viewExists(query: URLSearchParams): boolean {
    return this.base.hasView({
      name: query.get('view_name') ?? undefined,
      id: query.get('view_id') ?? undefined,
    });
  }

  private listRows(query: URLSearchParams): Record<string, unknown> {
    const table = this.base.table({
      name: query.get('table_name') ?? undefined,
      id: query.get('table_id') ?? undefined,
    });
    if ((query.has('view_name') || query.has('view_id')) && !this.viewExists(query))
      throw notFound('view not found');
    const integer = (name: string, fallback: number, min: number) => {
      const raw = query.get(name);
      if (raw === null || raw === '') return fallback;
      const value = Number(raw);
      if (!Number.isInteger(value) || value < min) throw badRequest(`${name} invalid`);
      return value;
    };
    const start = integer('start', 0, 0);
    const limit = Math.min(integer('limit', LIST_ROWS_MAX, 1), LIST_ROWS_MAX);
    const convertKeys = isTrue(query.get('convert_keys'));
    let rows = table.rows;
    // "order_by … Works only if start and limit are set, too."
    const orderBy = query.get('order_by');
    if (orderBy && query.has('start') && query.has('limit')) {
      const column = this.base.columnByNameOrKey(table, orderBy);
      if (!column) throw badRequest(`column ${orderBy} not found`);
      const sign = query.get('direction') === 'desc' ? -1 : 1;
      const sortValue = (row: FakeRow) => {
        const value = this.base.cellJson(table, row, column);
        return value === null
          ? null
          : Array.isArray(value)
            ? JSON.stringify(value)
            : (value as string | number);
      };
      rows = [...rows].sort((a, b) => {
        const x = sortValue(a);
        const y = sortValue(b);
        if (x === y) return 0;
        if (x === null) return -sign;
        if (y === null) return sign;
        return (x < y ? -1 : 1) * sign;
      });
    }
    return {
      rows: rows.slice(start, start + limit).map((row) => this.base.rowJson(table, row, convertKeys)),
    };
  }

  private appendRows(body: Record<string, unknown>): Record<string, unknown> {
    const table = this.base.table({ name: body.table_name, id: body.table_id });
    const rows = Array.isArray(body.rows) ? body.rows : isRecord(body.row) ? [body.row] : null;
    if (!rows || rows.length === 0 || !rows.every(isRecord)) throw badRequest('rows invalid');
    if (rows.length > ROW_WRITE_LIMIT) throw badRequest(`rows exceed the limit of ${ROW_WRITE_LIMIT}`);
    const position =
      typeof body.anchor_row_id === 'string'
        ? { anchorRowId: body.anchor_row_id, above: body.row_insert_position === 'insert_above' }
        : undefined;
    const created = this.base.appendRows(table, rows, 'api', position);
    const first = created[0]!;
    // `first_row` is keyed by column key and holds only stored cells (Append Rows example).
    const firstRow: Record<string, unknown> = {};
    for (const column of table.columns) {
      const value = first.cells.get(column.key);
      if (value !== undefined) firstRow[column.key] = value;
    }
    Object.assign(firstRow, { _id: first._id, _creator: first.creator, _last_modifier: first.lastModifier });
    return {
      inserted_row_count: created.length,
      row_ids: created.map((r) => ({ _id: r._id })),
      first_row: firstRow,
    };
  }

  private updateRows(body: Record<string, unknown>): Record<string, unknown> {
    const table = this.base.table({ name: body.table_name, id: body.table_id });
    const updates = body.updates;
    if (!Array.isArray(updates) || updates.length === 0) throw badRequest('updates invalid');
    if (updates.length > ROW_WRITE_LIMIT)
      throw badRequest(`updates exceed the limit of ${ROW_WRITE_LIMIT} rows`);
    for (const update of updates) {
      if (!isRecord(update) || typeof update.row_id !== 'string' || !isRecord(update.row)) {
        throw badRequest('updates invalid');
      }
    }
    for (const update of updates as Array<{ row_id: string; row: Record<string, unknown> }>) {
      const row = this.base.rowById(table, update.row_id);
      if (row) this.base.writeValues(table, row, update.row, 'api');
    }
    return { success: true };
  }

  private deleteRows(body: Record<string, unknown>): Record<string, unknown> {
    const table = this.base.table({ name: body.table_name, id: body.table_id });
    const ids = body.row_ids;
    if (!Array.isArray(ids) || !ids.every((id) => typeof id === 'string'))
      throw badRequest('row_ids invalid');
    if (ids.length > ROW_DELETE_LIMIT) throw badRequest(`row_ids exceed the limit of ${ROW_DELETE_LIMIT}`);
    this.base.deleteRows(table, ids);
    return { success: true };
  }

  private queryLinks(body: Record<string, unknown>): Record<string, unknown> {
    const table = this.base.table({ name: body.table_name, id: body.table_id });
    const ref = body.link_column_name ?? body.link_column_key;
    const column = typeof ref === 'string' ? this.base.columnByNameOrKey(table, ref) : undefined;
    if (column?.type !== 'link') throw badRequest('link column not found');
    if (!Array.isArray(body.rows)) throw badRequest('rows invalid');
    const result: Record<string, unknown> = {};
    for (const request of body.rows) {
      if (!isRecord(request) || typeof request.row_id !== 'string') throw badRequest('rows invalid');
      const row = this.base.rowById(table, request.row_id);
      if (!row) continue;
      const offset = typeof request.offset === 'number' ? request.offset : 0;
      const limit = Math.min(typeof request.limit === 'number' ? request.limit : 10, 100);
      result[row._id] = this.base
        .linkedRows(table, row, column)
        .sort((a, b) => a.row.ctime - b.row.ctime)
        .slice(offset, offset + limit)
        .map((linked) => ({
          row_id: linked.row._id,
          display_value: this.base.displayValue(linked.table, linked.row),
        }));
    }
    return result;
  }
}
