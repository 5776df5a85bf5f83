import { Bot, GrammyError, HttpError, InputFile } from 'grammy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeTelegram, faults } from './fake-telegram.js';

let telegram: FakeTelegram;
let bot: Bot;

beforeEach(async () => {
  telegram = await FakeTelegram.start({ rateLimits: false });
  bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
  telegram.addPrivateChat({ id: 1 });
  telegram.addPrivateChat({ id: 2 });
});

afterEach(async () => {
  await telegram.stop();
});

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to fail');
}

describe('scripted faults', () => {
  it('answers the next n matching calls with the scripted error, then behaves again', async () => {
    telegram.failNext(2, faults.badGateway(), { method: 'sendMessage' });

    for (const attempt of [1, 2]) {
      const error = await rejection(bot.api.sendMessage(1, `attempt ${attempt}`));
      expect(error).toBeInstanceOf(GrammyError);
      expect((error as GrammyError).error_code).toBe(502);
      expect((error as GrammyError).description).toBe('Bad Gateway');
    }
    await bot.api.sendMessage(1, 'attempt 3');
    expect(telegram.messagesIn(1).map((message) => message.text)).toEqual(['attempt 3']);
    expect(telegram.callsTo('sendMessage').map((call) => [call.status, call.fault])).toEqual([
      [502, 'error'],
      [502, 'error'],
      [200, undefined],
    ]);
  });

  it('filters by chat id, e.g. a 403 for one recipient only', async () => {
    telegram.failNext(Number.POSITIVE_INFINITY, faults.forbidden('bot was blocked by the user'), {
      chatId: 2,
    });
    await bot.api.sendMessage(1, 'to one');
    const error = (await rejection(bot.api.sendMessage(2, 'to two'))) as GrammyError;
    expect(error.error_code).toBe(403);
    expect(error.description).toBe('Forbidden: bot was blocked by the user');
    await rejection(bot.api.sendMessage(2, 'to two again'));
    expect(telegram.messagesIn(2)).toEqual([]);
  });

  it('scripts a 429 with retry_after and a 400 migrate error with parameters', async () => {
    telegram.failNext(1, faults.tooManyRequests(7));
    telegram.failNext(1, faults.migrated(-1_009_999));
    const flood = (await rejection(bot.api.sendMessage(1, 'x'))) as GrammyError;
    expect(flood.parameters).toEqual({ retry_after: 7 });
    expect(flood.description).toBe('Too Many Requests: retry after 7');
    const migrated = (await rejection(bot.api.sendMessage(1, 'x'))) as GrammyError;
    expect(migrated.description).toBe('Bad Request: group chat was upgraded to a supergroup chat');
    expect(migrated.parameters).toEqual({ migrate_to_chat_id: -1_009_999 });
  });

  it('surfaces a dropped connection as HttpError and delivers nothing', async () => {
    telegram.failNext(1, faults.dropConnection());
    const error = await rejection(bot.api.sendDocument(1, new InputFile(Buffer.from('%PDF'), 'a.pdf')));
    expect(error).toBeInstanceOf(HttpError);
    expect(telegram.messagesIn(1)).toEqual([]);
    expect(telegram.callsTo('sendDocument')[0]).toMatchObject({
      status: 0,
      delivered: false,
      uploadedBytes: 4,
    });
  });

  it('can deliver the message and then drop the connection ("sent, but the bot never heard")', async () => {
    telegram.failNext(1, faults.dropAfterDelivery());
    const error = await rejection(bot.api.sendMessage(1, 'delivered anyway'));
    expect(error).toBeInstanceOf(HttpError);
    expect(telegram.messagesIn(1).map((message) => message.text)).toEqual(['delivered anyway']);
    expect(telegram.callsTo('sendMessage')[0]).toMatchObject({ status: 0, delivered: true });
  });

  it('answers the nginx 413 HTML page, which grammY reports as HttpError', async () => {
    telegram.failNext(1, faults.entityTooLarge(), { method: 'sendDocument' });
    const error = await rejection(bot.api.sendDocument(1, new InputFile(Buffer.from('%PDF'), 'a.pdf')));
    expect(error).toBeInstanceOf(HttpError);
    const raw = await fetch(`${telegram.apiRoot}/bot${telegram.token}/getMe`);
    expect(raw.status).toBe(200); // the fault was used up
  });

  it("answers nginx's HTML 502 page, on getMe too, which grammY reports as HttpError (a body that is not JSON)", async () => {
    telegram.failNext(2, faults.gatewayPage(502), { method: '*' });
    const raw = await fetch(`${telegram.apiRoot}/bot${telegram.token}/getMe`);
    expect(raw.status).toBe(502);
    expect(raw.headers.get('content-type')).toContain('text/html');
    expect(await raw.text()).toContain('<center><h1>502 Bad Gateway</h1></center>');
    const error = await rejection(bot.api.sendMessage(1, 'not delivered'));
    expect(error).toBeInstanceOf(HttpError);
    // node-fetch (grammY's client) reports the body that is not JSON
    expect((error as HttpError).error).toMatchObject({ name: 'FetchError', type: 'invalid-json' });
    expect(telegram.messagesIn(1).map((message) => message.text)).not.toContain('not delivered');
  });

  it('delays an answer and combines the delay with the next fault', async () => {
    telegram.failNext(1, faults.delay(150));
    telegram.failNext(1, faults.internalServerError());
    const started = Date.now();
    const error = (await rejection(bot.api.sendMessage(1, 'slow'))) as GrammyError;
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(error.error_code).toBe(500);
    expect(error.description).toBe('Internal Server Error');
  });

  it('does not fault getUpdates unless the filter names it', async () => {
    telegram.failNext(1, faults.badGateway());
    expect(await bot.api.getUpdates({ timeout: 0 })).toEqual([]);
    await rejection(bot.api.getMe());
    telegram.failNext(1, faults.badGateway(), { method: 'getUpdates' });
    const error = (await rejection(bot.api.getUpdates({ timeout: 0 }))) as GrammyError;
    expect(error.error_code).toBe(502);
  });
});

