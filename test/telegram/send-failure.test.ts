/** What a failed Bot API call means: Telegram as a whole, this delivery, or a right the group withholds. */
import { GrammyError, HttpError } from 'grammy';
import { describe, expect, it } from 'vitest';
import { classifySendError } from '../../src/telegram/send-failure.js';

const apiError = (code: number, description: string, parameters = {}) =>
  new GrammyError(
    `Call to 'sendDocument' failed! (${code}: ${description})`,
    { ok: false, error_code: code, description, parameters },
    'sendDocument',
    {},
  );

describe('classifySendError', () => {
  it('puts network errors, 5xx and 401 down to Telegram as a whole', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    expect(classifySendError(new HttpError("Network request for 'sendDocument' failed!", refused)).kind).toBe(
      'telegram-down',
    );
    expect(classifySendError(apiError(502, 'Bad Gateway')).kind).toBe('telegram-down');
    expect(classifySendError(apiError(500, 'Internal Server Error')).kind).toBe('telegram-down');
    expect(classifySendError(apiError(401, 'Unauthorized')).kind).toBe('telegram-down');
  });

  it("lets getMe decide about an answer that is not the Bot API's (a proxy's 502 or 413 page)", () => {
    const failure = classifySendError(
      new HttpError("Network request for 'sendDocument' failed!", new SyntaxError('Unexpected token <')),
    );
    expect(failure).toMatchObject({ kind: 'telegram-down', details: { notBotApi: true } });
    // what grammY's node-fetch client throws for such a page
    const invalidJson = Object.assign(
      new Error('invalid json response body at <url> reason: Unexpected token'),
      {
        name: 'FetchError',
        type: 'invalid-json',
      },
    );
    expect(
      classifySendError(new HttpError("Network request for 'sendDocument' failed!", invalidJson)),
    ).toMatchObject({ kind: 'telegram-down', details: { notBotApi: true } });
  });

  it('tells a missing right from a chat that is gone', () => {
    const photos = classifySendError(
      apiError(400, 'Bad Request: not enough rights to send photos to the chat'),
    );
    expect(photos).toMatchObject({ kind: 'missing-right', details: { right: 'photos', errorCode: 400 } });
    const documents = classifySendError(
      apiError(400, 'Bad Request: not enough rights to send documents to the chat'),
    );
    expect(documents.details.right).toBe('documents');
    expect(classifySendError(apiError(403, 'Forbidden: bot was kicked from the group chat')).kind).toBe(
      'chat-gone',
    );
    expect(classifySendError(apiError(400, 'Bad Request: chat not found')).kind).toBe('chat-gone');
  });

  it('recognises a paid broadcast the Stars balance cannot pay', () => {
    expect(classifySendError(apiError(400, 'Bad Request: BALANCE_TOO_LOW')).kind).toBe('stars-exhausted');
    // a 429 stays a rate limit, whatever the flag
    expect(
      classifySendError(apiError(429, 'Too Many Requests: retry after 3', { retry_after: 3 })).kind,
    ).toBe('rate-limited');
  });
});
