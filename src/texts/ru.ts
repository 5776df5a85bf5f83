import { DEFAULT_PLAN_LIMITS } from '../core/message-plan.js';
import { formatByteSize } from './byte-size.js';
import type { Texts } from './catalog.js';
import { formatMailboxList, type ListedMailbox } from './mailbox-list.js';

const formatSize = (bytes: number): string => formatByteSize(bytes, ['Б', 'КБ', 'МБ', 'ГБ'], ',');

const list = (mailboxes: readonly ListedMailbox[]): string =>
  formatMailboxList(mailboxes, { paused: 'приостановлен', more: (count) => `… и ещё ${count}` });

const COMMANDS =
  '/status — что вы получаете\n/last — последние отчёты ещё раз\n/stop — отписаться\n/help — справка';

/** A day and time as Russians write it, in the bot's time zone (TZ). */
const dateRu = (iso: string): string =>
  new Date(iso).toLocaleString('ru-RU', {
    day: '2-digit',
    month: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
  });

/** Russian: the default language. */
export const ru: Texts = {
  linkLabel: 'Открыть в Superset',
  tooLargeNotice: (filename, size, limitBytes = DEFAULT_PLAN_LIMITS.uploadMaxBytes) =>
    `📎 «${filename}» (${formatSize(size)}) больше лимита Telegram для ботов (${formatSize(limitBytes)}) и не отправлен.`,
  filesNotAllowedNotice: (filenames) =>
    `📎 Настройки группы не разрешают боту отправлять файлы, поэтому не отправлены: ${filenames.map((name) => `«${name}»`).join(', ')}.`,
  formatSize,

  commandDescriptions: {
    start: 'Подписаться на отчёты',
    status: 'Что я получаю',
    stop: 'Отписаться от отчётов',
    last: 'Последние отчёты ещё раз',
    help: 'Справка',
  },
  startGreeting:
    'Здравствуйте! Я присылаю отчёты Superset.\n\n' +
    'Чтобы подписаться, нажмите кнопку «Поделиться номером» внизу: я найду ваш номер в списке получателей.',
  sharePhoneButton: '📱 Поделиться номером',
  alreadySubscribed: (mailboxes) =>
    mailboxes.length > 0
      ? `Вы уже подписаны. Отчёты приходят из ящиков:\n${list(mailboxes)}\n\n${COMMANDS}`
      : `Вы уже подписаны, но вам пока не назначен ни один ящик: отчёты начнут приходить, когда администратор его добавит.\n\n${COMMANDS}`,
  contactNotOwn:
    'Это не ваш номер. Подписаться можно только по своему номеру: нажмите кнопку «Поделиться номером» внизу.',
  subscribed: (mailboxes) =>
    mailboxes.length > 0
      ? `✅ Готово, вы подписаны. Отчёты будут приходить из ящиков:\n${list(mailboxes)}\n\n${COMMANDS}`
      : `✅ Готово, вы подписаны. Вам пока не назначен ни один ящик: отчёты начнут приходить, когда администратор его добавит.\n\n${COMMANDS}`,
  phoneNotFound:
    'Вашего номера нет в списке получателей. Обратитесь к администратору: когда он добавит номер, отправьте /start ещё раз.',
  tryLater:
    'Сейчас не удаётся связаться со списком получателей, ничего не изменено. Попробуйте, пожалуйста, через несколько минут.',
  somethingWentWrong: 'Что-то пошло не так. Попробуйте, пожалуйста, позже.',
  statusSubscribed: (mailboxes) =>
    mailboxes.length > 0
      ? `Вы подписаны. Отчёты приходят из ящиков:\n${list(mailboxes)}`
      : 'Вы подписаны, но вам пока не назначен ни один ящик.',
  statusPaused: 'Ваша подписка приостановлена, отчёты не приходят. Чтобы возобновить её, отправьте /start.',
  statusNotSubscribed: 'Вы не подписаны. Отправьте /start и поделитесь номером телефона, чтобы подписаться.',
  unsubscribed: 'Вы отписались, отчёты больше не будут приходить. Чтобы подписаться снова, отправьте /start.',
  stopNotSubscribed: 'Вы и так не подписаны. Чтобы подписаться, отправьте /start.',
  help:
    'Я пересылаю отчёты Superset из почты в Telegram.\n\n' +
    '/start — подписаться по номеру телефона\n' +
    `${COMMANDS}\n\n` +
    'Чтобы отчёты приходили в группу, добавьте меня в неё и назначьте администратором. ' +
    'Название группы должно быть в списке групп у администратора бота.',
  quietHoursNote: (hours) => `С ${hours.replace('-', ' до ')} отчёты приходят без звука.`,
  lastReports: (lines) =>
    lines
      .map((line) => {
        const report = line.subject
          ? `«${line.subject}»${line.receivedAt ? ` от ${dateRu(line.receivedAt)}` : ''}`
          : '';
        switch (line.state) {
          case 'queued':
            return `• ${line.mailbox}: отправляю ${report}`;
          case 'pending':
            return `• ${line.mailbox}: ${report} уже в пути`;
          case 'gone':
            return `• ${line.mailbox}: последний отчёт ${report} больше не хранится`;
          default:
            return `• ${line.mailbox}: отчётов ещё не было`;
        }
      })
      .join('\n'),
  lastNothingSubscribed: 'Сейчас вы не получаете отчётов, поэтому присылать нечего.',
  lastTooSoon: (seconds) => `Подождите, пожалуйста, ${seconds} с и попросите снова.`,
  reportNotProduced: (reportName) => `⚠️ Отчёт «${reportName}» сегодня не сформирован.`,
  unknownMessage: 'Я понимаю только команды /start, /status, /last, /stop и /help.',

  groupRegistered: (mailboxes) =>
    mailboxes.length > 0
      ? `✅ Группа зарегистрирована. Сюда будут приходить отчёты из ящиков:\n${list(mailboxes)}`
      : '✅ Группа зарегистрирована. Ей пока не назначен ни один ящик: отчёты начнут приходить, когда администратор бота его добавит.',
  groupTitleTaken: (title) =>
    `Группа «${title}» уже зарегистрирована в другом чате, и этот чат не может её заменить, поэтому я ухожу. ` +
    'Если это ошибка, обратитесь к администратору бота.',
  groupTitleUnknown: (title) =>
    `Группы «${title}» нет в списке групп для отчётов, поэтому я ухожу. ` +
    'Попросите администратора бота добавить её, затем снова добавьте меня и назначьте администратором.',
  groupMakeMeAdmin:
    'Спасибо, что добавили меня! Чтобы группа получала отчёты, назначьте меня администратором.',
  groupNeedsRegisteredUser:
    'Зарегистрировать группу может только подписанный на отчёты пользователь, поэтому я ухожу. ' +
    'Пусть меня добавит и назначит администратором тот, кто подписан на отчёты.',
  groupAnonymousAdmin:
    'Меня назначили администратором анонимно, и я не могу проверить, кто это сделал, поэтому я ухожу. ' +
    'Отключите анонимность, затем снова добавьте меня и назначьте администратором.',
  groupTryLater:
    'Сейчас не удаётся связаться со списком групп, группа не зарегистрирована. ' +
    'Попробуйте через несколько минут: снимите с меня права администратора и назначьте снова.',
  groupRegistrationUndone: (title) =>
    `К сожалению, регистрацию группы не удалось завершить: группа «${title}» оказалась зарегистрирована в другом чате. ` +
    'Отчёты сюда больше не придут, и я ухожу. Если это ошибка, обратитесь к администратору бота.',

  pausedByAdmin:
    'Ваша подписка приостановлена администратором. Отчёты снова начнут приходить, когда администратор её возобновит.',
  groupPausedByAdmin: (title, leaving) =>
    leaving
      ? `Группа «${title}» приостановлена администратором бота, поэтому я ухожу. Когда он её возобновит, снова добавьте меня и назначьте администратором.`
      : 'Подписка этой группы приостановлена администратором бота. Отчёты снова начнут приходить, когда он её возобновит.',
  groupAwaitingApproval:
    'Администратора бота попросили подтвердить эту группу. Отчёты начнут приходить после подтверждения.',
  groupRejected: 'Администратор бота не подтвердил эту группу, поэтому я ухожу.',
};
