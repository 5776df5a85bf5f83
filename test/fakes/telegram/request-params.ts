/**
 * Turns an HTTP request into Bot API parameters: the query string plus a JSON, urlencoded or
 * multipart body. The real server sees every parameter as a string and parses it per field; here
 * string values of known fields are coerced the same way (numbers, booleans, JSON-encoded objects
 * such as `reply_markup` or `media`), so handlers see one shape whatever the client sent.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { badRequest } from './bot-api-error.js';
import { MultipartError, multipartBoundary, parseMultipart } from './multipart.js';

/** A file part received in a multipart body. */
export interface ReceivedFile {
  /** The part name (`attach://<name>` refers to it). */
  field: string;
  /** The file name after decoding, as the real server stores it. */
  filename: string;
  /** The file name parameter as it appeared in the part header. */
  rawFilename: string;
  contentType: string;
  data: Buffer;
  size: number;
  /** Hex SHA-256 of the bytes. */
  sha256: string;
}

/** Parameters of one call, coerced, plus its file parts by part name. */
export interface ApiRequest {
  params: Record<string, unknown>;
  files: Map<string, ReceivedFile>;
}

/** Fields whose string value is a JSON-serialized object or array. */
const JSON_FIELDS = new Set([
  'reply_markup',
  'media',
  'commands',
  'caption_entities',
  'entities',
  'allowed_updates',
  'scope',
  'reply_parameters',
  'link_preview_options',
]);

/** Fields that are integers (chat ids may also be `@username`). */
const INTEGER_FIELDS = new Set([
  'chat_id',
  'message_thread_id',
  'offset',
  'limit',
  'timeout',
  'reply_to_message_id',
  'user_id',
  'message_id',
  'max_connections',
]);

/** Fields that are booleans: `true`/`1` are true, anything else false (TDLib `to_bool`). */
const BOOLEAN_FIELDS = new Set([
  'disable_notification',
  'protect_content',
  'allow_paid_broadcast',
  'drop_pending_updates',
  'show_caption_above_media',
  'has_spoiler',
  'disable_content_type_detection',
  'allow_sending_without_reply',
  'disable_web_page_preview',
]);

/** Coerces one raw value of `field` to the type the Bot API reads it as. */
export function coerceParam(field: string, value: unknown): unknown {
  if (typeof value !== 'string') return value;
  if (JSON_FIELDS.has(field)) {
    try {
      return JSON.parse(value);
    } catch {
      return value; // left as a string: the handler reports the field as unparsable
    }
  }
  if (INTEGER_FIELDS.has(field) && /^\s*-?\d+\s*$/.test(value)) return Number(value.trim());
  if (BOOLEAN_FIELDS.has(field)) return value.toLowerCase() === 'true' || value === '1';
  return value;
}

/** Where a body was cut because it exceeded the read cap. */
export interface RawBody {
  bytes: Buffer;
  /** Total bytes received, including the ones not kept. */
  receivedBytes: number;
  /** True when more than `maxBytes` arrived (the kept bytes are incomplete). */
  truncated: boolean;
}

/** Reads the whole body; bytes beyond `maxBytes` are counted and discarded, not kept. */
export function readBody(request: IncomingMessage, maxBytes: number): Promise<RawBody> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let kept = 0;
    let received = 0;
    request.on('data', (chunk: Buffer) => {
      received += chunk.length;
      if (kept < maxBytes) {
        const room = maxBytes - kept;
        const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
        chunks.push(part);
        kept += part.length;
      }
    });
    request.on('end', () =>
      resolve({ bytes: Buffer.concat(chunks), receivedBytes: received, truncated: received > maxBytes }),
    );
    request.on('error', reject);
    request.on('close', () => {
      if (!request.complete) reject(new Error('the client closed the connection while sending'));
    });
  });
}

/** Builds the parameters of a call from its URL query and body. */
export function parseApiRequest(
  url: URL,
  contentType: string | undefined,
  body: Buffer,
  maxFiles: number,
): ApiRequest | 'too-many-files' {
  const params: Record<string, unknown> = {};
  const files = new Map<string, ReceivedFile>();
  for (const [key, value] of url.searchParams) params[key] = coerceParam(key, value);

  const type = (contentType ?? '').toLowerCase();
  if (body.length === 0) return { params, files };

  let boundary: string | undefined;
  try {
    boundary = multipartBoundary(contentType);
  } catch (error) {
    throw badRequest((error as Error).message);
  }

  if (boundary !== undefined) {
    let form: ReturnType<typeof parseMultipart>;
    try {
      form = parseMultipart(body, boundary);
    } catch (error) {
      if (error instanceof MultipartError) throw badRequest(error.message);
      throw error;
    }
    if (form.files.length > maxFiles) return 'too-many-files';
    for (const field of form.fields) params[field.name] = coerceParam(field.name, field.value);
    for (const file of form.files) {
      files.set(file.name, {
        field: file.name,
        filename: file.filename,
        rawFilename: file.rawFilename,
        contentType: file.contentType,
        data: file.data,
        size: file.data.length,
        sha256: createHash('sha256').update(file.data).digest('hex'),
      });
    }
  } else if (type.includes('application/json')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch {
      // The real server logs unparsable JSON and carries on without parameters.
      parsed = {};
    }
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      for (const [key, value] of Object.entries(parsed)) params[key] = coerceParam(key, value);
    }
  } else if (type.includes('application/x-www-form-urlencoded')) {
    for (const [key, value] of new URLSearchParams(body.toString('utf8'))) {
      params[key] = coerceParam(key, value);
    }
  }
  return { params, files };
}
