import { request } from 'node:http';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeTelegram } from './fake-telegram.js';
import { parseMultipart } from './multipart.js';

const BOUNDARY = '----------test0boundary';

/** A multipart body with raw, hand-written part headers (bytes exactly as given). */
function body(parts: Array<{ headers: string; content: string | Buffer }>): Buffer {
  const chunks: Buffer[] = [];
  for (const part of parts) {
    chunks.push(Buffer.from(`--${BOUNDARY}\r\n${part.headers}\r\n\r\n`, 'utf8'));
    chunks.push(Buffer.isBuffer(part.content) ? part.content : Buffer.from(part.content, 'utf8'));
    chunks.push(Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${BOUNDARY}--\r\n`));
  return Buffer.concat(chunks);
}

describe('parseMultipart', () => {
  it("reads grammY's unquoted UTF-8 file names, spaces included", () => {
    const form = parseMultipart(
      body([
        { headers: 'content-disposition:form-data;name="chat_id"', content: '42' },
        {
          headers:
            'content-disposition:form-data;name="x1y2";filename=Отчёт за май.pdf\r\ncontent-type:application/octet-stream',
          content: Buffer.from([0x25, 0x50, 0x44, 0x46, 0x0d, 0x0a]),
        },
      ]),
      BOUNDARY,
    );
    expect(form.fields).toEqual([{ name: 'chat_id', value: '42' }]);
    expect(form.files).toEqual([
      expect.objectContaining({
        name: 'x1y2',
        filename: 'Отчёт за май.pdf',
        contentType: 'application/octet-stream',
      }),
    ]);
    expect(form.files[0]?.data).toEqual(Buffer.from('%PDF\r\n'));
  });

  it('reads quoted names with escapes, percent-encoded names and RFC 5987 filename*', () => {
    const form = parseMultipart(
      body([
        { headers: 'Content-Disposition: form-data; name="a"; filename="say \\"hi\\".pdf"', content: '1' },
        { headers: 'Content-Disposition: form-data; name="b"; filename=100%25%20done.pdf', content: '2' },
        {
          headers: `Content-Disposition: form-data; name="c"; filename="fallback.pdf"; filename*=UTF-8''%D0%9E%D1%82%D1%87%D1%91%D1%82.pdf`,
          content: '3',
        },
      ]),
      BOUNDARY,
    );
    expect(form.files.map((file) => file.filename)).toEqual(['say "hi".pdf', '100% done.pdf', 'Отчёт.pdf']);
    expect(form.files[1]?.rawFilename).toBe('100%25%20done.pdf');
  });

  it('cuts an unquoted name at ";" like the real server', () => {
    const form = parseMultipart(
      body([{ headers: 'content-disposition:form-data;name="f";filename=a;b.pdf', content: 'x' }]),
      BOUNDARY,
    );
    expect(form.files[0]?.filename).toBe('a');
  });
});

describe('multipart requests over HTTP', () => {
  let telegram: FakeTelegram;

  beforeEach(async () => {
    telegram = await FakeTelegram.start({ rateLimits: false });
    telegram.addPrivateChat({ id: 42 });
  });

  afterEach(async () => {
    await telegram.stop();
  });

  function post(method: string, payload: Buffer): Promise<{ status: number; text: string }> {
    const url = new URL(`${telegram.apiRoot}/bot${telegram.token}/${method}`);
    return new Promise((resolve, reject) => {
      const outgoing = request(
        url,
        { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${BOUNDARY}` } },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      outgoing.on('error', reject);
      outgoing.end(payload);
    });
  }

  it('coerces string fields and parses JSON-string fields', async () => {
    const answer = await post(
      'sendMessage',
      body([
        { headers: 'content-disposition:form-data;name="chat_id"', content: '42' },
        { headers: 'content-disposition:form-data;name="text"', content: '123' },
        { headers: 'content-disposition:form-data;name="disable_notification"', content: 'true' },
        {
          headers: 'content-disposition:form-data;name="reply_markup"',
          content: '{"keyboard":[[{"text":"Share","request_contact":true}]]}',
        },
      ]),
    );
    expect(answer.status).toBe(200);
    expect(telegram.calls[0]?.params).toEqual({
      chat_id: 42,
      text: '123',
      disable_notification: true,
      reply_markup: { keyboard: [[{ text: 'Share', request_contact: true }]] },
    });
    expect(telegram.messagesIn(42)[0]).toMatchObject({ text: '123', disable_notification: true });
  });

  it('refuses more than 50 files in one request with an empty 413', async () => {
    const files = Array.from({ length: 51 }, (_, index) => ({
      headers: `content-disposition:form-data;name="f${index}";filename=f${index}.pdf`,
      content: 'x',
    }));
    const answer = await post(
      'sendDocument',
      body([{ headers: 'content-disposition:form-data;name="chat_id"', content: '42' }, ...files]),
    );
    expect(answer).toEqual({ status: 413, text: '' });
    expect(telegram.calls[0]).toMatchObject({ method: 'sendDocument', status: 413 });
    expect(telegram.messagesIn(42)).toEqual([]);
  });
});