describe('random faults', () => {
  async function outcomes(seed: number): Promise<string[]> {
    telegram.failRatio(0.5, [faults.badGateway(), faults.tooManyRequests(3)], seed, { method: 'getMe' });
    const results: string[] = [];
    for (let index = 0; index < 20; index++) {
      try {
        await bot.api.getMe();
        results.push('ok');
      } catch (error) {
        results.push(String((error as GrammyError).error_code));
      }
    }
    telegram.failRatio(0, [], 0);
    return results;
  }

  it('fails about the given share of calls, reproducibly for a seed', async () => {
    const first = await outcomes(42);
    const second = await outcomes(42);
    expect(second).toEqual(first);
    expect(first.filter((outcome) => outcome !== 'ok').length).toBeGreaterThan(3);
    expect(first.filter((outcome) => outcome === 'ok').length).toBeGreaterThan(3);
    expect(new Set(first)).toEqual(new Set(['ok', '502', '429']));
    expect(await outcomes(7)).not.toEqual(first);
  });

  it("faults every method, getUpdates too, with method '*'", async () => {
    telegram.failNext(2, faults.badGateway(), { method: '*' });
    expect(((await rejection(bot.api.getUpdates({ timeout: 0 }))) as GrammyError).error_code).toBe(502);
    expect(((await rejection(bot.api.getMe())) as GrammyError).error_code).toBe(502);
    expect((await bot.api.getMe()).id).toBe(telegram.botInfo.id);
  });

  it('refuses connections while the server is away, and keeps its state for when it is back', async () => {
    await bot.api.sendMessage(1, 'before');
    await telegram.refuseConnections();
    // a kept-alive socket of the client may first see the reset; a new connection is refused
    await rejection(bot.api.sendMessage(1, 'during'));
    const error = await rejection(bot.api.sendMessage(1, 'during'));
    expect(error).toBeInstanceOf(HttpError);
    expect((error as HttpError).error).toMatchObject({ code: 'ECONNREFUSED' });
    await telegram.acceptConnections();
    await bot.api.sendMessage(1, 'after');
    expect(telegram.messagesIn(1).map((message) => message.text)).toEqual(['before', 'after']);
  });
});
