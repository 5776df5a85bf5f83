/**
 * The one error type of the SeaTable client. It carries the facts (status, method, path, the
 * server's message) so callers decide on data, not on message text. It never holds a token: the
 * client redacts tokens from every server text before it gets here.
 */

/**
 * What went wrong:
 * - `http`: the server answered with an error status;
 * - `api`: HTTP 200 with `success: false` (SQL);
 * - `timeout`: no complete answer within the client's `timeoutMs`;
 * - `network`: no answer at all (connection refused or reset, DNS…);
 * - `invalid-response`: a success status whose body is not the JSON the API documents;
 * - `validation`: refused by the client before sending (unknown table or column, read-only column);
 * - `verification`: a write was accepted but reading the rows back shows it did not land;
 * - `unsupported-server`: the server has no api-gateway (SeaTable < 5.0).
 */
export type SeaTableErrorKind =
  | 'http'
  | 'api'
  | 'timeout'
  | 'network'
  | 'invalid-response'
  | 'validation'
  | 'verification'
  | 'unsupported-server';

export interface SeaTableErrorDetails {
  kind: SeaTableErrorKind;
  /** HTTP status; 0 when there was no response (timeout, network, validation). */
  status?: number;
  method: string;
  /** URL path of the request, without the query string. */
  path: string;
  /** The server's `error_message ?? error_msg ?? detail`, tokens redacted. */
  serverMessage?: string | null;
  /** dtable-server's `error_type` (e.g. `exceed_rows_limit`), when present. */
  errorType?: string | null;
  /** How long the server asked us to wait (429/503), when it said. */
  retryAfterMs?: number | null;
  /** System error code of a network failure, e.g. `ECONNREFUSED`. */
  code?: string | null;
}

export class SeaTableError extends Error {
  override readonly name = 'SeaTableError';
  readonly kind: SeaTableErrorKind;
  readonly status: number;
  readonly method: string;
  readonly path: string;
  readonly serverMessage: string | null;
  readonly errorType: string | null;
  readonly retryAfterMs: number | null;
  readonly code: string | null;

  constructor(message: string, details: SeaTableErrorDetails) {
    super(message);
    this.kind = details.kind;
    this.status = details.status ?? 0;
    this.method = details.method;
    this.path = details.path;
    this.serverMessage = details.serverMessage ?? null;
    this.errorType = details.errorType ?? null;
    this.retryAfterMs = details.retryAfterMs ?? null;
    this.code = details.code ?? null;
  }

  /** True for 401/403: the token is invalid, expired, or lacks the permission. */
  get isAuthError(): boolean {
    return this.status === 401 || this.status === 403;
  }
}

/**
 * The human message of a SeaTable error body, whichever of its three shapes it has:
 * api-gateway `{"error_message"}`, dtable-server/dtable-web `{"error_msg"}`, Django REST `{"detail"}`.
 */
export function serverMessageOf(body: unknown): string | null {
  if (typeof body !== 'object' || body === null) return null;
  const record = body as Record<string, unknown>;
  for (const field of ['error_message', 'error_msg', 'detail'] as const) {
    const value = record[field];
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
  }
  return null;
}

/** Replaces every occurrence of each secret in `text` with `[redacted]`. */
export function redactSecrets(text: string, secrets: Iterable<string>): string {
  let result = text;
  for (const secret of secrets) {
    if (secret.length >= 8) result = result.split(secret).join('[redacted]');
  }
  return result;
}
