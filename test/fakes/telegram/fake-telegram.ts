/**
 * A fake Telegram Bot API server for the tests: a real HTTP server on 127.0.0.1 that grammY talks
 * to through `client.apiRoot`, implementing what the report bot uses with the real server's
 * limits, error shapes and wording (see research/telegram.md §3–§5), plus a control API to set up
 * chats, inject updates, script faults and inspect what was sent.
 *
 * ```ts
 * const telegram = await FakeTelegram.start();
 * const bot = new Bot(telegram.token, { client: { apiRoot: telegram.apiRoot } });
 * telegram.addPrivateChat({ id: 42, language_code: 'ru' });
 * await bot.api.sendDocument(42, new InputFile(pdf, 'Отчёт за май.pdf'));
 * telegram.messagesIn(42); // [{ type: 'document', file_name: 'Отчёт за май.pdf', … }]
 * await telegram.stop();
 * ```
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type {
  BotCommand,
  BotCommandScope,
  ChatPermissions,
  Message,
  Update,
  UserFromGetMe,
} from 'grammy/types';
import {
  BotApiError,
  Descriptions,
  nginxEntityTooLarge,
  nginxGatewayPage,
  RawHttpAnswer,
  tooManyFilesAttached,
} from './bot-api-error.js';
import {
  type CallbackQueryRecord,
  type CallContext,
  DEFAULT_UPLOAD_LIMITS,
  METHODS,
  type MethodHandler,
  type SentOptions,
  type ServerState,
  type UploadLimits,
  unixSeconds,
} from './bot-api-methods.js';
import { BotCommandStore, type PublishedCommands } from './bot-commands.js';
import type { CallLogEntry, CallTotals, DeliveredMessage } from './call-log.js';
import { summarizeMessage } from './call-log.js';
import {
  type BotMemberStatus,
  type ChatRecord,
  ChatRegistry,
  type GroupChatRecord,
  type PrivateChatState,
} from './chat-registry.js';
import { type Fault, type FaultFilter, FaultPlan } from './faults.js';
import { FileStore } from './file-store.js';
import { RateLimiter, type RateLimitOptions } from './rate-limiter.js';
import { type ApiRequest, parseApiRequest, readBody } from './request-params.js';
import {
  contactMessage,
  migrateFromMessage,
  migrateToMessage,
  myChatMemberUpdate,
  newChatTitleMessage,
  textMessage,
  toUser,
  type UpdateWithoutId,
  type UserSpec,
} from './update-builders.js';
import { UpdateQueue } from './update-queue.js';
// answerCallbackQuery, editMessageText, getChatMember, getChatMemberCount
import './interactive-methods.js';

export type { BotApiError } from './bot-api-error.js';
export type { UploadLimits } from './bot-api-methods.js';
export { DEFAULT_UPLOAD_LIMITS } from './bot-api-methods.js';
export type { PublishedCommands } from './bot-commands.js';
export type {
  CallLogEntry,
  CallTotals,
  DeliveredMessage,
  DeliveredMessageType,
  UploadedFileInfo,
} from './call-log.js';
export type {
  BotMemberStatus,
  ChatRecord,
  GroupChatRecord,
  PrivateChatRecord,
  PrivateChatState,
} from './chat-registry.js';
export { type Fault, type FaultFilter, faults } from './faults.js';
export { encodePng, type PngOptions } from './png.js';
export { DEFAULT_RATE_LIMITS, type RateLimitOptions } from './rate-limiter.js';
export { GROUP_ANONYMOUS_BOT, type UpdateWithoutId, type UserSpec } from './update-builders.js';

/** How the fake server starts. Every field is optional. */
export interface FakeTelegramOptions {
  /** The bot's user id; also the token's numeric part. Default 7000000001. */
  botId?: number;
  /** The bot's @username (without @). Default `superset_reports_bot`. */
  botUsername?: string;
  /** The bot's display name. Default `Superset Reports`. */
  botFirstName?: string;
  /** `getMe().can_join_groups`. Default true. */
  canJoinGroups?: boolean;
  /** `getMe().can_read_all_group_messages` (privacy mode off). Default false. */
  canReadAllGroupMessages?: boolean;
  /**
   * Flood-limit emulation: `false` turns it off; an object overrides single limits. Default ON with
   * 30 messages/s overall, 1 request/s per chat, 20 messages/min per group (see {@link RateLimitOptions}).
   */
  rateLimits?: Partial<RateLimitOptions> | false;
  /** Upload limits; defaults are the cloud Bot API's (50 MB documents, 10 MB photos, 50 files). */
  limits?: Partial<UploadLimits>;
  /** Longest getUpdates `timeout` honoured, in seconds (0–50). Default 50, like the real server. */
  maxPollTimeoutSeconds?: number;
  /**
   * Accept TCP connections only from this address (a proxy's outgoing address, e.g. `127.0.0.3`):
   * any other is cut before a byte is read, so a client that bypasses the proxy fails. Default: all.
   */
  acceptFrom?: string;
}

