/**
 * Requests shaped exactly as Superset's webhook sends them (superset/reports/notifications/webhook.py,
 * through python-requests/urllib3): with files, `multipart/form-data` with a hex boundary, the text
 * fields first in payload order (name, header as a JSON string, text, description, url; a None field left
 * out), then every file under the field `files`; without files, an `application/json` body of the same
 * keys (header as an object, None as null) in Python's `json.dumps` spacing. And a raw HTTP client that can
 * send a body in pieces, stall, or stop half-way.
 */
import { randomBytes } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface SupersetHeader {
  notification_format: 'PNG' | 'PDF' | 'CSV' | 'XLSX' | 'TEXT' | null;
  notification_type: 'Alert' | 'Report' | null;
  notification_source: 'chart' | 'dashboard' | null;
  chart_id: number | null;
  dashboard_id: number | null;
}

export interface SupersetPayload {
  name: string | null;
  header: SupersetHeader;
  text: string | null;
  description: string | null;
  url: string | null;
}

export interface SupersetFile {
  filename: string;
  content: Buffer;
  type: string;
}

export interface WebhookRequest {
  headers: Record<string, string>;
  body: Buffer;
}

export const DASHBOARD_URL = 'https://bi.example.com/superset/dashboard/7/';

/** A dashboard report's payload, as Superset fills it. */
export function reportPayload(overrides: Partial<SupersetPayload> = {}): SupersetPayload {
  return {
    name: 'Weekly sales: Sales dashboard',
    header: {
      notification_format: 'PDF',
      notification_type: 'Report',
      notification_source: 'dashboard',
      chart_id: null,
      dashboard_id: 7,
    },
    text: null,
    description: 'Sales by region, last 7 days',
    url: DASHBOARD_URL,
    ...overrides,
  };
}

const COMMON_HEADERS = {
  'user-agent': 'python-requests/2.32.4',
  'accept-encoding': 'gzip, deflate',
  accept: '*/*',
  connection: 'keep-alive',
};

/** Python's `json.dumps` with its default separators (", " and ": "), ASCII-escaped. */
function pythonJson(value: unknown): string {
  return JSON.stringify(value, null, 1)
    .replace(/\n\s*/g, ' ')
    .replace(/\[ /g, '[')
    .replace(/ \]/g, ']')
    .replace(/\{ /g, '{')
    .replace(/ \}/g, '}')
    .replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** The multipart POST Superset makes when the report has files. */
export function multipartRequest(payload: SupersetPayload, files: SupersetFile[]): WebhookRequest {
  const boundary = randomBytes(16).toString('hex');
  const pieces: Buffer[] = [];
  const fields: Array<[string, string | null]> = [
    ['name', payload.name],
    ['header', pythonJson(payload.header)],
    ['text', payload.text],
    ['description', payload.description],
    ['url', payload.url],
  ];
  for (const [name, value] of fields) {
    if (value === null) continue;
    pieces.push(
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`),
    );
  }
  for (const file of files) {
    pieces.push(
      Buffer.from(
        `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${file.filename}"\r\nContent-Type: ${file.type}\r\n\r\n`,
      ),
      file.content,
      Buffer.from('\r\n'),
    );
  }
  pieces.push(Buffer.from(`--${boundary}--\r\n`));
  const body = Buffer.concat(pieces);
  return {
    headers: {
      ...COMMON_HEADERS,
      'content-type': `multipart/form-data; boundary=${boundary}`,
      'content-length': String(body.length),
    },
    body,
  };
}

/** The JSON POST Superset makes without files (a failure notice). */
export function jsonRequest(payload: SupersetPayload): WebhookRequest {
  const body = Buffer.from(
    pythonJson({
      name: payload.name,
      header: payload.header,
      text: payload.text,
      description: payload.description,
      url: payload.url,
    }),
  );
  return {
    headers: {
      ...COMMON_HEADERS,
      'content-type': 'application/json',
      'content-length': String(body.length),
    },
    body,
  };
}

export interface WebhookAnswer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** POSTs `request` to `url` (http://host:port/path) and resolves with the answer. */
export function post(url: string, request: WebhookRequest, method = 'POST'): Promise<WebhookAnswer> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(url, { method, headers: request.headers, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({
          status: response.statusCode ?? 0,
          body: Buffer.concat(chunks).toString('utf8'),
          headers: response.headers,
        }),
      );
      response.on('error', reject);
    });
    outgoing.on('error', reject);
    outgoing.end(request.body);
  });
}

/**
 * Opens a raw connection and sends the request line, the headers and the first `sentBytes` of the body;
 * the rest is sent by `finish()` (or never). `answer` resolves with what came back (status 0: nothing).
 */
export function startPost(
  url: string,
  request: WebhookRequest,
  sentBytes: number,
): { socket: Socket; finish(): void; answer: Promise<{ status: number; raw: string; reset: boolean }> } {
  const target = new URL(url);
  const socket = connect(Number(target.port), target.hostname);
  const head = `POST ${target.pathname} HTTP/1.1\r\nhost: ${target.host}\r\n${Object.entries(request.headers)
    .map(([name, value]) => `${name}: ${value}`)
    .join('\r\n')}\r\n\r\n`;
  socket.write(head);
  socket.write(request.body.subarray(0, sentBytes));
  let raw = '';
  let reset = false;
  socket.setEncoding('utf8');
  const answer = new Promise<{ status: number; raw: string; reset: boolean }>((resolve) => {
    const settle = () => resolve({ status: Number(/^HTTP\/1\.1 (\d{3})/.exec(raw)?.[1] ?? 0), raw, reset });
    socket.on('data', (chunk: string) => {
      raw += chunk;
      // a whole answer (the server may keep the connection open): done
      const headEnd = raw.indexOf('\r\n\r\n');
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(raw)?.[1] ?? Number.NaN);
      if (headEnd >= 0 && Buffer.byteLength(raw.slice(headEnd + 4)) >= length) {
        settle();
        socket.destroy();
      }
    });
    socket.on('error', () => {
      reset = true;
    });
    socket.on('close', settle);
  });
  return {
    socket,
    // like python-requests: the rest of the body, no half-close (a FIN would abort the request)
    finish: () => {
      socket.write(request.body.subarray(sentBytes));
    },
    answer,
  };
}
