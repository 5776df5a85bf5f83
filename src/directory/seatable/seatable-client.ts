/**
 * A thin typed client for SeaTable's api-gateway (SeaTable ≥ 5.0) over Node's fetch: the calls the
 * bot needs, a Base-Token that renews itself, a timeout on every request, bounded retries with
 * backoff on 429/502/503/504, and one error type. Why not the `seatable-api` npm package: see
 * shared/research/seatable-api.md §4 (no types, no token refresh, no retry, no SQL parameters).
 *
 * Secrets: the API-Token and the Base-Token live in private fields, go only into Authorization
 * headers, and are redacted from every server text that reaches an error; logs carry method, path,
 * status and timings only.
 */
import { BaseTokenCache, type BaseTokenGrant, jwtExpiry } from './base-token.js';
import { redactSecrets, SeaTableError, type SeaTableErrorKind, serverMessageOf } from './seatable-error.js';
import {
  findTable,
  READ_ONLY_COLUMN_TYPES,
  type SeaTableColumn,
  type SeaTableColumnDefinition,
  type SeaTableMetadata,
  type SeaTableRow,
  type SeaTableRowUpdate,
  type SeaTableSqlParameter,
  type SeaTableSqlResult,
  type SeaTableTable,
} from './seatable-model.js';

/** The logging the client does: pino's `logger.debug(obj, msg)` shape, so a pino logger fits. */
export interface SeaTableLogger {
  debug(details: Record<string, unknown>, message: string): void;
  warn(details: Record<string, unknown>, message: string): void;
}

export interface SeaTableClientOptions {
  /** The server's root URL, e.g. `https://cloud.seatable.io` (no `/api-gateway`, trailing slash optional). */
  serverUrl: string;
  /** The base's API-Token (SeaTable UI: base ⋯ → Advanced → API Token). Never logged. */
  apiToken: string;
  /** Time limit of one HTTP request, body included, in ms. Default 30 000. */
  timeoutMs?: number;
  /** Attempts per request when the answer is 429/502/503/504 or a connection error (1 = no retry). Default 5. */
  maxAttempts?: number;
  /** First backoff delay in ms; doubles per attempt, with jitter. Default 1000. */
  retryBaseDelayMs?: number;
  /**
   * Longest single wait in ms, for backoff and for a server-announced reset. When the server asks
   * for longer, the request fails at once with `retryAfterMs` set. Default 60 000.
   */
  maxRetryDelayMs?: number;
  /** Renew the Base-Token this long before its `exp` (capped at half its lifetime). Default 600 000 (10 min). */
  tokenRenewMarginMs?: number;
  /** The fetch to use. Default: the global fetch. */
  fetch?: typeof fetch;
  /** Where retries and token renewals are reported. Default: nowhere. */
  logger?: SeaTableLogger;
  /** Clock in epoch ms (tests share a fake clock through this). Default `Date.now`. */
  now?: () => number;
  /** How the client waits between attempts (tests record the delays through this). Default: setTimeout. */
  sleep?: (ms: number) => Promise<void>;
  /** Source of jitter in [0, 1). Default `Math.random`. */
  random?: () => number;
}

/** Options of a raw base request. */
export interface SeaTableRequestOptions {
  /** Query parameters; undefined values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  /** JSON body. */
  body?: unknown;
  /** Safe to send twice (then 502/504 and dropped connections are retried too). Default: true for GET. */
  idempotent?: boolean;
}

/** What the token exchange says about the base. */
export interface SeaTableBaseInfo {
  dtableUuid: string;
  dtableName: string | null;
  workspaceId: number | null;
  appName: string | null;
}

/** Rows per list-rows page: the API's maximum. */
const PAGE_SIZE = 1000;
/** Rows per append/update call (the documented batch limit). */
const WRITE_BATCH_SIZE = 1000;
/** Row ids per read-back query of updateRowsChecked. */
const VERIFY_BATCH_SIZE = 100;
/** Lifetime assumed for a Base-Token whose `exp` cannot be read. */
const FALLBACK_TOKEN_LIFETIME_MS = 60 * 60 * 1000;
/**
 * Extra random wait on top of a server-announced reset, so clients (and the calls of one client)
 * do not return in lockstep: at least this, or a twentieth of the wait when that is longer.
 */
const RESET_JITTER_MS = 250;

