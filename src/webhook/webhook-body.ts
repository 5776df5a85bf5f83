/**
 * Reads one POST of Superset's webhook: `multipart/form-data` (text fields `name`, `header`,
 * `description`, `url`, `text`; files under `files`) streamed through busboy, every file part of a
 * forwarded kind straight into the spool; or an `application/json` body with the same keys (a failure notice, no files).
 * Nothing holds the body or a file whole in memory, and every count and size has a bound.
 *
 * Files are recognised by their bytes, never by their names or declared types, by the same per-part
 * reader as a mail's parts (src/mail/file-part-reader.ts): what FORWARD_FILE_TYPES forwards, how a
 * file is named and why one is skipped are the mail's.
 */
import { createHash } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { type Readable, Writable } from 'node:stream';
import busboy from 'busboy';
import {
  DEFAULT_FORWARD_FILE_TYPES,
  type ForwardFileType,
  type ReportFile,
  type SkippedPart,
} from '../core/report.js';
import { type FilePartOutcome, FilePartReader, reportFileNames } from '../mail/file-part-reader.js';

/** The request cannot be taken; `status` is the HTTP answer (400, 413, 415), `message` says why. */
export class WebhookBodyError extends Error {
  constructor(
    readonly status: 400 | 413 | 415,
    message: string,
  ) {
    super(message);
    this.name = 'WebhookBodyError';
  }
}

/** The text fields of Superset's payload; null when absent (Superset leaves out or nulls empty ones). */
export interface WebhookFields {
  name: string;
  /** The `header` object (notification_format, notification_type, ...), re-serialised; null when absent. */
  header: string | null;
  description: string | null;
  url: string | null;
  text: string | null;
}

/** One POST, read: its fields, its files in the spool (in the order sent), and its fingerprint. */
export interface WebhookPost {
  fields: WebhookFields;
  files: ReportFile[];
  skipped: SkippedPart[];
  /** Bytes of the body. */
  size: number;
  /**
   * Hex SHA-256 over the fields and every file part's name and bytes: the same report sent again (a
   * retry: Superset's payload has no id) has the same fingerprint.
   */
  fingerprint: string;
}

export interface WebhookBodyLimits {
  /** The largest body (MAX_MAIL_MB); a larger one is 413. */
  maxBodyBytes: number;
  /** A forwarded file larger than this (MAX_FILE_MB) is skipped; recipients get a notice naming it. */
  maxFileBytes: number;
  /** FORWARD_FILE_TYPES: the kinds of file kept, as for mail (default pdf, png). */
  forwardTypes?: readonly ForwardFileType[];
  /** Largest text field, bytes (default 1 MiB). */
  maxFieldBytes?: number;
  /** Most parts (fields and files) in one POST (default 200; Superset sends one per dashboard tab). */
  maxParts?: number;
  /** Largest JSON body, bytes (default 1 MiB). */
  maxJsonBytes?: number;
}

/** The text fields read; others are counted against the limits and otherwise ignored. */
const FIELD_NAMES = ['name', 'header', 'description', 'url', 'text'] as const;
type FieldName = (typeof FIELD_NAMES)[number];
/** Bytes of a too-large or malformed body still read (and dropped) so the answer reaches the sender. */
const DRAIN_MAX_BYTES = 256 * 1024 * 1024;

/**
 * Reads `request`'s body into `spoolDir` (created when the first file arrives; the caller removes it
 * when the report is not recorded). Settles only once the request has been read to its end, also on
 * failure, so that the answer can be written without cutting off a sender still sending.
 *
 * @throws WebhookBodyError for a body that is too large, malformed or of another type.
 */
export async function readWebhookBody(
  request: IncomingMessage,
  spoolDir: string,
  limits: WebhookBodyLimits,
): Promise<WebhookPost> {
  const declaredLength = Number(request.headers['content-length']);
  if (Number.isFinite(declaredLength) && declaredLength > limits.maxBodyBytes) {
    await drain(request);
    throw new WebhookBodyError(
      413,
      `the body is ${declaredLength} bytes, over the ${limits.maxBodyBytes}-byte limit (MAX_MAIL_MB)`,
    );
  }
  const type = (request.headers['content-type'] ?? '').toLowerCase();
  if (type.startsWith('multipart/form-data')) return readMultipart(request, spoolDir, limits);
  if (type.startsWith('application/json')) return readJson(request, limits);
  await drain(request);
  throw new WebhookBodyError(415, 'expected multipart/form-data or application/json, as Superset sends');
}

