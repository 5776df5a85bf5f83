import { Bot, GrammyError, HttpError, InputFile, InputMediaBuilder, Keyboard } from 'grammy';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodePng, FakeTelegram } from './fake-telegram.js';

const USER = 42;
const OTHER_USER = 43;
const pdf = (text: string) => Buffer.from(`%PDF-1.4\n${text}\n%%EOF\n`);

let telegram: FakeTelegram;
let bot: Bot;

beforeEach(async () => {
  // these tests send many messages to one chat: flood limits have their own test file
  telegram = await FakeTelegram.start({ rateLimits: false });
  bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
  telegram.addPrivateChat({ id: USER, first_name: 'Анна', language_code: 'ru' });
  telegram.addPrivateChat({ id: OTHER_USER });
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

function mediaGroupIdOf(message: object): string | undefined {
  return (message as { media_group_id?: string }).media_group_id;
}

async function grammyError(promise: Promise<unknown>): Promise<GrammyError> {
  const error = await rejection(promise);
  expect(error).toBeInstanceOf(GrammyError);
  return error as GrammyError;
}

describe('documents', () => {
  it("keeps grammY's unquoted UTF-8 file names intact", async () => {
    const bytes = pdf('may');
    const sent = await bot.api.sendDocument(USER, new InputFile(bytes, 'Отчёт за май 2024.pdf'), {
      caption: 'Продажи',
    });

    expect(sent.document).toMatchObject({
      file_name: 'Отчёт за май 2024.pdf',
      mime_type: 'application/pdf',
      file_size: bytes.length,
    });
    expect(sent.document.file_id.length).toBeGreaterThan(50);
    const [call] = telegram.callsTo('sendDocument');
    expect(call?.files).toEqual([
      expect.objectContaining({ filename: 'Отчёт за май 2024.pdf', size: bytes.length }),
    ]);
    expect(call?.params.document).toMatch(/^attach:\/\//);
    expect(telegram.messagesIn(USER)).toEqual([
      expect.objectContaining({ type: 'document', file_name: 'Отчёт за май 2024.pdf', caption: 'Продажи' }),
    ]);
  });

  it('re-sends by file_id to another chat without uploading bytes', async () => {
    const bytes = pdf('report');
    const first = await bot.api.sendDocument(USER, new InputFile(bytes, 'report.pdf'));
    const again = await bot.api.sendDocument(OTHER_USER, first.document.file_id, { caption: 'again' });

    expect(again.document.file_unique_id).toBe(first.document.file_unique_id);
    expect(again.document.file_name).toBe('report.pdf');
    const [upload, resend] = telegram.callsTo('sendDocument');
    expect(upload?.uploadedBytes).toBe(bytes.length);
    expect(resend?.uploadedBytes).toBe(0);
    expect(resend?.files).toEqual([]);
    expect(telegram.totals().uploadedBytes).toBe(bytes.length);
    expect(telegram.messagesIn(OTHER_USER)).toEqual([expect.objectContaining({ caption: 'again' })]);
  });

  it('gives the same file_unique_id to the same content and a different one to other content', async () => {
    const first = await bot.api.sendDocument(USER, new InputFile(pdf('a'), 'a.pdf'));
    const same = await bot.api.sendDocument(OTHER_USER, new InputFile(pdf('a'), 'copy.pdf'));
    const other = await bot.api.sendDocument(USER, new InputFile(pdf('b'), 'b.pdf'));

    expect(same.document.file_unique_id).toBe(first.document.file_unique_id);
    expect(same.document.file_id).not.toBe(first.document.file_id);
    expect(other.document.file_unique_id).not.toBe(first.document.file_unique_id);
  });

  it('rejects unknown, revoked and wrong-type file ids', async () => {
    const document = await bot.api.sendDocument(USER, new InputFile(pdf('x'), 'x.pdf'));
    const photo = await bot.api.sendPhoto(USER, new InputFile(encodePng({ width: 40, height: 30 }), 'p.png'));

    const unknown = await grammyError(bot.api.sendDocument(USER, 'BQACAgIAAxkDAAInvented'));
    expect(unknown.description).toBe('Bad Request: wrong file identifier/HTTP URL specified');

    const asPhoto = await grammyError(bot.api.sendPhoto(USER, document.document.file_id));
    expect(asPhoto.description).toBe("Bad Request: can't use file of type Document as Photo");
    const asDocument = await grammyError(bot.api.sendDocument(USER, photo.photo.at(-1)!.file_id));
    expect(asDocument.description).toBe("Bad Request: can't use file of type Photo as Document");

    expect(telegram.revokeFileId(document.document.file_id)).toBe(true);
    const revoked = await grammyError(bot.api.sendDocument(OTHER_USER, document.document.file_id));
    expect(revoked.description).toBe('Bad Request: wrong file identifier/HTTP URL specified');
    expect(telegram.messagesIn(OTHER_USER)).toEqual([]);
  });

  it('answers "there is no document in the request" when the attached part is missing', async () => {
    const response = await fetch(`${telegram.apiRoot}/bot${telegram.token}/sendDocument`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ chat_id: USER, document: 'attach://nothing' }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      ok: false,
      error_code: 400,
      description: 'Bad Request: there is no document in the request',
    });
  });

  it('accepts a file part named like the field (clients other than grammY)', async () => {
    const form = new FormData();
    form.set('chat_id', String(USER));
    form.set('document', new Blob([pdf('form')]), 'form.pdf');
    const response = await fetch(`${telegram.apiRoot}/bot${telegram.token}/sendDocument`, {
      method: 'POST',
      body: form,
    });
    const body = (await response.json()) as { ok: boolean; result: { document: { file_name: string } } };
    expect(body.ok).toBe(true);
    expect(body.result.document.file_name).toBe('form.pdf');
  });
});

describe('photos', () => {
  it('returns scaled sizes in ascending order, the largest at most 2560 px', async () => {
    const sent = await bot.api.sendPhoto(
      USER,
      new InputFile(encodePng({ width: 4000, height: 2000 }), 'chart.png'),
    );
    const sizes = sent.photo.map((size) => [size.width, size.height]);
    expect(sizes).toEqual([
      [90, 45],
      [320, 160],
      [800, 400],
      [1280, 640],
      [2560, 1280],
    ]);
    expect(new Set(sent.photo.map((size) => size.file_unique_id)).size).toBe(5);

    const small = await bot.api.sendPhoto(
      USER,
      new InputFile(encodePng({ width: 500, height: 100 }), 'small.png'),
    );
    expect(small.photo.map((size) => size.width)).toEqual([90, 320, 500]);
  });

  it('re-sends a photo by the id of any of its sizes', async () => {
    const sent = await bot.api.sendPhoto(
      USER,
      new InputFile(encodePng({ width: 1000, height: 800 }), 'a.png'),
    );
    const again = await bot.api.sendPhoto(OTHER_USER, sent.photo[0]!.file_id, { caption: 'again' });
    expect(again.photo.map((size) => size.file_unique_id)).toEqual(
      sent.photo.map((size) => size.file_unique_id),
    );
    expect(telegram.callsTo('sendPhoto')[1]?.uploadedBytes).toBe(0);
  });

  it('refuses photos whose width + height exceed 10000 or whose ratio exceeds 20', async () => {
    const tooBig = await grammyError(
      bot.api.sendPhoto(USER, new InputFile(encodePng({ width: 6000, height: 4001 }), 'big.png')),
    );
    expect(tooBig.description).toBe('Bad Request: PHOTO_INVALID_DIMENSIONS');

    const tooThin = await grammyError(
      bot.api.sendPhoto(USER, new InputFile(encodePng({ width: 2100, height: 100 }), 'thin.png')),
    );
    expect(tooThin.description).toBe('Bad Request: PHOTO_INVALID_DIMENSIONS');

    // exactly at the limits is fine
    await bot.api.sendPhoto(USER, new InputFile(encodePng({ width: 2000, height: 100 }), 'ok.png'));
    await bot.api.sendPhoto(USER, new InputFile(encodePng({ width: 5000, height: 5000 }), 'ok2.png'));
    expect(telegram.messagesIn(USER).map((message) => message.type)).toEqual(['photo', 'photo']);
  });

  it('refuses bytes that are not an image', async () => {
    const error = await grammyError(bot.api.sendPhoto(USER, new InputFile(pdf('no image'), 'fake.png')));
    expect(error.description).toBe('Bad Request: IMAGE_PROCESS_FAILED');
  });

  it('answers an over-size photo with the nginx HTML page, which grammY reports as HttpError', async () => {
    await telegram.stop();
    telegram = await FakeTelegram.start({ rateLimits: false, limits: { maxPhotoBytes: 2_000 } });
    bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
    telegram.addPrivateChat({ id: USER });
    const big = encodePng({ width: 10, height: 10, padding: Buffer.alloc(3_000, 1) });

    const error = await rejection(bot.api.sendPhoto(USER, new InputFile(big, 'big.png')));
    expect(error).toBeInstanceOf(HttpError);
    expect(telegram.callsTo('sendPhoto')[0]).toMatchObject({ status: 413, delivered: false });
    // the same bytes are a fine document (50 MB limit)
    await bot.api.sendDocument(USER, new InputFile(big, 'big.png'));
  });
});

describe('over-size uploads', () => {
  it('answers a document above the limit, and a body above it, with the nginx 413 page', async () => {
    await telegram.stop();
    telegram = await FakeTelegram.start({
      rateLimits: false,
      limits: { maxDocumentBytes: 1_000, maxPhotoBytes: 500 },
    });
    bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
    telegram.addPrivateChat({ id: USER });

    expect(
      await rejection(bot.api.sendDocument(USER, new InputFile(Buffer.alloc(1_001), 'a.pdf'))),
    ).toBeInstanceOf(HttpError);
    // a body far beyond any limit is refused before it is parsed
    const huge = Buffer.alloc(2 * 1024 * 1024, 7);
    expect(await rejection(bot.api.sendDocument(USER, new InputFile(huge, 'b.pdf')))).toBeInstanceOf(
      HttpError,
    );
    expect(telegram.callsTo('sendDocument').map((call) => call.status)).toEqual([413, 413]);
    expect(telegram.callsTo('sendDocument')[1]?.uploadedBytes).toBeGreaterThan(huge.length);
    expect(telegram.messagesIn(USER)).toEqual([]);
  });
});

describe('captions and text', () => {
  it('counts caption length in code points, not UTF-16 units', async () => {
    const emoji = '📊'.repeat(1024); // 2048 UTF-16 units, 1024 code points
    await bot.api.sendDocument(USER, new InputFile(pdf('1'), '1.pdf'), { caption: emoji });
    expect(telegram.messagesIn(USER)[0]?.caption).toBe(emoji);

    const error = await grammyError(
      bot.api.sendDocument(USER, new InputFile(pdf('2'), '2.pdf'), { caption: `${emoji}x` }),
    );
    expect(error.description).toBe('Bad Request: message caption is too long');
    expect(telegram.messagesIn(USER)).toHaveLength(1);
  });

  it('measures HTML captions after parsing the tags', async () => {
    const caption = `<b>${'a'.repeat(1024)}</b>`;
    const sent = await bot.api.sendDocument(USER, new InputFile(pdf('3'), '3.pdf'), {
      caption,
      parse_mode: 'HTML',
    });
    expect(sent.caption).toBe('a'.repeat(1024));
    expect(sent.caption_entities).toEqual([{ type: 'bold', offset: 0, length: 1024 }]);
  });

  it('reports unbalanced or unknown HTML tags as "can\'t parse entities"', async () => {
    const unclosed = await grammyError(bot.api.sendMessage(USER, '<b>Отчёт', { parse_mode: 'HTML' }));
    expect(unclosed.description).toBe(
      'Bad Request: can\'t parse entities: Can\'t find end tag corresponding to start tag "b"',
    );
    const unknown = await grammyError(
      bot.api.sendMessage(USER, 'Итог: <div>x</div>', { parse_mode: 'HTML' }),
    );
    expect(unknown.description).toBe(
      'Bad Request: can\'t parse entities: Unsupported start tag "div" at byte offset 10',
    );
    const mismatched = await grammyError(
      bot.api.sendMessage(USER, '<b><i>x</b></i>', { parse_mode: 'HTML' }),
    );
    expect(mismatched.description).toBe(
      'Bad Request: can\'t parse entities: Unmatched end tag at byte offset 7, expected "</i>", found "</b>"',
    );
    const sent = await bot.api.sendMessage(USER, '<b>a &lt; b</b> <a href="https://example.com">link</a>', {
      parse_mode: 'HTML',
    });
    expect(sent.text).toBe('a < b link');
    expect(sent.entities).toEqual([
      { type: 'bold', offset: 0, length: 5 },
      { type: 'text_link', offset: 6, length: 4, url: 'https://example.com' },
    ]);
  });

  it('checks caption entities against the caption in UTF-16 units', async () => {
    const caption = '📊 Sales'; // 8 UTF-16 units
    await bot.api.sendDocument(USER, new InputFile(pdf('4'), '4.pdf'), {
      caption,
      caption_entities: [{ type: 'bold', offset: 3, length: 5 }],
    });
    expect(telegram.messagesIn(USER)[0]?.caption_entities).toEqual([{ type: 'bold', offset: 3, length: 5 }]);

    const error = await grammyError(
      bot.api.sendDocument(USER, new InputFile(pdf('5'), '5.pdf'), {
        caption,
        caption_entities: [{ type: 'bold', offset: 3, length: 6 }],
      }),
    );
    expect(error.description).toBe(
      'Bad Request: entity beginning at UTF-16 offset 3 ends after the end of the text at UTF-16 offset 9',
    );
  });

  it('limits text to 4096 code points and refuses empty text', async () => {
    await bot.api.sendMessage(USER, 'я'.repeat(4096));
    const tooLong = await grammyError(bot.api.sendMessage(USER, 'я'.repeat(4097)));
    expect(tooLong.description).toBe('Bad Request: message is too long');
    const empty = await grammyError(bot.api.sendMessage(USER, '   '));
    expect(empty.description).toBe('Bad Request: message text is empty');
  });

  it('records reply keyboards as sent (request_contact, remove_keyboard) and options', async () => {
    const keyboard = new Keyboard().requestContact('Поделиться номером').resized().oneTime();
    const sent = await bot.api.sendMessage(USER, 'Нажмите кнопку', {
      reply_markup: keyboard,
      disable_notification: true,
      protect_content: true,
    });
    await bot.api.sendMessage(USER, 'Спасибо', { reply_markup: { remove_keyboard: true } });

    expect(sent.reply_markup).toBeUndefined(); // only inline keyboards come back in a Message
    expect(sent.has_protected_content).toBe(true);
    const [ask, thanks] = telegram.messagesIn(USER);
    expect(ask).toMatchObject({
      type: 'text',
      text: 'Нажмите кнопку',
      reply_markup: {
        keyboard: [[{ text: 'Поделиться номером', request_contact: true }]],
        resize_keyboard: true,
        one_time_keyboard: true,
      },
      disable_notification: true,
      protect_content: true,
    });
    expect(thanks?.reply_markup).toEqual({ remove_keyboard: true });
  });
});

describe('albums', () => {
  it('sends 2–10 documents as one album with a shared media_group_id and per-item captions', async () => {
    const media = [
      InputMediaBuilder.document(new InputFile(pdf('1'), 'Отчёт 1.pdf'), { caption: 'Тема письма' }),
      InputMediaBuilder.document(new InputFile(pdf('2'), 'Отчёт 2.pdf')),
      InputMediaBuilder.document(new InputFile(pdf('3'), 'Отчёт 3.pdf'), { caption: 'третий' }),
    ];
    const messages = await bot.api.sendMediaGroup(USER, media);

    expect(messages).toHaveLength(3);
    const groupIds = new Set(messages.map(mediaGroupIdOf));
    expect(groupIds.size).toBe(1);
    expect([...groupIds][0]).toEqual(expect.any(String));
    expect(telegram.messagesIn(USER).map((message) => [message.file_name, message.caption])).toEqual([
      ['Отчёт 1.pdf', 'Тема письма'],
      ['Отчёт 2.pdf', undefined],
      ['Отчёт 3.pdf', 'третий'],
    ]);
    const [call] = telegram.callsTo('sendMediaGroup');
    expect(call?.files.map((file) => file.filename)).toEqual(['Отчёт 1.pdf', 'Отчёт 2.pdf', 'Отчёт 3.pdf']);
  });

  it('mixes photos with videos, and file ids with uploads', async () => {
    const photo = await bot.api.sendPhoto(
      USER,
      new InputFile(encodePng({ width: 300, height: 200 }), 'p.png'),
    );
    const messages = await bot.api.sendMediaGroup(OTHER_USER, [
      InputMediaBuilder.photo(photo.photo.at(-1)!.file_id),
      InputMediaBuilder.video(new InputFile(Buffer.from('fake mp4'), 'clip.mp4')),
      InputMediaBuilder.photo(new InputFile(encodePng({ width: 64, height: 64 }), 'q.png')),
    ]);
    expect(telegram.messagesIn(OTHER_USER).map((message) => message.type)).toEqual([
      'photo',
      'video',
      'photo',
    ]);
    expect(mediaGroupIdOf(messages[0]!)).toBe(mediaGroupIdOf(messages[2]!));
  });

  it('refuses documents mixed with photos, empty albums and more than 10 items', async () => {
    // grammY's types forbid this mix; a caller without them can still send it
    const mixed = await grammyError(
      bot.api.sendMediaGroup(USER, [
        InputMediaBuilder.document(new InputFile(pdf('1'), '1.pdf')),
        InputMediaBuilder.photo(new InputFile(encodePng({ width: 10, height: 10 }), '2.png')),
      ] as never),
    );
    expect(mixed.description).toBe("Bad Request: document can't be mixed with other media types");

    const eleven = Array.from({ length: 11 }, (_, index) =>
      InputMediaBuilder.document(new InputFile(pdf(String(index)), `${index}.pdf`)),
    );
    const tooMany = await grammyError(bot.api.sendMediaGroup(USER, eleven));
    expect(tooMany.description).toBe('Bad Request: too many messages to send as an album');

    const empty = await grammyError(bot.api.sendMediaGroup(USER, []));
    expect(empty.description).toBe('Bad Request: there are no messages to send');
    expect(telegram.messagesIn(USER)).toEqual([]);
  });

  it('names the album member Telegram refused and delivers none of the album', async () => {
    const error = await grammyError(
      bot.api.sendMediaGroup(USER, [
        InputMediaBuilder.photo(new InputFile(encodePng({ width: 100, height: 100 }), '1.png')),
        InputMediaBuilder.photo(new InputFile(encodePng({ width: 3000, height: 100 }), '2.png')),
      ]),
    );
    expect(error.description).toBe(
      'Bad Request: failed to send message #2 with the error message "PHOTO_INVALID_DIMENSIONS"',
    );
    expect(telegram.messagesIn(USER)).toEqual([]);
  });

  it('checks every caption of an album', async () => {
    const error = await grammyError(
      bot.api.sendMediaGroup(USER, [
        InputMediaBuilder.document(new InputFile(pdf('1'), '1.pdf')),
        InputMediaBuilder.document(new InputFile(pdf('2'), '2.pdf'), { caption: 'x'.repeat(1025) }),
      ]),
    );
    expect(error.description).toBe('Bad Request: message caption is too long');
  });
});

describe('forum topics', () => {
  it('posts into known topics and refuses unknown thread ids and the General id', async () => {
    const forum = telegram.addGroup({ type: 'supergroup', title: 'Reports', isForum: true, topicIds: [7] });
    const sent = await bot.api.sendDocument(forum, new InputFile(pdf('t'), 't.pdf'), {
      message_thread_id: 7,
    });
    expect(sent.message_thread_id).toBe(7);
    expect(sent.is_topic_message).toBe(true);
    expect(telegram.messagesIn(forum)[0]?.message_thread_id).toBe(7);

    for (const threadId of [8, 1]) {
      const error = await grammyError(bot.api.sendMessage(forum, 'x', { message_thread_id: threadId }));
      expect(error.description).toBe('Bad Request: message thread not found');
    }
  });
});
