/**
 * A small, lenient multipart/form-data parser that reads part headers the way TDLib's
 * `HttpReader::parse_multipart_form_data` does, so uploads that the real Bot API accepts arrive here
 * too. In particular grammY writes `content-disposition:form-data;name="<id>";filename=<name>` with
 * the file name UNQUOTED and raw UTF-8 (`filename=Отчёт за май.pdf`): busboy silently drops such
 * parts, the real server keeps them. Rules copied from TDLib:
 * - a parameter value is either a quoted string (backslash escapes) or a token running to the next `;`
 *   (so `filename=a;b.pdf` yields `a`, as on the real server);
 * - every value is then URL-decoded (`%D0%9E` → `О`), and the bytes are read as UTF-8.
 * Beyond TDLib, `filename*=charset'lang'pct-encoded` (RFC 5987/6266) is understood and wins over
 * `filename`; the real server ignores `filename*`.
 */

/** A non-file field of the form. */
export interface MultipartField {
  name: string;
  value: string;
}

/** A file part of the form. */
export interface MultipartFile {
  /** The part's `name` (grammY: a random attach id; other clients: the API field, e.g. `document`). */
  name: string;
  /** The file name after decoding, as the real server would store it. */
  filename: string;
  /** The `filename`/`filename*` parameter exactly as it appeared in the header (decoded as UTF-8). */
  rawFilename: string;
  /** The part's Content-Type, `application/octet-stream` when absent. */
  contentType: string;
  data: Buffer;
}

export interface MultipartForm {
  fields: MultipartField[];
  files: MultipartFile[];
}

/** Why a body could not be parsed; the server turns it into `400 Bad Request: <reason>`. */
export class MultipartError extends Error {
  override name = 'MultipartError';
}

/** Returns the boundary of a `multipart/form-data` Content-Type, or undefined for other types. */
export function multipartBoundary(contentType: string | undefined): string | undefined {
  if (contentType === undefined || !/multipart\/form-data/i.test(contentType)) return undefined;
  const match = /boundary\s*=\s*("([^"]*)"|[^;]*)/i.exec(contentType);
  if (!match) throw new MultipartError('boundary not found');
  const boundary = (match[2] ?? match[1] ?? '').trim();
  if (boundary === '' || boundary.length > 70) throw new MultipartError('boundary too big or empty');
  return boundary;
}

const CRLF = Buffer.from('\r\n');

/** Parses a complete multipart/form-data body. */
export function parseMultipart(body: Buffer, boundary: string): MultipartForm {
  const delimiter = Buffer.from(`--${boundary}`);
  const form: MultipartForm = { fields: [], files: [] };
  let position = body.indexOf(delimiter);
  if (position < 0) throw new MultipartError('boundary not found in the body');
  position += delimiter.length;

  for (;;) {
    // After a delimiter: `--` closes the form, otherwise a line break starts the next part.
    if (body[position] === 0x2d && body[position + 1] === 0x2d) return form;
    position = skipLineBreak(body, position);

    const headerEnd = findHeaderEnd(body, position);
    if (headerEnd === undefined) throw new MultipartError("can't parse form data headers");
    const headers = parsePartHeaders(body.subarray(position, headerEnd.start));
    const contentStart = headerEnd.end;

    const next = body.indexOf(Buffer.concat([CRLF, delimiter]), contentStart);
    if (next < 0) throw new MultipartError('unexpected end of the multipart body');
    const content = body.subarray(contentStart, next);
    position = next + CRLF.length + delimiter.length;

    if (headers.name === undefined || headers.name === '') {
      throw new MultipartError('field name in multipart/form-data not found');
    }
    if (headers.filename !== undefined) {
      form.files.push({
        name: headers.name,
        filename: headers.filename,
        rawFilename: headers.rawFilename ?? headers.filename,
        contentType: headers.contentType ?? 'application/octet-stream',
        data: Buffer.from(content),
      });
    } else {
      form.fields.push({ name: headers.name, value: content.toString('utf8') });
    }
  }
}

function skipLineBreak(body: Buffer, position: number): number {
  if (body[position] === 0x0d && body[position + 1] === 0x0a) return position + 2;
  if (body[position] === 0x0a) return position + 1;
  return position;
}

function findHeaderEnd(body: Buffer, from: number): { start: number; end: number } | undefined {
  const crlf = body.indexOf('\r\n\r\n', from, 'latin1');
  if (crlf >= 0) return { start: crlf, end: crlf + 4 };
  const lf = body.indexOf('\n\n', from, 'latin1');
  return lf >= 0 ? { start: lf, end: lf + 2 } : undefined;
}

interface PartHeaders {
  name?: string;
  filename?: string;
  rawFilename?: string;
  contentType?: string;
}