/** Reads the rest of a request and drops it (up to DRAIN_MAX_BYTES, then the connection is cut). */
export function drain(request: IncomingMessage): Promise<void> {
  return new Promise((resolve) => {
    if (request.readableEnded || request.destroyed) {
      resolve();
      return;
    }
    let dropped = 0;
    request.removeAllListeners('data');
    request.on('data', (chunk: Buffer) => {
      dropped += chunk.length;
      if (dropped > DRAIN_MAX_BYTES) {
        request.destroy();
        resolve();
      }
    });
    request.once('end', () => resolve());
    request.once('close', () => resolve());
    request.once('error', () => resolve());
    request.resume();
  });
}

async function readJson(request: IncomingMessage, limits: WebhookBodyLimits): Promise<WebhookPost> {
  const max = limits.maxJsonBytes ?? 1024 * 1024;
  const chunks: Buffer[] = [];
  let size = 0;
  const tooLarge = await new Promise<boolean>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        request.off('data', onData);
        request.off('end', onEnd);
        drain(request).then(() => resolve(true), reject);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => resolve(false);
    request.on('data', onData);
    request.once('end', onEnd);
    request.once('error', reject);
  });
  if (tooLarge) throw new WebhookBodyError(413, `a JSON body over ${max} bytes is not a Superset notice`);
  let payload: unknown;
  try {
    payload = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new WebhookBodyError(400, 'the body is not valid JSON');
  }
  if (typeof payload !== 'object' || payload === null || Array.isArray(payload))
    throw new WebhookBodyError(400, 'the JSON body is not an object');
  const raw = payload as Record<string, unknown>;
  const text = (key: FieldName): string | null => {
    const value = raw[key];
    if (value === undefined || value === null) return null;
    if (typeof value !== 'string') throw new WebhookBodyError(400, `"${key}" is not a string`);
    return value;
  };
  const fields = checkedFields({
    name: text('name'),
    header: raw.header === undefined || raw.header === null ? null : headerOf(raw.header),
    description: text('description'),
    url: text('url'),
    text: text('text'),
  });
  return { fields, files: [], skipped: [], size, fingerprint: fingerprintOf(fields, []) };
}

/** The `header` value re-serialised (object in JSON, a JSON string in multipart), or 400. */
function headerOf(value: unknown): string {
  let parsed = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new WebhookBodyError(400, '"header" is not valid JSON');
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
    throw new WebhookBodyError(400, '"header" is not a JSON object');
  return JSON.stringify(parsed);
}

function checkedFields(fields: Omit<WebhookFields, 'name'> & { name: string | null }): WebhookFields {
  if (!fields.name?.trim()) throw new WebhookBodyError(400, 'no "name": not a Superset report');
  return { ...fields, name: fields.name };
}

function fingerprintOf(fields: WebhookFields, parts: Array<{ name: string | null; sha256: string }>): string {
  return createHash('sha256')
    .update(
      JSON.stringify([
        fields.name,
        fields.header,
        fields.description,
        fields.url,
        fields.text,
        parts.map((part) => [part.name, part.sha256]),
      ]),
    )
    .digest('hex');
}

