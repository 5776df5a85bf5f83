import { autoRetry } from '@grammyjs/auto-retry';
import { Bot, GrammyError, InputFile, InputMediaBuilder } from 'grammy';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeTelegram } from './fake-telegram.js';
import { RateLimiter } from './rate-limiter.js';

let telegram: FakeTelegram | undefined;

afterEach(async () => {
  await telegram?.stop();
  telegram = undefined;
});

async function startWithLimits(): Promise<{ telegram: FakeTelegram; bot: Bot }> {
  telegram = await FakeTelegram.start(); // rate limits are on by default
  return { telegram, bot: new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } }) };
}

async function grammyError(promise: Promise<unknown>): Promise<GrammyError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GrammyError);
    return error as GrammyError;
  }
  throw new Error('expected the call to fail');
}

const doc = (name: string) => new InputFile(Buffer.from(`%PDF ${name}`), name);

describe('flood limits over HTTP', () => {
  it('answers a second message to the same chat within a second with 429 and retry_after', async () => {
    const { telegram, bot } = await startWithLimits();
    telegram.addPrivateChat({ id: 1 });
    telegram.addPrivateChat({ id: 2 });

    await bot.api.sendMessage(1, 'first');
    const error = await grammyError(bot.api.sendMessage(1, 'second'));
    expect(error.error_code).toBe(429);
    expect(error.description).toBe('Too Many Requests: retry after 1');
    expect(error.parameters).toEqual({ retry_after: 1 });
    // another chat is not affected, and the refused message was not delivered
    await bot.api.sendMessage(2, 'other chat');
    expect(telegram.messagesIn(1).map((message) => message.text)).toEqual(['first']);
  });

  it('sends retry_after also as a Retry-After header', async () => {
    telegram = await FakeTelegram.start({ rateLimits: { perChatWindowMs: 30_000 } });
    telegram.addPrivateChat({ id: 1 });
    const send = () => fetch(`${telegram!.apiRoot}/bot${telegram!.token}/sendMessage?chat_id=1&text=raw`);
    expect((await send()).status).toBe(200);
    const refused = await send();
    const body = (await refused.json()) as { error_code: number; parameters: { retry_after: number } };
    expect(refused.status).toBe(429);
    expect(body.error_code).toBe(429);
    expect(body.parameters.retry_after).toBeGreaterThanOrEqual(29);
    expect(refused.headers.get('retry-after')).toBe(String(body.parameters.retry_after));
  });

  it('counts an album as one request for its chat', async () => {
    telegram = await FakeTelegram.start({ rateLimits: { perChatRequests: 2, perChatWindowMs: 60_000 } });
    const bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
    telegram.addPrivateChat({ id: 1 });
    await bot.api.sendMediaGroup(1, [
      InputMediaBuilder.document(doc('a.pdf')),
      InputMediaBuilder.document(doc('b.pdf')),
      InputMediaBuilder.document(doc('c.pdf')),
    ]);
    await bot.api.sendDocument(1, doc('d.pdf')); // the second request in the window
    const error = await grammyError(bot.api.sendDocument(1, doc('e.pdf')));
    expect(error.error_code).toBe(429);
    expect(telegram.messagesIn(1)).toHaveLength(4);
  });

  it('counts album items one by one against the group limit', async () => {
    telegram = await FakeTelegram.start({ rateLimits: { perChatRequests: 100 } });
    const bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
    const group = telegram.addGroup({ title: 'Sales' });
    const album = (prefix: string) =>
      Array.from({ length: 10 }, (_, index) => InputMediaBuilder.document(doc(`${prefix}${index}.pdf`)));
    await bot.api.sendMediaGroup(group, album('a'));
    await bot.api.sendMediaGroup(group, album('b'));
    const error = await grammyError(bot.api.sendMessage(group, 'the 21st message this minute'));
    expect(error.error_code).toBe(429);
    expect(error.parameters.retry_after).toBeGreaterThan(50);
  });

  it('recovers with @grammyjs/auto-retry, which waits retry_after and sends again', async () => {
    const { telegram, bot } = await startWithLimits();
    telegram.addPrivateChat({ id: 1 });
    bot.api.config.use(autoRetry({ maxRetryAttempts: 3, maxDelaySeconds: 5 }));

    await bot.api.sendDocument(1, doc('one.pdf'));
    await bot.api.sendDocument(1, doc('two.pdf'));

    expect(telegram.messagesIn(1).map((message) => message.file_name)).toEqual(['one.pdf', 'two.pdf']);
    expect(telegram.callsTo('sendDocument').map((call) => call.status)).toEqual([200, 429, 200]);
  });

  it('can be switched off', async () => {
    telegram = await FakeTelegram.start({ rateLimits: false });
    const bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
    telegram.addPrivateChat({ id: 1 });
    for (let index = 0; index < 5; index++) await bot.api.sendMessage(1, `message ${index}`);
    expect(telegram.messagesIn(1)).toHaveLength(5);
  });
});