interface HttpAnswer {
  status: number;
  headers: Headers;
  text: string;
  /** Parsed body; undefined when empty or not JSON. */
  json: unknown;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function chunks<T>(items: readonly T[], size: number): T[][] {
  const result: T[][] = [];
  for (let i = 0; i < items.length; i += size) result.push(items.slice(i, i + size));
  return result;
}

function isEmptyCell(value: unknown): boolean {
  return (
    value === null || value === undefined || value === '' || (Array.isArray(value) && value.length === 0)
  );
}

/** Whether a value read back (SQL, convert_keys) is the value that was written, for this column type. */
function sameCellValue(column: SeaTableColumn, written: unknown, read: unknown): boolean {
  if (isEmptyCell(written)) return isEmptyCell(read) || (column.type === 'checkbox' && read === false);
  switch (column.type) {
    case 'checkbox':
      return (read === true) === (written === true || written === 'true');
    case 'number':
    case 'duration':
    case 'rate':
      return typeof read === 'number' && read === Number(written);
    case 'date': {
      if (typeof written !== 'string' || typeof read !== 'string') return false;
      if (/^\d{4}-\d\d-\d\d$/.test(written.trim())) return read.slice(0, 10) === written.trim();
      const instant = (text: string) => {
        const iso = text.trim().replace(' ', 'T');
        return Date.parse(/(Z|[+-]\d\d:?\d\d)$/i.test(iso) ? iso : `${iso}Z`);
      };
      return instant(written) === instant(read);
    }
    case 'multiple-select':
    case 'collaborator': {
      const want = [...new Set((Array.isArray(written) ? written : [written]).map(String))].sort();
      const got = Array.isArray(read) ? read.map(String).sort() : [];
      return want.length === got.length && want.every((value, i) => value === got[i]);
    }
    default:
      if (typeof read === 'string' || typeof read === 'number' || typeof read === 'boolean') {
        return String(read) === String(written);
      }
      return JSON.stringify(read) === JSON.stringify(written);
  }
}

function backtickQuoted(name: string): string {
  return `\`${name}\``;
}

export class SeaTableClient {
  readonly #apiToken: string;
  readonly #tokens: BaseTokenCache;
  readonly #serverUrl: string;
  readonly #timeoutMs: number;
  readonly #maxAttempts: number;
  readonly #retryBaseDelayMs: number;
  readonly #maxRetryDelayMs: number;
  readonly #fetch: typeof fetch;
  readonly #logger: SeaTableLogger | undefined;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;
  /** The last Base-Tokens minted, kept only to redact them from server texts. */
  #recentBaseTokens: string[] = [];
  /** The base's uuid once known, for error texts. */
  #dtableUuid: string | null = null;