/** Header bytes are handled as latin1 so each char is one byte until the values are URL-decoded. */
function parsePartHeaders(raw: Buffer): PartHeaders {
  const result: PartHeaders = {};
  const unfolded = raw.toString('latin1').replace(/\r?\n[ \t]+/g, ' ');
  for (const line of unfolded.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const headerName = line.slice(0, colon).trim().toLowerCase();
    const headerValue = line.slice(colon + 1).trim();
    if (headerName === 'content-type') {
      result.contentType = bytesToUtf8(headerValue);
    } else if (headerName === 'content-disposition') {
      Object.assign(result, parseContentDisposition(headerValue));
    }
  }
  return result;
}

function parseContentDisposition(value: string): PartHeaders {
  if (!/^form-data\s*(;|$)/i.test(value)) {
    throw new MultipartError('expected form-data content disposition');
  }
  let rest = value.replace(/^form-data\s*;?/i, '');
  const result: PartHeaders = {};
  let extendedFilename: string | undefined;
  let rawExtendedFilename: string | undefined;
  for (;;) {
    rest = rest.trimStart();
    const equals = rest.indexOf('=');
    if (equals < 0) break;
    const key = rest.slice(0, equals).trim().toLowerCase();
    rest = rest.slice(equals + 1).trimStart();

    let rawValue: string;
    if (rest.startsWith('"')) {
      const quoted = readQuotedString(rest);
      rawValue = quoted.value;
      rest = quoted.rest.trimStart();
      if (rest.startsWith(';')) rest = rest.slice(1);
    } else {
      const semicolon = rest.indexOf(';');
      rawValue = (semicolon < 0 ? rest : rest.slice(0, semicolon)).trim();
      rest = semicolon < 0 ? '' : rest.slice(semicolon + 1);
    }

    if (key === 'name') {
      result.name = urlDecodeToUtf8(rawValue);
    } else if (key === 'filename') {
      result.filename = urlDecodeToUtf8(rawValue);
      result.rawFilename = bytesToUtf8(rawValue);
    } else if (key === 'filename*') {
      extendedFilename = decodeExtendedValue(rawValue);
      rawExtendedFilename = bytesToUtf8(rawValue);
    }
  }
  if (extendedFilename !== undefined) {
    result.filename = extendedFilename;
    result.rawFilename = rawExtendedFilename;
  }
  return result;
}

function readQuotedString(text: string): { value: string; rest: string } {
  let value = '';
  let index = 1;
  for (;;) {
    if (index >= text.length)
      throw new MultipartError('unclosed quoted string in Content-Disposition header');
    let char = text[index++]!;
    if (char === '"') break;
    if (char === '\\') {
      if (index >= text.length) {
        throw new MultipartError('wrong escape sequence in Content-Disposition header');
      }
      char = text[index++]!;
    }
    value += char;
  }
  return { value, rest: text.slice(index) };
}

/** Percent-decoding over bytes (TDLib `url_decode`: invalid escapes stay literal), then UTF-8. */
function urlDecodeToUtf8(latin1: string): string {
  const bytes: number[] = [];
  for (let index = 0; index < latin1.length; index++) {
    const code = latin1.charCodeAt(index);
    if (code === 0x25 && index + 2 < latin1.length) {
      const hex = latin1.slice(index + 1, index + 3);
      if (/^[0-9a-fA-F]{2}$/.test(hex)) {
        bytes.push(Number.parseInt(hex, 16));
        index += 2;
        continue;
      }
    }
    bytes.push(code & 0xff);
  }
  return Buffer.from(bytes).toString('utf8');
}

function bytesToUtf8(latin1: string): string {
  return Buffer.from(latin1, 'latin1').toString('utf8');
}

/** RFC 5987 `charset'language'pct-encoded`; UTF-8 and ISO-8859-1 charsets. */
function decodeExtendedValue(latin1: string): string {
  const match = /^([^']*)'[^']*'(.*)$/.exec(latin1);
  if (!match) return urlDecodeToUtf8(latin1);
  const charset = (match[1] ?? '').toLowerCase();
  const encoded = match[2] ?? '';
  if (charset === 'iso-8859-1' || charset === 'latin1') {
    return decodeURIComponentBytes(encoded).toString('latin1');
  }
  return decodeURIComponentBytes(encoded).toString('utf8');
}

function decodeURIComponentBytes(encoded: string): Buffer {
  const bytes: number[] = [];
  for (let index = 0; index < encoded.length; index++) {
    const code = encoded.charCodeAt(index);
    const hex = encoded.slice(index + 1, index + 3);
    if (code === 0x25 && /^[0-9a-fA-F]{2}$/.test(hex)) {
      bytes.push(Number.parseInt(hex, 16));
      index += 2;
    } else {
      bytes.push(code & 0xff);
    }
  }
  return Buffer.from(bytes);
}
