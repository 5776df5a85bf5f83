import { DEFAULT_PLAN_LIMITS } from '../core/message-plan.js';
import { formatByteSize } from './byte-size.js';
import type { Texts } from './catalog.js';
import { formatMailboxList, type ListedMailbox } from './mailbox-list.js';

const formatSize = (bytes: number): string => formatByteSize(bytes, ['B', 'KB', 'MB', 'GB'], '.');

const list = (mailboxes: readonly ListedMailbox[]): string =>
  formatMailboxList(mailboxes, { paused: 'paused', more: (count) => `… and ${count} more` });

const COMMANDS =
  '/status — what you receive\n/last — the latest reports again\n/stop — unsubscribe\n/help — help';

/** A day and time in the bot's time zone (TZ). */
const dateEn = (iso: string): string =>
  new Date(iso).toLocaleString('en-GB', {
    day: 'numeric',
    month: 'short',
    hour: '2-digit',
    minute: '2-digit',
  });

/** English: for users whose Telegram language is English. */
export const en: Texts = {
  linkLabel: 'Open in Superset',
  tooLargeNotice: (filename, size, limitBytes = DEFAULT_PLAN_LIMITS.uploadMaxBytes) =>
    `📎 “${filename}” (${formatSize(size)}) is over Telegram's limit for bots (${formatSize(limitBytes)}) and was not sent.`,
  filesNotAllowedNotice: (filenames) =>
    `📎 This group's settings do not let the bot send files, so these were not sent: ${filenames.map((name) => `“${name}”`).join(', ')}.`,
  formatSize,

  commandDescriptions: {
    start: 'Subscribe to reports',
    status: 'What I receive',
    stop: 'Unsubscribe from reports',
    last: 'The latest reports again',
    help: 'Help',
  },
  startGreeting:
    'Hello! I send Superset reports.\n\n' +
    'To subscribe, tap “Share my phone number” below: I will look your number up in the list of recipients.',
  sharePhoneButton: '📱 Share my phone number',
  alreadySubscribed: (mailboxes) =>
    mailboxes.length > 0
      ? `You are already subscribed. Reports come from:\n${list(mailboxes)}\n\n${COMMANDS}`
      : `You are already subscribed, but no mailbox is assigned to you yet: reports will start once the administrator adds one.\n\n${COMMANDS}`,
  contactNotOwn:
    'This is not your number. You can only subscribe with your own number: tap “Share my phone number” below.',
  subscribed: (mailboxes) =>
    mailboxes.length > 0
      ? `✅ Done, you are subscribed. Reports will come from:\n${list(mailboxes)}\n\n${COMMANDS}`
      : `✅ Done, you are subscribed. No mailbox is assigned to you yet: reports will start once the administrator adds one.\n\n${COMMANDS}`,
  phoneNotFound:
    'Your number is not in the list of recipients. Please ask your administrator to add it, then send /start again.',
  tryLater:
    'The list of recipients cannot be reached right now, nothing was changed. Please try again in a few minutes.',
  somethingWentWrong: 'Something went wrong. Please try again later.',
  statusSubscribed: (mailboxes) =>
    mailboxes.length > 0
      ? `You are subscribed. Reports come from:\n${list(mailboxes)}`
      : 'You are subscribed, but no mailbox is assigned to you yet.',
  statusPaused: 'Your subscription is paused and no reports arrive. Send /start to resume it.',
  statusNotSubscribed: 'You are not subscribed. Send /start and share your phone number to subscribe.',
  unsubscribed: 'You are unsubscribed and will receive no more reports. Send /start to subscribe again.',
  stopNotSubscribed: 'You are not subscribed. Send /start to subscribe.',
  help:
    'I forward Superset reports from e-mail to Telegram.\n\n' +
    '/start — subscribe with your phone number\n' +
    `${COMMANDS}\n\n` +
    'To get reports in a group, add me to the group and make me an administrator. ' +
    'The group’s title must be in the bot administrator’s list of groups.',
  quietHoursNote: (hours) => `Reports arriving ${hours.replace('-', ' to ')} come without sound.`,
  lastReports: (lines) =>
    lines
      .map((line) => {
        const report = line.subject
          ? `“${line.subject}”${line.receivedAt ? ` of ${dateEn(line.receivedAt)}` : ''}`
          : '';
        switch (line.state) {
          case 'queued':
            return `• ${line.mailbox}: sending ${report}`;
          case 'pending':
            return `• ${line.mailbox}: ${report} is already on its way`;
          case 'gone':
            return `• ${line.mailbox}: the latest report ${report} is no longer kept`;
          default:
            return `• ${line.mailbox}: no report yet`;
        }
      })
      .join('\n'),
  lastNothingSubscribed: 'You receive no reports now, so there is nothing to send again.',
  lastTooSoon: (seconds) => `Please wait ${seconds} s and ask again.`,
  reportNotProduced: (reportName) => `⚠️ The report “${reportName}” was not produced today.`,
  unknownMessage: 'I only understand the commands /start, /status, /last, /stop and /help.',

  groupRegistered: (mailboxes) =>
    mailboxes.length > 0
      ? `✅ This group is registered. Reports from these mailboxes will arrive here:\n${list(mailboxes)}`
      : '✅ This group is registered. No mailbox is assigned to it yet: reports will start once the bot administrator adds one.',
  groupTitleTaken: (title) =>
    `The group “${title}” is already registered in another chat and this chat cannot replace it, so I am leaving. ` +
    'If this is a mistake, please contact the bot administrator.',
  groupTitleUnknown: (title) =>
    `“${title}” is not in the list of report groups, so I am leaving. ` +
    'Ask the bot administrator to add it, then add me again and make me an administrator.',
  groupMakeMeAdmin: 'Thanks for adding me! To receive reports in this group, make me an administrator.',
  groupNeedsRegisteredUser:
    'Only a user subscribed to the reports can register a group, so I am leaving. ' +
    'Ask someone who is subscribed to add me and make me an administrator.',
  groupAnonymousAdmin:
    'I was made an administrator anonymously and cannot check who did it, so I am leaving. ' +
    'Turn anonymity off, then add me again and make me an administrator.',
  groupTryLater:
    'The list of groups cannot be reached right now, so this group is not registered yet. ' +
    'Please try again in a few minutes: remove my administrator rights and grant them again.',
  groupRegistrationUndone: (title) =>
    `Sorry, the registration of this group could not be completed: the group “${title}” turned out to be registered in another chat. ` +
    'No more reports will arrive here and I am leaving. If this is a mistake, please contact the bot administrator.',

  pausedByAdmin:
    'Your subscription is paused by the administrator. Reports will arrive again once the administrator resumes it.',
  groupPausedByAdmin: (title, leaving) =>
    leaving
      ? `The group “${title}” is paused by the bot administrator, so I am leaving. Once they resume it, add me again and make me an administrator.`
      : 'This group’s subscription is paused by the bot administrator. Reports will arrive again once they resume it.',
  groupAwaitingApproval:
    'The bot administrator has been asked to approve this group. Reports will start once they do.',
  groupRejected: 'The bot administrator did not approve this group, so I am leaving.',
};