  constructor(options: SeaTableClientOptions) {
    if (!/^https?:\/\//.test(options.serverUrl)) {
      throw new Error('SeaTableClient: serverUrl must be an http(s) URL');
    }
    if (!options.apiToken) throw new Error('SeaTableClient: apiToken is empty');
    this.#serverUrl = options.serverUrl.replace(/\/+$/, '');
    this.#apiToken = options.apiToken;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#retryBaseDelayMs = options.retryBaseDelayMs ?? 1000;
    this.#maxRetryDelayMs = options.maxRetryDelayMs ?? 60_000;
    this.#fetch = options.fetch ?? fetch;
    this.#logger = options.logger;
    this.#now = options.now ?? Date.now;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
    this.#tokens = new BaseTokenCache({
      mint: () => this.#mintBaseToken(),
      now: this.#now,
      renewMarginMs: options.tokenRenewMarginMs ?? 10 * 60 * 1000,
      fallbackLifetimeMs: FALLBACK_TOKEN_LIFETIME_MS,
    });
  }

  /**
   * Exchanges the API-Token (once, then cached) and fails with kind `unsupported-server` when the
   * server has no api-gateway (SeaTable < 5.0). Call it at startup for a clear first error.
   */
  async checkUseApiGateway(): Promise<SeaTableBaseInfo> {
    const grant = await this.#gatewayGrant();
    return {
      dtableUuid: grant.dtableUuid,
      dtableName: grant.dtableName,
      workspaceId: grant.workspaceId,
      appName: grant.appName,
    };
  }

  /** All tables with their columns (Get Metadata). */
  async getMetadata(): Promise<SeaTableMetadata> {
    const body = await this.request<{ metadata?: SeaTableMetadata }>('GET', 'metadata/');
    if (!isRecord(body.metadata) || !Array.isArray(body.metadata.tables)) {
      throw this.#invalidResponse('GET', 'metadata/', 'no metadata.tables in the response');
    }
    return body.metadata;
  }

  /**
   * Every row of a table, 1000 per request until a page comes back short. Keys are column names
   * unless `convertKeys` is false. With `viewName`, only that view's rows and visible columns.
   */
  async listAllRows(
    table: string,
    options: { convertKeys?: boolean; viewName?: string } = {},
  ): Promise<SeaTableRow[]> {
    const rows: SeaTableRow[] = [];
    let previousFirstId: string | undefined;
    for (let start = 0; ; start += PAGE_SIZE) {
      const body = await this.request<{ rows?: SeaTableRow[] }>('GET', 'rows/', {
        query: {
          table_name: table,
          view_name: options.viewName,
          start,
          limit: PAGE_SIZE,
          convert_keys: options.convertKeys ?? true,
        },
      });
      if (!Array.isArray(body.rows)) throw this.#invalidResponse('GET', 'rows/', 'no rows in the response');
      // A server that ignores `start` would page forever.
      if (body.rows.length > 0 && body.rows[0]?._id === previousFirstId) {
        throw this.#invalidResponse('GET', 'rows/', `the page at start=${start} repeats the previous page`);
      }
      previousFirstId = body.rows[0]?._id;
      rows.push(...body.rows);
      if (body.rows.length < PAGE_SIZE) return rows;
    }
  }

  /** One row by id (Get Row); an unknown id is an `http` error with status 404. */
  async getRow(table: string, rowId: string, options: { convertKeys?: boolean } = {}): Promise<SeaTableRow> {
    const body = await this.request<SeaTableRow>('GET', `rows/${encodeURIComponent(rowId)}/`, {
      query: { table_name: table, convert_keys: options.convertKeys ?? true },
    });
    if (!isRecord(body) || typeof body._id !== 'string') {
      throw this.#invalidResponse('GET', 'rows/', 'the row has no _id');
    }
    return body;
  }

  /**
   * Runs one SQL statement with `?` placeholders bound from `parameters`. `convert_keys` is always
   * sent (default true: results keyed by column name, select options by name). A SELECT without
   * LIMIT returns at most 100 rows, with LIMIT at most 10 000: page with LIMIT/OFFSET. UPDATE and
   * DELETE answer with empty `metadata`/`results` and no row count. `success: false` → kind `api`.
   */
  async sql(
    statement: string,
    parameters: readonly SeaTableSqlParameter[] = [],
    options: { convertKeys?: boolean } = {},
  ): Promise<SeaTableSqlResult> {
    const body = await this.request<Record<string, unknown>>('POST', 'sql/', {
      body: {
        sql: statement,
        convert_keys: options.convertKeys ?? true,
        ...(parameters.length > 0 ? { parameters } : {}),
      },
      // SELECT, and UPDATE/DELETE with constants, give the same result when repeated.
      idempotent: /^\s*(select|update|delete)\b/i.test(statement),
    });
    if (body.success !== true) {
      const message = this.#redact(serverMessageOf(body) ?? 'the response does not say success: true');
      throw this.#error('api', `SeaTable SQL failed: ${message}`, {
        method: 'POST',
        path: this.#basePath('sql/'),
        status: 200,
        serverMessage: message,
      });
    }
    return {
      metadata: Array.isArray(body.metadata) ? (body.metadata as SeaTableColumn[]) : [],
      results: Array.isArray(body.results) ? (body.results as SeaTableRow[]) : [],
    };
  }

  /**
   * Changes rows (Update Rows), 1000 per request. Column names only. SeaTable silently ignores
   * unknown column names and read-only columns: prefer `updateRowsChecked` when that matters.
   */
  async updateRows(table: string, updates: readonly SeaTableRowUpdate[]): Promise<void> {
    for (const batch of chunks(updates, WRITE_BATCH_SIZE)) {
      const body = await this.request<Record<string, unknown>>('PUT', 'rows/', {
        body: { table_name: table, updates: batch.map((u) => ({ row_id: u.rowId, row: u.row })) },
        idempotent: true,
      });
      if (body.success !== true) {
        throw this.#error(
          'api',
          `SeaTable did not confirm the update of ${batch.length} row(s) in "${table}"`,
          {
            method: 'PUT',
            path: this.#basePath('rows/'),
            status: 200,
            serverMessage: this.#redact(serverMessageOf(body) ?? ''),
          },
        );
      }
    }
  }

  /**
   * `updateRows` with the checks SeaTable does not make: every column name must exist in the
   * table and be writable (kind `validation`, nothing is sent), and afterwards the rows are read
   * back with SQL to confirm every value landed (kind `verification`, naming rows and columns).
   * Pass `metadata` to skip fetching it.
   */
  async updateRowsChecked(
    table: string,
    updates: readonly SeaTableRowUpdate[],
    options: { metadata?: SeaTableMetadata } = {},
  ): Promise<void> {
    if (updates.length === 0) return;
    const metadata = options.metadata ?? (await this.getMetadata());
    const target = findTable(metadata, table);
    if (!target) {
      const known = metadata.tables.map((t) => `"${t.name}"`).join(', ');
      throw this.#validationError(`Table "${table}" does not exist in the base (tables: ${known})`);
    }
    const columns = new Map(target.columns.map((c) => [c.name, c]));
    for (const update of updates) {
      for (const name of Object.keys(update.row)) {
        const column = columns.get(name);
        if (!column) {
          const known = target.columns.map((c) => `"${c.name}"`).join(', ');
          throw this.#validationError(
            `Column "${name}" does not exist in table "${table}"; SeaTable would ignore it silently (columns: ${known})`,
          );
        }
        if (READ_ONLY_COLUMN_TYPES.has(column.type)) {
          throw this.#validationError(
            `Column "${name}" in table "${table}" is of type ${column.type}, which the row API does not write`,
          );
        }
      }
    }
    if (table.includes('`') || updates.some((u) => Object.keys(u.row).some((name) => name.includes('`')))) {
      throw this.#validationError(
        `Table "${table}" cannot be read back with SQL: a name contains a backtick`,
      );
    }
    await this.updateRows(table, updates);
    await this.#verifyUpdate(target, updates);
  }

  /** Adds rows at the end of a table (Append Rows), 1000 per request; returns the new row ids in order. */
  async appendRows(
    table: string,
    rows: ReadonlyArray<Record<string, unknown>>,
    options: { applyDefault?: boolean } = {},
  ): Promise<string[]> {
    const ids: string[] = [];
    for (const batch of chunks(rows, WRITE_BATCH_SIZE)) {
      const body = await this.request<{ row_ids?: Array<{ _id?: unknown }> }>('POST', 'rows/', {
        body: {
          table_name: table,
          rows: batch,
          ...(options.applyDefault === undefined ? {} : { apply_default: options.applyDefault }),
        },
      });
      if (!Array.isArray(body.row_ids))
        throw this.#invalidResponse('POST', 'rows/', 'no row_ids in the response');
      ids.push(...body.row_ids.map((r) => String(r._id)));
    }
    return ids;
  }

  /**
   * Creates a table (Create Table). The first column must be text, number, date, single-select,
   * formula or auto-number. Link columns take `linkTo`; their twin appears in the other table.
   */
  async createTable(name: string, columns: readonly SeaTableColumnDefinition[]): Promise<SeaTableTable> {
    const body = await this.request<SeaTableTable>('POST', 'tables/', {
      body: { table_name: name, columns: columns.map((column) => this.#columnBody(name, column)) },
    });
    if (!isRecord(body) || typeof body._id !== 'string' || !Array.isArray(body.columns)) {
      throw this.#invalidResponse('POST', 'tables/', 'the response is not a table');
    }
    return body;
  }

  /** Adds a column at the end of a table, or after `anchorColumn` (Insert Column). */
  async addColumn(
    table: string,
    column: SeaTableColumnDefinition,
    options: { anchorColumn?: string } = {},
  ): Promise<SeaTableColumn> {
    const body = await this.request<SeaTableColumn>('POST', 'columns/', {
      body: {
        table_name: table,
        ...this.#columnBody(table, column),
        ...(options.anchorColumn === undefined ? {} : { anchor_column: options.anchorColumn }),
      },
    });
    if (!isRecord(body) || typeof body.key !== 'string') {
      throw this.#invalidResponse('POST', 'columns/', 'the response is not a column');
    }
    return body;
  }

  /**
   * One api-gateway call on the base: `path` is relative to `/api-gateway/api/v2/dtables/{uuid}/`
   * (e.g. `rows/`). Adds the Base-Token; on a first 401/403 renews the token and retries once;
   * retries 429/502/503/504 with backoff. Returns the parsed JSON body of a 2xx answer.
   */
  async request<T>(method: string, path: string, options: SeaTableRequestOptions = {}): Promise<T> {
    const idempotent = options.idempotent ?? method === 'GET';
    let grant = await this.#gatewayGrant();
    let answer = await this.#withRetries(
      method,
      this.#baseUrl(grant, path, options.query),
      grant.accessToken,
      {
        body: options.body,
        idempotent,
      },
    );
    if (answer.status === 401 || answer.status === 403) {
      this.#logger?.warn(
        { method, path: this.#basePath(path), status: answer.status },
        'SeaTable refused the base token; renewing it and retrying once',
      );
      grant = await this.#tokens.replace(grant.accessToken);
      this.#requireGateway(grant);
      answer = await this.#withRetries(method, this.#baseUrl(grant, path, options.query), grant.accessToken, {
        body: options.body,
        idempotent,
      });
    }
    const fullPath = this.#basePath(path);
    if (answer.status < 200 || answer.status >= 300) throw this.#httpError(method, fullPath, answer);
    if (answer.json === undefined) throw this.#invalidResponse(method, path, 'the body is not JSON');
    return answer.json as T;
  }

  // ------------------------------------------------------------------ internals

  async #gatewayGrant(): Promise<BaseTokenGrant> {
    const grant = await this.#tokens.current();
    this.#requireGateway(grant);
    return grant;
  }

  #requireGateway(grant: BaseTokenGrant): void {
    if (grant.useApiGateway) return;
    throw this.#error(
      'unsupported-server',
      `SeaTable at ${this.#serverUrl} has no api-gateway (its base-token response lacks "use_api_gateway": true); ` +
        'this bot needs SeaTable 5.0 or newer',
      { method: 'GET', path: '/api/v2.1/dtable/app-access-token/', status: 200 },
    );
  }

  async #mintBaseToken(): Promise<Omit<BaseTokenGrant, 'expiresAt' | 'renewAt'>> {
    const url = new URL(`${this.#serverUrl}/api/v2.1/dtable/app-access-token/`);
    const answer = await this.#withRetries('GET', url, this.#apiToken, { idempotent: true });
    if (answer.status === 401 || answer.status === 403) {
      const error = this.#httpError('GET', url.pathname, answer);
      throw this.#error(
        'http',
        `SeaTable did not accept the API token (HTTP ${answer.status}: ${error.serverMessage})`,
        {
          method: 'GET',
          path: url.pathname,
          status: answer.status,
          serverMessage: error.serverMessage,
        },
      );
    }
    if (answer.status < 200 || answer.status >= 300) throw this.#httpError('GET', url.pathname, answer);
    const body = answer.json;
    if (!isRecord(body) || typeof body.access_token !== 'string' || typeof body.dtable_uuid !== 'string') {
      throw this.#invalidResponse('GET', url.pathname, 'no access_token/dtable_uuid in the token response');
    }
    this.#recentBaseTokens = [body.access_token, ...this.#recentBaseTokens].slice(0, 3);
    this.#dtableUuid = body.dtable_uuid;
    const expiresAt = jwtExpiry(body.access_token);
    this.#logger?.debug(
      {
        dtableUuid: body.dtable_uuid,
        useApiGateway: body.use_api_gateway === true,
        expiresAt: expiresAt === null ? null : new Date(expiresAt).toISOString(),
      },
      'SeaTable base token minted',
    );
    return {
      accessToken: body.access_token,
      dtableUuid: body.dtable_uuid,
      useApiGateway: body.use_api_gateway === true,
      dtableName: typeof body.dtable_name === 'string' ? body.dtable_name : null,
      workspaceId: typeof body.workspace_id === 'number' ? body.workspace_id : null,
      appName: typeof body.app_name === 'string' ? body.app_name : null,
    };
  }

  /** Sends until the answer is final: not retryable, out of attempts, or a wait longer than allowed. */
  async #withRetries(
    method: string,
    url: URL,
    token: string,
    options: { body?: unknown; idempotent: boolean },
  ): Promise<HttpAnswer> {
    for (let attempt = 1; ; attempt++) {
      let answer: HttpAnswer;
      try {
        answer = await this.#send(method, url, token, options.body);
      } catch (error) {
        // A refused connection never reached the server, so even a non-idempotent call may go again.
        const retryable =
          error instanceof SeaTableError &&
          error.kind === 'network' &&
          (options.idempotent || error.code === 'ECONNREFUSED');
        if (!retryable || attempt >= this.#maxAttempts) throw error;
        const delayMs = this.#backoff(attempt);
        this.#logger?.warn(
          { method, path: url.pathname, code: error.code, attempt, delayMs },
          'SeaTable unreachable; retrying',
        );
        await this.#sleep(delayMs);
        continue;
      }
      const retryable =
        answer.status === 429 ||
        answer.status === 503 ||
        (options.idempotent && (answer.status === 502 || answer.status === 504));
      if (!retryable || attempt >= this.#maxAttempts) return answer;
      const announced = this.#announcedDelay(answer);
      if (announced !== null && announced > this.#maxRetryDelayMs) return answer;
      const delayMs =
        announced !== null
          ? announced + Math.round(this.#random() * Math.max(RESET_JITTER_MS, announced / 20))
          : this.#backoff(attempt);
      this.#logger?.warn(
        { method, path: url.pathname, status: answer.status, attempt, delayMs },
        'SeaTable request failed; retrying',
      );
      await this.#sleep(delayMs);
    }
  }

  /** One HTTP exchange, body read included, within the timeout. */
  async #send(method: string, url: URL, token: string, body: unknown): Promise<HttpAnswer> {
    const signal = AbortSignal.timeout(this.#timeoutMs);
    try {
      const response = await this.#fetch(url, {
        method,
        headers: {
          authorization: `Bearer ${token}`,
          accept: 'application/json',
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      const text = await response.text();
      let json: unknown;
      if (text !== '') {
        try {
          json = JSON.parse(text);
        } catch {
          json = undefined;
        }
      }
      return { status: response.status, headers: response.headers, text, json };
    } catch (error) {
      if (signal.aborted) {
        throw this.#error(
          'timeout',
          `SeaTable ${method} ${url.pathname} timed out after ${this.#timeoutMs} ms`,
          {
            method,
            path: url.pathname,
          },
        );
      }
      const cause = (error as { cause?: { code?: unknown } }).cause;
      const code =
        typeof cause?.code === 'string'
          ? cause.code
          : typeof (error as { code?: unknown }).code === 'string'
            ? ((error as { code: string }).code as string)
            : null;
      const reason = code ?? this.#redact(error instanceof Error ? error.message : String(error));
      throw this.#error('network', `SeaTable ${method} ${url.pathname} failed: no answer (${reason})`, {
        method,
        path: url.pathname,
        code,
      });
    }
  }

  #backoff(attempt: number): number {
    const ceiling = Math.min(this.#maxRetryDelayMs, this.#retryBaseDelayMs * 2 ** (attempt - 1));
    return Math.round(ceiling / 2 + (this.#random() * ceiling) / 2);
  }

  /**
   * The wait the server asked for: `Retry-After` (seconds or HTTP date), else on 429 the
   * `x-ratelimit-reset` header (unix seconds; small values are read as seconds from now).
   */
  #announcedDelay(answer: HttpAnswer): number | null {
    const retryAfter = answer.headers.get('retry-after');
    if (retryAfter !== null && retryAfter.trim() !== '') {
      const seconds = Number(retryAfter);
      if (Number.isFinite(seconds)) return Math.max(0, Math.ceil(seconds * 1000));
      const date = Date.parse(retryAfter);
      if (!Number.isNaN(date)) return Math.max(0, date - this.#now());
    }
    if (answer.status === 429) {
      const reset = Number(answer.headers.get('x-ratelimit-reset') ?? Number.NaN);
      if (Number.isFinite(reset) && reset > 0) {
        return Math.max(0, Math.ceil(reset > 1e9 ? reset * 1000 - this.#now() : reset * 1000));
      }
    }
    return null;
  }

  async #verifyUpdate(table: SeaTableTable, updates: readonly SeaTableRowUpdate[]): Promise<void> {
    const expected = new Map<string, Record<string, unknown>>();
    for (const update of updates)
      expected.set(update.rowId, { ...expected.get(update.rowId), ...update.row });
    const names = [...new Set(updates.flatMap((u) => Object.keys(u.row)))];
    const found = new Map<string, SeaTableRow>();
    for (const ids of chunks([...expected.keys()], VERIFY_BATCH_SIZE)) {
      const select = names.length > 0 ? names.map(backtickQuoted).join(', ') : '_id';
      const { results } = await this.sql(
        `SELECT ${select} FROM ${backtickQuoted(table.name)} WHERE _id IN (${ids.map(() => '?').join(', ')}) LIMIT ${ids.length}`,
        ids,
      );
      for (const row of results) found.set(row._id, row);
    }
    const columns = new Map(table.columns.map((c) => [c.name, c]));
    const problems: string[] = [];
    for (const [rowId, values] of expected) {
      const row = found.get(rowId);
      if (!row) {
        problems.push(`row ${rowId} does not exist`);
        continue;
      }
      for (const [name, value] of Object.entries(values)) {
        if (!sameCellValue(columns.get(name)!, value, row[name]))
          problems.push(`row ${rowId} column "${name}"`);
      }
    }
    if (problems.length > 0) {
      const listed =
        problems.slice(0, 10).join('; ') + (problems.length > 10 ? `; and ${problems.length - 10} more` : '');
      throw this.#error(
        'verification',
        `SeaTable accepted the update of table "${table.name}" but reading it back shows it did not land: ${listed}`,
        { method: 'PUT', path: this.#basePath('rows/'), status: 200 },
      );
    }
  }

  #columnBody(table: string, column: SeaTableColumnDefinition): Record<string, unknown> {
    const data =
      column.linkTo === undefined ? column.data : { ...column.data, table, other_table: column.linkTo };
    return {
      column_name: column.name,
      column_type: column.type,
      ...(data === undefined ? {} : { column_data: data }),
    };
  }

  #baseUrl(grant: BaseTokenGrant, path: string, query: SeaTableRequestOptions['query']): URL {
    const url = new URL(
      `${this.#serverUrl}/api-gateway/api/v2/dtables/${encodeURIComponent(grant.dtableUuid)}/${path.replace(/^\/+/, '')}`,
    );
    for (const [name, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(name, String(value));
    }
    return url;
  }

  /** The path of a base call for error texts (the uuid is not secret; `{base}` before the first exchange). */
  #basePath(path: string): string {
    return `/api-gateway/api/v2/dtables/${this.#dtableUuid ?? '{base}'}/${path.replace(/^\/+/, '')}`;
  }

  #redact(text: string): string {
    return redactSecrets(text, [this.#apiToken, ...this.#recentBaseTokens]);
  }

  #httpError(method: string, path: string, answer: HttpAnswer): SeaTableError {
    const fromBody = serverMessageOf(answer.json);
    let serverMessage: string;
    // Redact before shortening: a cut token would no longer match its secret.
    if (fromBody !== null) serverMessage = this.#redact(fromBody).slice(0, 500);
    else if (answer.status === 429) serverMessage = 'too many requests (rate limited)';
    else if (answer.text.trim() === '' || answer.text.trimStart().startsWith('<'))
      serverMessage = `HTTP ${answer.status}`;
    else serverMessage = this.#redact(answer.text.trim()).slice(0, 200);
    const errorType =
      isRecord(answer.json) && typeof answer.json.error_type === 'string' ? answer.json.error_type : null;
    return this.#error(
      'http',
      `SeaTable ${method} ${path} failed with HTTP ${answer.status}: ${serverMessage}`,
      {
        method,
        path,
        status: answer.status,
        serverMessage,
        errorType,
        retryAfterMs: answer.status === 429 || answer.status === 503 ? this.#announcedDelay(answer) : null,
      },
    );
  }

  #invalidResponse(method: string, path: string, what: string): SeaTableError {
    const fullPath = path.startsWith('/') ? path : this.#basePath(path);
    return this.#error('invalid-response', `SeaTable ${method} ${fullPath} answered unexpectedly: ${what}`, {
      method,
      path: fullPath,
      status: 200,
    });
  }

  #validationError(message: string): SeaTableError {
    return this.#error('validation', message, { method: 'PUT', path: this.#basePath('rows/') });
  }

  #error(
    kind: SeaTableErrorKind,
    message: string,
    details: Omit<ConstructorParameters<typeof SeaTableError>[1], 'kind'>,
  ): SeaTableError {
    return new SeaTableError(this.#redact(message), { ...details, kind });
  }
}