describe('RateLimiter windows', () => {
  it('allows 20 messages per minute to a group, album items counted one by one', () => {
    const limiter = new RateLimiter({ perChatRequests: 100 });
    const start = 1_000_000;
    expect(limiter.admit(-1, true, 10, start)).toBeUndefined();
    expect(limiter.admit(-1, true, 10, start + 1_000)).toBeUndefined();
    // the 21st message must wait until the first ten leave the 60 s window
    expect(limiter.admit(-1, true, 1, start + 2_000)).toBe(58);
    expect(limiter.admit(-1, true, 1, start + 60_001)).toBeUndefined();
  });

  it('allows 30 messages per second overall and 1 request per second per chat', () => {
    const limiter = new RateLimiter();
    const start = 5_000_000;
    for (let chat = 1; chat <= 30; chat++)
      expect(limiter.admit(chat, false, 1, start + chat)).toBeUndefined();
    expect(limiter.admit(31, false, 1, start + 40)).toBe(1);
    expect(limiter.admit(31, false, 1, start + 1_002)).toBeUndefined();
    expect(limiter.admit(31, false, 1, start + 1_500)).toBe(1);
  });

  it('does not count refused sends', () => {
    const limiter = new RateLimiter();
    expect(limiter.admit(7, false, 1, 0)).toBeUndefined();
    expect(limiter.admit(7, false, 1, 500)).toBe(1);
    expect(limiter.admit(7, false, 1, 1_000)).toBeUndefined();
  });

  it('admits 1000 messages per second with allow_paid_broadcast, billing those beyond the free 30', () => {
    const limiter = new RateLimiter();
    const start = 9_000_000;
    let billed = 0;
    const pay = (count: number) => {
      billed += count;
      return true;
    };
    for (let chat = 1; chat <= 1000; chat++) {
      expect(limiter.admit(chat, false, 1, start + chat / 10, true, pay)).toBeUndefined();
    }
    expect(billed).toBe(970);
    // the 1001st within the second waits, paid or not; the per-chat limit stays for paid sends
    expect(limiter.admit(1001, false, 1, start + 200, true, pay)).toBe(1);
    expect(limiter.admit(1002, false, 1, start + 200)).toBe(1);
    // half the second's sends have left the overall window, but chat 1000 received at +100 ms
    expect(limiter.admit(1000, false, 1, start + 1_050, true, pay)).toBe(1);
    expect(limiter.admit(1001, false, 1, start + 1_050, true, pay)).toBeUndefined();
  });

  it('refuses an unpaid send while paid ones fill the window, and keeps a send the balance cannot pay uncounted', () => {
    const limiter = new RateLimiter();
    for (let chat = 1; chat <= 40; chat++) expect(limiter.admit(chat, false, 1, 0, true)).toBeUndefined();
    expect(limiter.admit(41, false, 1, 10)).toBe(1);
    expect(limiter.admit(42, false, 1, 10, true, () => false)).toBe('unpaid');
    // not counted: the chat may receive at once when paid
    expect(limiter.admit(42, false, 1, 20, true)).toBeUndefined();
  });
});

describe('paid broadcasts over HTTP', () => {
  it('answers BALANCE_TOO_LOW when the Stars balance cannot pay, and records the flag on delivered messages', async () => {
    telegram = await FakeTelegram.start();
    const bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
    for (let chat = 1; chat <= 32; chat++) telegram.addPrivateChat({ id: chat });
    telegram.setStarsBalance(0.1);
    for (let chat = 1; chat <= 31; chat++) {
      await bot.api.sendMessage(chat, 'paid', { allow_paid_broadcast: true });
    }
    expect(telegram.starsSpent).toBe(0.1);
    const error = await grammyError(bot.api.sendMessage(32, 'paid', { allow_paid_broadcast: true }));
    expect(error.error_code).toBe(400);
    expect(error.description).toBe('Bad Request: BALANCE_TOO_LOW');
    expect(telegram.messagesIn(32)).toHaveLength(0);
    expect(telegram.messagesIn(31)[0]!.allow_paid_broadcast).toBe(true);
    // without the flag: the ordinary 429 of the free 30/s
    const limited = await grammyError(bot.api.sendMessage(32, 'free'));
    expect(limited.error_code).toBe(429);
    expect(limited.parameters.retry_after).toBeGreaterThanOrEqual(1);
  });
});
