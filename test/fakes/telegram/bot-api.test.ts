import { Api, Bot, GrammyError } from 'grammy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeTelegram } from './fake-telegram.js';

let telegram: FakeTelegram;

beforeEach(async () => {
  telegram = await FakeTelegram.start({ botId: 123456, botUsername: 'reports_test_bot', rateLimits: false });
});

afterEach(async () => {
  await telegram.stop();
});

async function grammyError(promise: Promise<unknown>): Promise<GrammyError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GrammyError);
    return error as GrammyError;
  }
  throw new Error('expected the call to fail');
}

async function raw(path: string, init?: RequestInit): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${telegram.apiRoot}${path}`, init);
  return { status: response.status, body: await response.json() };
}

describe('routing and answers', () => {
  it('says which client made a call through an API root of apiRootFor', async () => {
    telegram.addPrivateChat({ id: 42, first_name: 'Reader' });
    const first = new Api(telegram.token, { apiRoot: telegram.apiRootFor('instance-a') });
    const second = new Api(telegram.token, { apiRoot: telegram.apiRootFor('instance-b') });
    const plain = new Api(telegram.token, { apiRoot: telegram.apiRoot });
    await first.sendMessage(42, 'from a');
    await second.sendMessage(42, 'from b');
    await plain.sendMessage(42, 'plain');
    expect(telegram.callsTo('sendMessage').map((entry) => [entry.source, entry.params.text])).toEqual([
      ['instance-a', 'from a'],
      ['instance-b', 'from b'],
      [undefined, 'plain'],
    ]);
    expect(telegram.messagesIn(42).map((message) => message.text)).toEqual(['from a', 'from b', 'plain']);
    const wrongToken = await fetch(`${telegram.apiRootFor('instance-a')}/bot123456:nope/getMe`);
    expect(wrongToken.status).toBe(401);
  });

  it('returns a full UserFromGetMe for the configured identity', async () => {
    const bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
    await bot.init();
    expect(telegram.token).toMatch(/^123456:[A-Za-z0-9_-]{35}$/);
    expect(bot.botInfo).toEqual({
      id: 123456,
      is_bot: true,
      first_name: 'Superset Reports',
      username: 'reports_test_bot',
      can_join_groups: true,
      can_read_all_group_messages: false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
      has_topics_enabled: false,
      allows_users_to_create_topics: false,
      can_manage_bots: false,
      supports_join_request_queries: false,
    });
  });

  it('answers 401 Unauthorized for any other token', async () => {
    const bot = new Bot('123456:wrong-token', { client: { apiRoot: telegram.apiRoot } });
    const error = await grammyError(bot.api.getMe());
    expect(error.error_code).toBe(401);
    expect(error.description).toBe('Unauthorized');
  });

  it('answers 404 for unknown methods and paths', async () => {
    expect(await raw(`/bot${telegram.token}/sendCarrierPigeon`)).toEqual({
      status: 404,
      body: { ok: false, error_code: 404, description: 'Not Found: method not found' },
    });
    expect(await raw('/nothing-here')).toEqual({
      status: 404,
      body: { ok: false, error_code: 404, description: 'Not Found' },
    });
  });

  it('accepts methods in any case, GET with a query string and urlencoded bodies', async () => {
    telegram.addPrivateChat({ id: 42 });
    expect((await raw(`/bot${telegram.token}/GETME`)).status).toBe(200);
    const viaGet = await raw(
      `/bot${telegram.token}/sendmessage?chat_id=42&text=${encodeURIComponent('Привет')}`,
    );
    expect(viaGet).toMatchObject({
      status: 200,
      body: { ok: true, result: { text: 'Привет', chat: { id: 42 } } },
    });
    const viaForm = await raw(`/bot${telegram.token}/sendMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ chat_id: '42', text: 'form', protect_content: 'true' }).toString(),
    });
    expect(viaForm).toMatchObject({
      status: 200,
      body: { result: { text: 'form', has_protected_content: true } },
    });
    expect(telegram.calls.map((call) => call.method)).toEqual(['getMe', 'sendMessage', 'sendMessage']);
    expect(telegram.totals()).toEqual({ calls: 3, uploadedBytes: 0, byMethod: { getMe: 1, sendMessage: 2 } });

    telegram.reset();
    expect(telegram.calls).toEqual([]);
    expect(telegram.messagesIn(42)).toEqual([]);
  });
});

describe('setMyCommands', () => {
  let api: Api;

  beforeEach(() => {
    api = new Api(telegram.token, { apiRoot: telegram.apiRoot });
  });

  it('stores command lists per scope and language', async () => {
    await api.setMyCommands([{ command: 'start', description: 'Start' }]);
    await api.setMyCommands([{ command: '/start', description: '  Начать  ' }], { language_code: 'ru' });
    const group = telegram.addGroup({ title: 'Sales' });
    await api.setMyCommands([{ command: 'status', description: 'Status' }], {
      scope: { type: 'chat', chat_id: group },
    });

    expect(telegram.commandsFor()).toEqual([{ command: 'start', description: 'Start' }]);
    expect(telegram.commandsFor({ type: 'default' }, 'ru')).toEqual([
      { command: 'start', description: 'Начать' },
    ]);
    expect(telegram.commandsFor({ type: 'default' }, 'de')).toBeUndefined();
    expect(telegram.commandsFor({ type: 'chat', chat_id: group })).toEqual([
      { command: 'status', description: 'Status' },
    ]);
    expect(await api.getMyCommands({ language_code: 'ru' })).toEqual([
      { command: 'start', description: 'Начать' },
    ]);
    expect(await api.getMyCommands({ language_code: 'en' })).toEqual([]);
    expect(telegram.allCommands()).toHaveLength(3);

    await api.deleteMyCommands({ language_code: 'ru' });
    expect(telegram.commandsFor({ type: 'default' }, 'ru')).toBeUndefined();
  });

  it('validates commands, descriptions and the language code like Telegram', async () => {
    const failures: Array<[Parameters<Api['setMyCommands']>, string]> = [
      [[[{ command: 'Start', description: 'x' }]], 'Bad Request: BOT_COMMAND_INVALID'],
      [[[{ command: 'a'.repeat(33), description: 'x' }]], 'Bad Request: command length must not exceed 32'],
      [[[{ command: 'ok', description: '   ' }]], 'Bad Request: command description must be non-empty'],
      [
        [[{ command: 'ok', description: 'd'.repeat(257) }]],
        'Bad Request: command description length must not exceed 256',
      ],
      [
        [[{ command: 'ok', description: 'x' }], { language_code: 'rus' as never }],
        'Bad Request: invalid language code specified',
      ],
      [
        [Array.from({ length: 101 }, (_, index) => ({ command: `c${index}`, description: 'x' }))],
        'Bad Request: BOT_COMMANDS_TOO_MUCH',
      ],
    ];
    for (const [args, description] of failures) {
      const error = await grammyError(api.setMyCommands(...args));
      expect(error.description).toBe(description);
    }
    expect(telegram.allCommands()).toEqual([]);
  });
});