/** A group, supergroup or channel as a test sets it up. */
export interface GroupSpec {
  /** Chat id; default a fresh negative id (`-100…` for supergroups and channels). */
  id?: number;
  /** Default `group`. */
  type?: 'group' | 'supergroup' | 'channel';
  /** The chat title (what group registration matches on). */
  title: string;
  /** The bot's status in the chat. Default `member`. */
  botStatus?: BotMemberStatus;
  /** Public @username (supergroups/channels), without the @. */
  username?: string;
  /** Supergroup with topics. Default false. */
  isForum?: boolean;
  /** Existing topic ids (message_thread_id) of a forum. */
  topicIds?: number[];
}

/** A contact message as a test describes it. */
export interface ContactSpec {
  /** As the client sends it: with or without `+`. */
  phone_number: string;
  /**
   * Whose card it is: `'sender'` (default; `user_id` = the sender, what the request_contact button
   * sends), `'unknown'` (no `user_id`, e.g. a card typed in by hand), or another user.
   */
  owner?: 'sender' | 'unknown' | UserSpec;
  /** Default: the owner's first name. */
  first_name?: string;
  /** The card's last name, if any. */
  last_name?: string;
  /** The card's vCard, if any. */
  vcard?: string;
  /** Makes the message a forward of a contact message first sent by this user (`forward_origin`). */
  forwardedFrom?: UserSpec;
}

/** A change of the bot's status in a chat, as a test describes it. */
export interface MyChatMemberSpec {
  /** A known chat id, or a group to register when unknown. */
  chat: number | GroupSpec;
  /** The user who made the change (adds/promotes/removes the bot). */
  from: UserSpec;
  /** The bot's status before the change (`old_chat_member.status`). */
  oldStatus: BotMemberStatus;
  /** The bot's status after the change (`new_chat_member.status`). */
  newStatus: BotMemberStatus;
}

/** Options of {@link FakeTelegram.injectMigration}. */
export interface MigrationSpec {
  /** The new supergroup's id; default a fresh `-100…` id. */
  supergroupId?: number;
  /** The user whose action upgraded the group. Default a "Group Admin" user (id 100000001). */
  by?: UserSpec;
  /** Which service message arrives first. Default `to-first`. */
  order?: 'to-first' | 'from-first';
  /** Also send the `my_chat_member` join for the new supergroup (as Telegram does). Default true. */
  withMyChatMember?: boolean;
}

const DEFAULT_ADMIN: UserSpec = { id: 100000001, first_name: 'Group Admin' };
/** Bytes read beyond the largest allowed upload before a body counts as over-size. */
const MULTIPART_SLACK_BYTES = 1024 * 1024;
const DEFAULT_WAIT_MS = 5_000;

export class FakeTelegram {
  /** Base URL to pass as grammY `client.apiRoot` (no trailing slash). */
  readonly apiRoot: string;
  /** The only token the server accepts; any other gets `401 Unauthorized`. */
  readonly token: string;
  /** What getMe returns. */
  readonly botInfo: UserFromGetMe;
  /** Connections cut because they did not come from `acceptFrom`. */
  cutConnections = 0;

  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly chats = new ChatRegistry();
  private readonly files = new FileStore();
  private readonly commands: BotCommandStore;
  private readonly updates: UpdateQueue;
  private readonly faultPlan = new FaultPlan();
  private readonly limits: UploadLimits;
  private rateLimiter: RateLimiter | undefined;
  /** The bot's Stars balance in tenths of a Star (a paid message costs one); null: unlimited. */
  private starsTenths: number | null = null;
  private starsSpentTenths = 0;
  private readonly messageIds = new Map<number, number>();
  private readonly delivered = new Map<number, DeliveredMessage[]>();
  private readonly callbackQueries = new Map<string, CallbackQueryRecord>();
  private nextCallbackQuery = 1;
  private log: CallLogEntry[] = [];
  private nextSeq = 1;
  private nextMediaGroup = 1;
  private nextGroupId = 1;
  private readonly waiters = new Set<() => void>();
  private readonly state: ServerState;

  private constructor(server: Server, port: number, options: FakeTelegramOptions) {
    this.server = server;
    this.apiRoot = `http://127.0.0.1:${port}`;
    const botId = options.botId ?? 7000000001;
    this.token = `${botId}:AA${randomBytes(27).toString('base64url').slice(0, 33)}`;
    this.botInfo = {
      id: botId,
      is_bot: true,
      first_name: options.botFirstName ?? 'Superset Reports',
      username: options.botUsername ?? 'superset_reports_bot',
      can_join_groups: options.canJoinGroups ?? true,
      can_read_all_group_messages: options.canReadAllGroupMessages ?? false,
      supports_inline_queries: false,
      can_connect_to_business: false,
      has_main_web_app: false,
      has_topics_enabled: false,
      allows_users_to_create_topics: false,
      can_manage_bots: false,
      supports_join_request_queries: false,
    };
    this.limits = { ...DEFAULT_UPLOAD_LIMITS, ...options.limits };
    this.rateLimiter = options.rateLimits === false ? undefined : new RateLimiter(options.rateLimits ?? {});
    this.commands = new BotCommandStore(this.chats);
    this.updates = new UpdateQueue(Math.min(50, Math.max(0, options.maxPollTimeoutSeconds ?? 50)), () =>
      this.notify(),
    );
    this.state = this.createState();
  }