async function readMultipart(
  request: IncomingMessage,
  spoolDir: string,
  limits: WebhookBodyLimits,
): Promise<WebhookPost> {
  const maxParts = limits.maxParts ?? 200;
  let parser: busboy.Busboy;
  try {
    parser = busboy({
      headers: request.headers,
      defParamCharset: 'utf8',
      limits: {
        fieldSize: limits.maxFieldBytes ?? 1024 * 1024,
        fieldNameSize: 100,
        fields: maxParts,
        files: maxParts,
        parts: maxParts,
        headerPairs: 20,
        fileSize: Number.POSITIVE_INFINITY,
      },
    });
  } catch (error) {
    await drain(request);
    throw new WebhookBodyError(400, `malformed multipart body: ${(error as Error).message}`);
  }

  const fields: Partial<Record<FieldName, string>> = {};
  const parts: Array<{ name: string | null; sha256: string }> = [];
  const forward = new Set(limits.forwardTypes ?? DEFAULT_FORWARD_FILE_TYPES);
  const pending: Array<Promise<FilePartOutcome>> = [];
  const fileStreams: Readable[] = [];
  let failure: WebhookBodyError | null = null;
  let size = 0;
  let spoolReady = false;
  const spool = () => {
    if (!spoolReady) {
      mkdirSync(spoolDir, { recursive: true, mode: 0o700 });
      spoolReady = true;
    }
    return spoolDir;
  };

  const parsed = new Promise<void>((resolve) => {
    const fail = (error: WebhookBodyError) => {
      if (failure) return;
      failure = error;
      request.unpipe(parser);
      parser.removeAllListeners();
      parser.on('error', () => {});
      parser.destroy();
      // a file part waiting for bytes that will not come ends now, and its spool file goes
      for (const stream of fileStreams) stream.destroy(error);
      drain(request).then(resolve);
    };
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBodyBytes && !failure)
        fail(
          new WebhookBodyError(
            413,
            `the body is over the ${limits.maxBodyBytes}-byte limit (MAX_MAIL_MB); the rest was not read`,
          ),
        );
    });
    parser.on('field', (name, value, info) => {
      if (info.valueTruncated)
        return fail(new WebhookBodyError(413, `the field "${name.slice(0, 40)}" is too long`));
      if ((FIELD_NAMES as readonly string[]).includes(name) && fields[name as FieldName] === undefined)
        fields[name as FieldName] = value;
    });
    parser.on('file', (_field, stream, info) => {
      if (failure) {
        stream.resume();
        return;
      }
      fileStreams.push(stream);
      const reader = new FilePartReader({
        declaredType: (info.mimeType || 'application/octet-stream').toLowerCase(),
        filename: info.filename ?? null,
        spool,
        maxFileBytes: limits.maxFileBytes,
        forward,
      });
      const outcome = readFilePart(stream, reader);
      // a failed part (the disk) fails the request; it is judged once all parts are in
      outcome.catch(() => {});
      pending.push(outcome);
    });
    const tooMany = () => fail(new WebhookBodyError(400, `more than ${maxParts} parts`));
    parser.on('partsLimit', tooMany);
    parser.on('filesLimit', tooMany);
    parser.on('fieldsLimit', tooMany);
    parser.on('error', (error: Error) =>
      fail(new WebhookBodyError(400, `malformed multipart body: ${error.message}`)),
    );
    parser.on('close', () => {
      if (!failure) resolve();
    });
    const cutOff = () => fail(new WebhookBodyError(400, 'the request was cut off'));
    request.on('error', cutOff);
    request.on('close', () => {
      if (!request.readableEnded) cutOff();
    });
    request.pipe(parser);
  });
  await parsed;
  const outcomes = await Promise.allSettled(pending);
  const abandon = () => {
    for (const outcome of outcomes)
      if (outcome.status === 'fulfilled' && outcome.value.kind === 'file')
        rmSync(outcome.value.path, { force: true });
  };
  if (failure) {
    abandon();
    throw failure;
  }
  const broken = outcomes.find((outcome) => outcome.status === 'rejected');
  if (broken) {
    abandon();
    throw (broken as PromiseRejectedResult).reason;
  }
  let fieldsRead: WebhookFields;
  try {
    fieldsRead = checkedFields({
      name: fields.name ?? null,
      header: fields.header === undefined ? null : headerOf(fields.header),
      description: fields.description ?? null,
      url: fields.url ?? null,
      text: fields.text ?? null,
    });
  } catch (error) {
    abandon();
    throw error;
  }

  const files: Array<Extract<FilePartOutcome, { kind: 'file' }>> = [];
  const skipped: SkippedPart[] = [];
  for (const outcome of outcomes as Array<PromiseFulfilledResult<FilePartOutcome>>) {
    const part = outcome.value;
    parts.push({ name: part.kind === 'file' ? part.declaredName : part.part.filename, sha256: part.sha256 });
    if (part.kind === 'file') files.push(part);
    else skipped.push(part.part);
  }
  if (files.length > 0) fsyncDirectory(spoolDir);
  const names = reportFileNames(files);
  return {
    fields: fieldsRead,
    files: files.map((file, index) => ({
      filename: names[index]!,
      contentType: file.type,
      size: file.size,
      sha256: file.sha256,
      path: file.path,
      ...(file.width !== undefined ? { width: file.width, height: file.height } : {}),
    })),
    skipped,
    size,
    fingerprint: fingerprintOf(fieldsRead, parts),
  };
}

/** Makes the names of the files just written durable with the files themselves. */
function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Feeds one file part to its reader (which spools what FORWARD_FILE_TYPES forwards) and judges it at
 * the end. A part whose stream fails (the request broke off) fails the whole request.
 */
async function readFilePart(stream: Readable, reader: FilePartReader): Promise<FilePartOutcome> {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      try {
        reader.write(chunk);
        callback();
      } catch (error) {
        callback(error as Error);
      }
    },
  });
  try {
    await new Promise<void>((resolve, reject) => {
      stream.pipe(sink);
      sink.once('finish', () => resolve());
      sink.once('error', reject);
      stream.once('error', reject);
    });
    return reader.finish();
  } catch (error) {
    stream.resume();
    reader.abandon();
    throw error;
  }
}
