/**
 * The shape every language's texts must have. Add a key here and the compiler demands it in `ru.ts` and
 * `en.ts` (each is declared as `Texts`, so a missing key or a stray extra key is a type error).
 * Texts are sent without parse_mode: names and titles are quoted as they are.
 */
import type { ListedMailbox } from './mailbox-list.js';

export type { ListedMailbox } from './mailbox-list.js';

/** The descriptions shown in Telegram's command menu (setMyCommands: 1–256 characters each). */
export interface CommandDescriptions {
  start: string;
  status: string;
  stop: string;
  last: string;
  help: string;
}

/** What /last does for one mailbox of the chat. */
export interface LastReportLine {
  /** The mailbox address. */
  mailbox: string;
  /**
   * `queued`: its latest report is being sent again; `pending`: that report is already on its way to
   * this chat; `gone`: its files are no longer kept; `none`: no report has arrived from it yet.
   */
  state: 'queued' | 'pending' | 'gone' | 'none';
  /** The report's subject (made safe), for every state but `none`. */
  subject?: string;
  /** When the report arrived (ISO time), for every state but `none`. */
  receivedAt?: string;
}

export interface Texts {
  /** The words in a report caption that carry the dashboard link. */
  linkLabel: string;
  /**
   * The message sent instead of a file that is too big for the Bot API upload.
   * @param filename the file's display name, quoted as is (texts are sent without parse_mode).
   * @param size the file's size in bytes.
   * @param limitBytes the upload limit in bytes; defaults to the Bot API's 50 MiB.
   */
  tooLargeNotice(filename: string, size: number, limitBytes?: number): string;
  /**
   * Sent instead of files when the group does not let the bot send files at all: names them, so the
   * reader knows what to ask for. Follows the report's caption.
   * @param filenames the files' display names, quoted as is.
   */
  filesNotAllowedNotice(filenames: readonly string[]): string;
  /** A byte count for people: "63,2 МБ" / "63.2 MB" (binary units, one decimal, none when it is .0). */
  formatSize(bytes: number): string;

  // ---- private chat: registration by phone and the commands -------------------------------------

  /** The command menu (setMyCommands) in this language. */
  commandDescriptions: CommandDescriptions;
  /** /start from someone not subscribed: what the bot does and that the button below shares the phone. */
  startGreeting: string;
  /** The reply-keyboard button that shares the user's own phone number (request_contact). */
  sharePhoneButton: string;
  /** /start from a subscriber: nothing to do, and what they receive. */
  alreadySubscribed(mailboxes: readonly ListedMailbox[]): string;
  /** A contact that is not the sender's own (someone else's card, a forward): use the button. */
  contactNotOwn: string;
  /** The phone was found and the Telegram account linked: what the user will receive. */
  subscribed(mailboxes: readonly ListedMailbox[]): string;
  /** The phone is not in the users table: ask the administrator. */
  phoneNotFound: string;
  /** The directory (e.g. SeaTable) could not be reached or refused the change: nothing was changed. */
  tryLater: string;
  /** Anything unexpected went wrong while answering. */
  somethingWentWrong: string;
  /** /status from a subscriber: what they receive. */
  statusSubscribed(mailboxes: readonly ListedMailbox[]): string;
  /** /status from a known user whose subscription is switched off (blocked the bot, or by the admin). */
  statusPaused: string;
  /** /status from someone not subscribed: how to subscribe. */
  statusNotSubscribed: string;
  /** /stop done: no more reports, and how to come back. */
  unsubscribed: string;
  /** /stop from someone not subscribed. */
  stopNotSubscribed: string;
  /** /help. */
  help: string;
  /** Added to /help when QUIET_HOURS is set: reports arriving then come without sound. */
  quietHoursNote(hours: string): string;
  /** /last: what is sent again, per mailbox of the chat. */
  lastReports(lines: readonly LastReportLine[]): string;
  /** /last from a chat that receives no reports now. */
  lastNothingSubscribed: string;
  /** /last again within LAST_COMMAND_INTERVAL_SECONDS: how long to wait. */
  lastTooSoon(seconds: number): string;
  /**
   * SUPERSET_NOTICES=subscribers: Superset could not produce today's report.
   * @param reportName the report's name as Superset gave it, made safe, quoted as is.
   */
  reportNotProduced(reportName: string): string;
  /** Anything else in a private chat: which commands there are. */
  unknownMessage: string;

  // ---- groups -------------------------------------------------------------------------------------

  /** Posted in a group once it is registered: which reports will arrive there. */
  groupRegistered(mailboxes: readonly ListedMailbox[]): string;
  /** The title belongs to a group already registered in another chat; the bot leaves. */
  groupTitleTaken(title: string): string;
  /** The title is not in the groups table; the bot leaves. */
  groupTitleUnknown(title: string): string;
  /** The bot was added as a plain member: make it an administrator to register the group. */
  groupMakeMeAdmin: string;
  /** GROUP_REGISTRATION_REQUIRES_USER: the promoting admin is not a subscribed user; the bot leaves. */
  groupNeedsRegisteredUser: string;
  /** GROUP_REGISTRATION_REQUIRES_USER: the admin promoted anonymously and cannot be checked; the bot leaves. */
  groupAnonymousAdmin: string;
  /** The directory could not be reached while registering the group: how to try again. */
  groupTryLater: string;
  /**
   * The registration confirmed earlier could not be completed: the groups table turned out to have
   * the title registered to another chat (or no longer to have it). Reports stop; the bot leaves.
   */
  groupRegistrationUndone(title: string): string;

  // ---- the admin's pause and group approval (issue 11) ----------------------------------------------

  /** /start, a shared phone or /status of a user the admin paused: nothing was changed. */
  pausedByAdmin: string;
  /**
   * The bot was promoted in a group the admin paused: nothing was changed. `leaving` when the group is
   * not registered to this chat (the bot leaves); otherwise it stays and reports resume with the admin.
   */
  groupPausedByAdmin(title: string, leaving: boolean): string;
  /** GROUP_REGISTRATION=approval: the admin chat was asked; reports start once it approves. */
  groupAwaitingApproval: string;
  /** GROUP_REGISTRATION=approval: the admin chat rejected the group; the bot leaves. */
  groupRejected: string;
}