  /** Starts a server on 127.0.0.1 with a random free port. */
  static async start(options: FakeTelegramOptions = {}): Promise<FakeTelegram> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const fake = new FakeTelegram(server, (server.address() as AddressInfo).port, options);
    server.on('connection', (socket) => {
      const from = socket.remoteAddress?.replace(/^::ffff:/, '');
      if (options.acceptFrom && from !== options.acceptFrom) {
        fake.cutConnections++;
        socket.destroy();
        return;
      }
      fake.sockets.add(socket);
      socket.on('close', () => fake.sockets.delete(socket));
    });
    server.on('request', (request, response) => {
      fake.handle(request, response).catch((error: unknown) => {
        // a bug in the fake: say so loudly and answer 500 so the test does not hang
        console.error('FakeTelegram: unexpected error while handling a call', error);
        if (!response.headersSent) {
          writeJson(response, 500, {
            ok: false,
            error_code: 500,
            description: `Internal Server Error: fake server bug: ${(error as Error).message}`,
          });
        }
      });
    });
    return fake;
  }

  /** Answers held long polls, closes every connection and stops listening. */
  async stop(): Promise<void> {
    this.updates.releaseHeldPoll();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Chats

  /**
   * Registers the private chat of a user who pressed Start (state `active` unless given).
   * Returns the user's id, which is the chat id.
   */
  addPrivateChat(user: UserSpec, state: PrivateChatState = 'active'): number {
    const record = this.chats.upsertPrivate(toUser(user));
    record.state = state;
    return record.id;
  }

  /** Registers a group, supergroup or channel; returns its chat id. */
  addGroup(spec: GroupSpec): number {
    const type = spec.type ?? 'group';
    const id = spec.id ?? this.freshGroupId(type);
    this.chats.upsertGroup({
      id,
      type,
      title: spec.title,
      botStatus: spec.botStatus ?? 'member',
      ...(spec.username === undefined ? {} : { username: spec.username }),
      ...(spec.isForum === undefined ? {} : { isForum: spec.isForum }),
      ...(spec.topicIds === undefined ? {} : { topicIds: spec.topicIds }),
    });
    return id;
  }

  /** Sets a private chat's state: `blocked` (user blocked the bot), `deactivated`, or `active`. */
  setPrivateChatState(userId: number, state: PrivateChatState): void {
    const chat = this.requirePrivate(userId);
    chat.state = state;
  }

  /** The user blocks the bot: sends answer `403 Forbidden: bot was blocked by the user`. */
  blockBot(userId: number): void {
    this.setPrivateChatState(userId, 'blocked');
  }

  /** The user's account is deleted: sends answer `403 Forbidden: user is deactivated`. */
  deactivateUser(userId: number): void {
    this.setPrivateChatState(userId, 'deactivated');
  }

  /** Sets the bot's status in a group/supergroup/channel (without sending an update). */
  setBotStatus(chatId: number, status: BotMemberStatus): void {
    this.requireGroup(chatId).botStatus = status;
  }

  /**
   * Upgrades a basic group to a supergroup in the registry only (no updates): sends to the old id
   * then answer 400 with `parameters.migrate_to_chat_id`. Returns the supergroup's id.
   * See {@link injectMigration} for the updates the bot would also receive.
   */
  migrateGroup(groupId: number, supergroupId?: number): number {
    const group = this.requireGroup(groupId);
    if (group.type !== 'group')
      throw new Error(`chat ${groupId} is a ${group.type}, only basic groups migrate`);
    const newId = supergroupId ?? this.freshGroupId('supergroup');
    this.chats.upsertGroup({ id: newId, type: 'supergroup', title: group.title, botStatus: group.botStatus });
    group.migratedTo = newId;
    return newId;
  }

  /** Deletes a chat: groups answer `403 the group chat was deleted`, others `400 chat not found`. */
  deleteChat(chatId: number): void {
    this.requireGroup(chatId).deleted = true;
  }

  /** Adds a topic to a forum supergroup (and makes it a forum). */
  addForumTopic(chatId: number, threadId: number): void {
    const chat = this.requireGroup(chatId);
    chat.isForum = true;
    chat.topicIds.add(threadId);
  }

  /** A snapshot of what the fake knows about a chat. */
  chat(chatId: number): ChatRecord | undefined {
    const chat = this.chats.get(chatId);
    if (chat === undefined) return undefined;
    return chat.type === 'private'
      ? { ...chat, user: { ...chat.user } }
      : { ...chat, topicIds: new Set(chat.topicIds) };
  }

  // -------------------------------------------------------------------------------------------
  // Updates

  /** Queues any update for getUpdates; the server assigns `update_id` (1, 2, 3…). */
  injectUpdate(update: UpdateWithoutId): Update {
    return this.updates.push(update);
  }

  /**
   * A text message (a command when it starts with `/`, with its `bot_command` entity) from `from`.
   * Without `chatId` it is a private message, which registers the private chat.
   */
  injectTextMessage(
    from: UserSpec,
    text: string,
    options: { chatId?: number; messageThreadId?: number } = {},
  ): Update {
    const user = toUser(from);
    const chat =
      options.chatId === undefined || options.chatId === user.id
        ? this.chats.upsertPrivate(user)
        : this.requireChat(options.chatId);
    return this.injectUpdate(
      messageUpdate(
        textMessage({
          messageId: this.nextMessageId(chat.id),
          date: this.nowSeconds(),
          chat: this.chats.chatObject(chat),
          from: user,
          text,
          ...(options.messageThreadId === undefined ? {} : { messageThreadId: options.messageThreadId }),
        }),
      ),
    );
  }

  /** A contact message in the sender's private chat (registers the chat). */
  injectContact(from: UserSpec, contact: ContactSpec): Update {
    const user = toUser(from);
    const chat = this.chats.upsertPrivate(user);
    const owner = contact.owner ?? 'sender';
    const ownerUser = owner === 'sender' ? user : owner === 'unknown' ? undefined : toUser(owner);
    return this.injectUpdate(
      messageUpdate(
        contactMessage({
          messageId: this.nextMessageId(chat.id),
          date: this.nowSeconds(),
          chat: this.chats.chatObject(chat),
          from: user,
          contact: {
            phone_number: contact.phone_number,
            first_name: contact.first_name ?? ownerUser?.first_name ?? 'Contact',
            ...(contact.last_name === undefined ? {} : { last_name: contact.last_name }),
            ...(ownerUser === undefined ? {} : { user_id: ownerUser.id }),
            ...(contact.vcard === undefined ? {} : { vcard: contact.vcard }),
          },
          ...(contact.forwardedFrom === undefined ? {} : { forwardedFrom: toUser(contact.forwardedFrom) }),
        }),
      ),
    );
  }

  /**
   * A `my_chat_member` update and the matching registry change: in groups the bot's status becomes
   * `newStatus` (an unknown group given as a {@link GroupSpec} is registered); in a private chat
   * `kicked` means the user blocked the bot and `member` that they unblocked it.
   */
  injectMyChatMember(spec: MyChatMemberSpec): Update {
    const from = toUser(spec.from);
    let chat: ChatRecord;
    if (typeof spec.chat === 'number') {
      chat = this.requireChat(spec.chat);
    } else {
      const id = spec.chat.id ?? this.freshGroupId(spec.chat.type ?? 'group');
      this.addGroup({ ...spec.chat, id, botStatus: spec.newStatus });
      chat = this.requireChat(id);
    }
    if (chat.type === 'private') {
      if (spec.newStatus === 'kicked') chat.state = 'blocked';
      else if (spec.newStatus === 'member' && chat.state === 'blocked') chat.state = 'active';
    } else {
      chat.botStatus = spec.newStatus;
    }
    return this.injectUpdate(
      myChatMemberUpdate({
        chat: this.chats.chatObject(chat),
        from,
        bot: this.botInfo,
        date: this.nowSeconds(),
        oldStatus: spec.oldStatus,
        newStatus: spec.newStatus,
      }),
    );
  }

  /**
   * Upgrades a basic group to a supergroup ({@link migrateGroup}) and sends what the bot receives:
   * `migrate_to_chat_id` in the old group, `migrate_from_chat_id` in the new one (from
   * GroupAnonymousBot), and a `my_chat_member` join (`left` → the bot's status) for the supergroup.
   */
  injectMigration(groupId: number, spec: MigrationSpec = {}): { supergroupId: number; updates: Update[] } {
    const group = this.requireGroup(groupId);
    const by = toUser(spec.by ?? DEFAULT_ADMIN);
    const supergroupId = this.migrateGroup(groupId, spec.supergroupId);
    const supergroup = this.requireGroup(supergroupId);
    const toMessage = (): UpdateWithoutId =>
      messageUpdate(
        migrateToMessage({
          messageId: this.nextMessageId(group.id),
          date: this.nowSeconds(),
          chat: this.chats.chatObject(group),
          from: by,
          toChatId: supergroupId,
        }),
      );
    const fromMessage = (): UpdateWithoutId =>
      messageUpdate(
        migrateFromMessage({
          messageId: this.nextMessageId(supergroupId),
          date: this.nowSeconds(),
          chat: this.chats.chatObject(supergroup),
          fromChatId: groupId,
        }),
      );
    const ordered = spec.order === 'from-first' ? [fromMessage, toMessage] : [toMessage, fromMessage];
    const updates = ordered.map((build) => this.injectUpdate(build()));
    if (spec.withMyChatMember ?? true) {
      updates.push(
        this.injectUpdate(
          myChatMemberUpdate({
            chat: this.chats.chatObject(supergroup),
            from: by,
            bot: this.botInfo,
            date: this.nowSeconds(),
            oldStatus: 'left',
            newStatus: supergroup.botStatus,
          }),
        ),
      );
    }
    return { supergroupId, updates };
  }

  /** Renames a chat in the registry and sends the `new_chat_title` service message. */
  injectNewChatTitle(chatId: number, title: string, from: UserSpec): Update {
    const chat = this.requireGroup(chatId);
    chat.title = title;
    return this.injectUpdate(
      messageUpdate(
        newChatTitleMessage({
          messageId: this.nextMessageId(chat.id),
          date: this.nowSeconds(),
          chat: this.chats.chatObject(chat),
          from: toUser(from),
          title,
        }),
      ),
    );
  }

  /**
   * A press of an inline button: a `callback_query` update for a message the bot sent to `chatId`
   * (its current text and keyboard), by `from`. Throws when the message has no button with this data.
   */
  injectCallbackQuery(from: UserSpec, chatId: number, messageId: number, data: string): Update {
    const delivered = this.delivered.get(chatId)?.find((message) => message.message_id === messageId);
    if (delivered === undefined) throw new Error(`FakeTelegram: no message ${messageId} in chat ${chatId}`);
    const markup = (delivered.message as Message & { reply_markup?: { inline_keyboard?: unknown[][] } })
      .reply_markup;
    const buttons = (markup?.inline_keyboard ?? []).flat() as Array<{ callback_data?: string }>;
    if (!buttons.some((button) => button.callback_data === data)) {
      throw new Error(`FakeTelegram: message ${messageId} in chat ${chatId} has no button with data ${data}`);
    }
    const user = toUser(from);
    const id = `${this.botInfo.id}${String(this.nextCallbackQuery++).padStart(8, '0')}`;
    this.callbackQueries.set(id, { id, fromId: user.id });
    return this.injectUpdate({
      callback_query: {
        id,
        from: user,
        message: delivered.message,
        chat_instance: String(-Math.abs(chatId) - 7_000_000_000),
        data,
      },
    } as UpdateWithoutId);
  }

  /** How the bot answered a callback query (undefined until it did). */
  callbackAnswer(queryId: string): CallbackQueryRecord['answer'] {
    return this.callbackQueries.get(queryId)?.answer;
  }

  /** Puts a person into a group (or changes their status there), for getChatMember and the member count. */
  setMember(
    chatId: number,
    user: UserSpec,
    status: 'creator' | 'administrator' | 'member' | 'left' | 'kicked' = 'member',
  ): void {
    const chat = this.requireGroup(chatId);
    chat.members.set(user.id, { user: toUser(user), status });
  }

  /** What getChatMemberCount answers for the group. */
  setMemberCount(chatId: number, count: number): void {
    this.requireGroup(chatId).memberCount = count;
  }

  /** The `allowed_updates` setting the bot last sent (empty = Telegram's default set). */
  get allowedUpdates(): readonly string[] {
    return this.updates.allowed;
  }

  /** Updates not yet confirmed by a getUpdates offset. */
  unconfirmedUpdates(): readonly Update[] {
    return this.updates.unconfirmed();
  }

  /**
   * Resolves once the update was confirmed, i.e. the bot asked for the next offset — with grammY's
   * `bot.start()` that means its handler for the update has finished.
   */
  waitForConfirmation(update: Update | number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    const updateId = typeof update === 'number' ? update : update.update_id;
    return this.waitUntil(
      () => (this.updates.isConfirmed(updateId) ? true : undefined),
      timeoutMs,
      () => `update ${updateId} to be confirmed`,
    ).then(() => undefined);
  }

  /**
   * Resolves once a getUpdates long poll is being held open, i.e. the bot has handled everything
   * and waits for updates.
   */
  waitForHeldPoll(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    return this.waitUntil(
      () => (this.updates.isHoldingPoll ? true : undefined),
      timeoutMs,
      () => 'a held getUpdates long poll',
    ).then(() => undefined);
  }

  // -------------------------------------------------------------------------------------------
  // Faults, files, limits, commands

  /**
   * Applies `fault` to the next `count` calls matching `filter` (`Infinity` = every one). Faults
   * scheduled earlier are used first; delays combine with the next fault (see {@link FaultPlan.take}).
   * Without `filter.method`, getUpdates is not affected.
   */
  failNext(count: number, fault: Fault, filter?: FaultFilter): void {
    this.faultPlan.failNext(count, fault, filter);
  }

  /**
   * Scripted faults ({@link failNext}) not yet taken by a call. A call enters {@link calls} only once
   * answered, so this tells that a held call (a long `delay`) has arrived.
   */
  get scriptedFaultsLeft(): number {
    return this.faultPlan.scriptedLeft;
  }

  /** Fails matching calls at random with probability `probability` (0 turns it off), seeded. */
  failRatio(probability: number, faultList: Fault[], seed: number, filter?: FaultFilter): void {
    this.faultPlan.failRatio(probability, faultList, seed, filter);
  }

  /**
   * An API root for one of several clients of this fake (e.g. two bot instances sharing one token):
   * the same server, with `/via/<source>` before `/bot<token>/…`, so each call's log entry says which
   * client made it ({@link CallLogEntry.source}). A test-only device: the real server has no such path.
   */
  apiRootFor(source: string): string {
    return `${this.apiRoot}/via/${encodeURIComponent(source)}`;
  }

  /** Removes all scripted and random faults. */
  clearFaults(): void {
    this.faultPlan.clear();
  }

  /**
   * The server goes away: open connections are cut and the port stops listening, so new connections
   * are refused (ECONNREFUSED) until {@link acceptConnections}. State (chats, messages) is kept.
   */
  async refuseConnections(): Promise<void> {
    if (!this.server.listening) return;
    this.updates.releaseHeldPoll();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const socket of this.sockets) socket.destroy();
    });
  }

  /** Listens again on the same port after {@link refuseConnections}. */
  async acceptConnections(): Promise<void> {
    if (this.server.listening) return;
    const port = Number(new URL(this.apiRoot).port);
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  /**
   * Sets what members of a group may send (its default permissions, as an admin sets them in the
   * group's settings); a bot that is a plain member then gets `400 Bad Request: not enough rights to
   * send photos to the chat` and the like. Administrators are not bound by them.
   */
  setChatPermissions(chatId: number, permissions: ChatPermissions): void {
    this.requireGroup(chatId).permissions = { ...permissions };
  }

  /**
   * The upload a file_id stands for (the SHA-256 and size of the bytes received), for tests that check
   * what arrived is byte for byte what was sent; undefined for an id never issued.
   */
  uploadedFile(fileId: string): { sha256: string; size: number } | undefined {
    const stored = this.files.stored(fileId);
    return stored && { sha256: stored.sha256, size: stored.size };
  }

  /** Makes a file_id unusable (expired): the bot must upload again. False if never issued. */
  revokeFileId(fileId: string): boolean {
    return this.files.revoke(fileId);
  }

  /** Makes every issued file_id unusable; returns how many. */
  revokeAllFileIds(): number {
    return this.files.revokeAll();
  }

  /** Replaces the flood-limit emulation (`false` = off) and forgets past sends. */
  setRateLimits(options: Partial<RateLimitOptions> | false): void {
    this.rateLimiter = options === false ? undefined : new RateLimiter(options);
  }

  /**
   * The bot's Telegram Stars balance for paid broadcasts (`null`, the default: unlimited). Each message
   * sent with `allow_paid_broadcast` beyond the free 30/s costs 0.1 Star; when the balance cannot pay,
   * the send is refused with `400 Bad Request: BALANCE_TOO_LOW`.
   */
  setStarsBalance(stars: number | null): void {
    this.starsTenths = stars === null ? null : Math.round(stars * 10);
  }

  /** Stars spent on paid broadcasts so far. */
  get starsSpent(): number {
    return this.starsSpentTenths / 10;
  }

  /** The commands published for a scope (default `{type:'default'}`) and language (default ''). */
  commandsFor(scope?: BotCommandScope, languageCode?: string): BotCommand[] | undefined {
    return this.commands.lookup(scope, languageCode);
  }

  /** Every published command list. */
  allCommands(): PublishedCommands[] {
    return this.commands.all();
  }

  // -------------------------------------------------------------------------------------------
  // Inspection

  /** Every answered call, in the order the answers went out (`seq` is the arrival order). */
  get calls(): readonly CallLogEntry[] {
    return this.log;
  }

  /** Calls to one method (case-insensitive). */
  callsTo(method: string): CallLogEntry[] {
    const lower = method.toLowerCase();
    return this.log.filter((entry) => entry.method.toLowerCase() === lower);
  }

  totals(): CallTotals {
    const byMethod: Record<string, number> = {};
    let uploadedBytes = 0;
    for (const entry of this.log) {
      byMethod[entry.method] = (byMethod[entry.method] ?? 0) + 1;
      uploadedBytes += entry.uploadedBytes;
    }
    return { calls: this.log.length, uploadedBytes, byMethod };
  }

  /** What a chat actually received from the bot, in order. */
  messagesIn(chatId: number): DeliveredMessage[] {
    return [...(this.delivered.get(chatId) ?? [])];
  }

  /** Resolves with the first logged call (past or future) that matches `predicate`. */
  waitForCall(
    predicate: (entry: CallLogEntry) => boolean,
    timeoutMs = DEFAULT_WAIT_MS,
  ): Promise<CallLogEntry> {
    return this.waitUntil(
      () => this.log.find(predicate),
      timeoutMs,
      () => 'a matching call',
    );
  }

  /** Resolves once `chatId` has received at least `count` messages; returns all of them. */
  waitForMessages(chatId: number, count: number, timeoutMs = DEFAULT_WAIT_MS): Promise<DeliveredMessage[]> {
    return this.waitUntil(
      () => {
        const messages = this.delivered.get(chatId) ?? [];
        return messages.length >= count ? [...messages] : undefined;
      },
      timeoutMs,
      () => `${count} message(s) in chat ${chatId} (got ${this.delivered.get(chatId)?.length ?? 0})`,
    );
  }

  /** Clears the call log, the received messages and the Stars spent (chats, files, faults, limits and the Stars balance stay). */
  reset(): void {
    this.log = [];
    this.delivered.clear();
    this.starsSpentTenths = 0;
  }

  // -------------------------------------------------------------------------------------------
  // HTTP

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const seq = this.nextSeq++;
    const at = Date.now();
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const maxBody = Math.max(this.limits.maxDocumentBytes, this.limits.maxPhotoBytes) + MULTIPART_SLACK_BYTES;
    let body: Awaited<ReturnType<typeof readBody>>;
    try {
      body = await readBody(request, maxBody);
    } catch {
      return; // the client went away while sending
    }

    // `/via/<source>/bot…`: an API root of {@link apiRootFor}; the rest is routed as usual
    const via = /^\/via\/([^/]+)(\/.*)$/.exec(url.pathname);
    const route = /^\/bot([^/]*)\/(?:test\/)?([^/]*)$/.exec(via ? via[2]! : url.pathname);
    const methodSegment = route?.[2] ?? '';
    const known = METHODS.get(methodSegment.toLowerCase());
    const entry: CallLogEntry = {
      seq,
      at,
      method: known?.name ?? methodSegment,
      params: {},
      files: [],
      uploadedBytes: 0,
      status: 0,
      delivered: false,
    };
    if (via) entry.source = decodeURIComponent(via[1]!);
    const finish = (status: number, errorDescription?: string) => {
      entry.status = status;
      if (errorDescription !== undefined) entry.errorDescription = errorDescription;
      this.log.push(entry);
      this.notify();
    };

    if (body.truncated) {
      entry.uploadedBytes = body.receivedBytes;
      this.answerRaw(response, nginxEntityTooLarge());
      return finish(413, '413 Request Entity Too Large (nginx HTML page)');
    }
    if (route === undefined || route === null) {
      writeJson(response, 404, new BotApiError(404, Descriptions.notFound).toJSON());
      return finish(404, Descriptions.notFound);
    }
    if (route[1] !== this.token) {
      writeJson(response, 401, new BotApiError(401, Descriptions.unauthorized).toJSON());
      return finish(401, Descriptions.unauthorized);
    }

    let apiRequest: ApiRequest;
    try {
      const parsed = parseApiRequest(
        url,
        request.headers['content-type'],
        body.bytes,
        this.limits.maxFilesPerRequest,
      );
      if (parsed === 'too-many-files') {
        entry.uploadedBytes = body.receivedBytes;
        this.answerRaw(response, tooManyFilesAttached());
        return finish(413, 'Request Entity Too Large: too many files attached');
      }
      apiRequest = parsed;
    } catch (error) {
      if (!(error instanceof BotApiError)) throw error;
      writeJson(response, error.errorCode, error.toJSON());
      return finish(error.errorCode, error.description);
    }
    entry.params = apiRequest.params;
    entry.files = [...apiRequest.files.values()].map((file) => ({
      field: file.field,
      filename: file.filename,
      rawFilename: file.rawFilename,
      size: file.size,
      sha256: file.sha256,
    }));
    entry.uploadedBytes = entry.files.reduce((sum, file) => sum + file.size, 0);
    if (typeof apiRequest.params.chat_id === 'number' || typeof apiRequest.params.chat_id === 'string') {
      entry.chatId = apiRequest.params.chat_id;
    }

    if (known === undefined) {
      writeJson(response, 404, new BotApiError(404, Descriptions.methodNotFound).toJSON());
      return finish(404, Descriptions.methodNotFound);
    }

    const outcome = await this.execute(known, apiRequest, entry, request, response);
    return finish(outcome.status, outcome.description);
  }

  /**
   * Runs a parsed call: scheduled faults first, then the method handler; writes the answer (or
   * drops the connection) and returns what the call log records.
   */
  private async execute(
    method: { name: string; handler: MethodHandler },
    apiRequest: ApiRequest,
    entry: CallLogEntry,
    request: IncomingMessage,
    response: ServerResponse,
  ): Promise<{ status: number; description?: string }> {
    const applied = this.faultPlan.take(method.name, apiRequest.params.chat_id);
    for (const fault of applied) {
      if (fault.kind === 'delay') await sleep(fault.ms);
    }
    const terminal = applied.find((fault) => fault.kind !== 'delay');
    if (applied.length > 0) entry.fault = (terminal ?? applied[0]!).kind;
    if (terminal?.kind === 'error') {
      const error = new BotApiError(terminal.errorCode, terminal.description, terminal.parameters);
      this.answerError(response, error);
      return { status: error.errorCode, description: error.description };
    }
    if (terminal?.kind === 'dropConnection') {
      request.socket.destroy();
      return { status: 0, description: 'connection dropped before delivery' };
    }
    if (terminal?.kind === 'gatewayPage') {
      this.answerRaw(response, nginxGatewayPage(terminal.status));
      return { status: terminal.status, description: `${terminal.status} (nginx HTML page)` };
    }
    if (terminal?.kind === 'entityTooLarge') {
      this.answerRaw(response, nginxEntityTooLarge());
      return { status: 413, description: '413 Request Entity Too Large (nginx HTML page)' };
    }

    const call: CallContext = {
      request: apiRequest,
      delivered: false,
      registerCancel: (cancel) => {
        response.on('close', () => {
          if (!response.writableFinished) cancel();
        });
      },
    };
    let result: unknown;
    let failure: BotApiError | RawHttpAnswer | undefined;
    try {
      result = await method.handler(call, this.state);
    } catch (error) {
      if (error instanceof BotApiError || error instanceof RawHttpAnswer) failure = error;
      else throw error;
    }
    if (call.chatId !== undefined) entry.chatId = call.chatId;
    entry.delivered = call.delivered;

    if (terminal?.kind === 'dropAfterDelivery') {
      request.socket.destroy();
      return { status: 0, description: 'connection dropped after the call was executed' };
    }
    if (response.destroyed)
      return { status: 0, description: 'client closed the connection before the answer' };
    if (failure instanceof RawHttpAnswer) {
      this.answerRaw(response, failure);
      return { status: failure.status, description: `${failure.status} (non-JSON answer)` };
    }
    if (failure !== undefined) {
      this.answerError(response, failure);
      return { status: failure.errorCode, description: failure.description };
    }
    writeJson(response, 200, { ok: true, result });
    return { status: 200 };
  }

  private answerError(response: ServerResponse, error: BotApiError): void {
    const retryAfter = error.parameters?.retry_after;
    writeJson(response, error.errorCode, error.toJSON(), retryAfter);
  }

  private answerRaw(response: ServerResponse, answer: RawHttpAnswer): void {
    response.writeHead(answer.status, {
      ...(answer.contentType === undefined ? {} : { 'content-type': answer.contentType }),
      'content-length': Buffer.byteLength(answer.body),
      ...(answer.closeConnection ? { connection: 'close' } : {}),
    });
    response.end(answer.body);
  }

  // -------------------------------------------------------------------------------------------
  // Internals

  private createState(): ServerState {
    return {
      bot: this.botInfo,
      chats: this.chats,
      files: this.files,
      updates: this.updates,
      commands: this.commands,
      limits: this.limits,
      rateLimiter: () => this.rateLimiter,
      stars: {
        pay: (billed) => {
          if (this.starsTenths !== null) {
            if (this.starsTenths < billed) return false;
            this.starsTenths -= billed;
          }
          this.starsSpentTenths += billed;
          return true;
        },
      },
      now: () => Date.now(),
      nextMessageId: (chatId) => this.nextMessageId(chatId),
      nextMediaGroupId: () => `1${String(this.nextMediaGroup++).padStart(17, '0')}`,
      deliver: (chatId: number, message: Message, sent: SentOptions) => {
        const list = this.delivered.get(chatId) ?? [];
        list.push(summarizeMessage(message, sent));
        this.delivered.set(chatId, list);
        this.notify();
      },
      enqueue: (update) => this.updates.push(update),
      findDelivered: (chatId, messageId) =>
        this.delivered.get(chatId)?.find((message) => message.message_id === messageId),
      callbackQueries: this.callbackQueries,
    };
  }

  private nextMessageId(chatId: number): number {
    const next = (this.messageIds.get(chatId) ?? 0) + 1;
    this.messageIds.set(chatId, next);
    return next;
  }

  private nowSeconds(): number {
    return unixSeconds(Date.now());
  }

  private freshGroupId(type: 'group' | 'supergroup' | 'channel'): number {
    const n = this.nextGroupId++;
    return type === 'group' ? -(4_100_000_000 + n) : -(1_003_100_000_000 + n);
  }

  private requireChat(chatId: number): ChatRecord {
    const chat = this.chats.get(chatId);
    if (chat === undefined) throw new Error(`FakeTelegram: chat ${chatId} is not registered`);
    return chat;
  }

  private requireGroup(chatId: number): GroupChatRecord {
    const chat = this.requireChat(chatId);
    if (chat.type === 'private') throw new Error(`FakeTelegram: chat ${chatId} is a private chat`);
    return chat;
  }

  private requirePrivate(userId: number) {
    const chat = this.requireChat(userId);
    if (chat.type !== 'private') throw new Error(`FakeTelegram: chat ${userId} is not a private chat`);
    return chat;
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  private waitUntil<T>(check: () => T | undefined, timeoutMs: number, describe: () => string): Promise<T> {
    const immediate = check();
    if (immediate !== undefined) return Promise.resolve(immediate);
    return new Promise<T>((resolve, reject) => {
      const waiter = () => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(value);
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        const recent = this.log
          .slice(-5)
          .map(
            (entry) =>
              `${entry.method}→${entry.status}${entry.errorDescription ? ` (${entry.errorDescription})` : ''}`,
          )
          .join(', ');
        reject(
          new Error(
            `FakeTelegram: timed out after ${timeoutMs} ms waiting for ${describe()}; last calls: ${recent || 'none'}`,
          ),
        );
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}

/** A message as the update the bot receives: `channel_post` in channels, `message` elsewhere. */
function messageUpdate(message: Message): UpdateWithoutId {
  return (message.chat.type === 'channel' ? { channel_post: message } : { message }) as UpdateWithoutId;
}

function writeJson(response: ServerResponse, status: number, body: unknown, retryAfter?: number): void {
  const payload = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...(retryAfter === undefined ? {} : { 'retry-after': String(retryAfter) }),
  });
  response.end(payload);
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
