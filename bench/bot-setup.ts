/**
 * Sets up what the bot needs before it starts: a DATA_DIR whose embedded directory lists the mailboxes
 * (users of the benchmark's Dovecot, added as the CLI adds them) and the readers subscribed to them
 * (written in bulk), each reader with a private chat on the fake Bot API.
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalDirectory } from '../src/directory/local/local-directory.js';
import { openDatabase } from '../src/store/database.js';
import { SqliteDatabase } from '../src/store/sqlite-database.js';
import type { DovecotServer } from '../test/dovecot/dovecot.js';
import type { FakeTelegram } from '../test/fakes/telegram/fake-telegram.js';
import { BotProcess } from '../test/support/bot-process.js';
import type { Resources } from './resources.js';

const benchDir = path.dirname(fileURLToPath(import.meta.url));

/** What {@link prepareDataDir} sets up. */
export interface BotSetupOptions {
  dovecot: DovecotServer;
  telegram: FakeTelegram;
  /** Dovecot users (`user1`, ...) whose INBOX the bot listens to, one mailbox each. */
  mailboxUsers: readonly string[];
  /** Readers subscribed to every mailbox, each with a private chat on the fake. */
  readers: number;
  /** Chat id of the first reader; the others follow. Default 8000001. */
  firstChatId?: number;
}

export interface PreparedBot {
  dataDir: string;
  /** Mailbox addresses, in the order of `mailboxUsers`. */
  mailboxes: string[];
  /** The readers' chat ids. */
  chats: number[];
  /** Environment for `BotProcess.start` (everything else stays at its default). */
  env: Record<string, string>;
}

/** Creates a DATA_DIR (removed by `resources`) with the mailboxes and readers in its directory. */
export async function prepareDataDir(options: BotSetupOptions, resources: Resources): Promise<PreparedBot> {
  const { dovecot, telegram } = options;
  const dataDir = resources.hold(mkdtempSync(path.join(tmpdir(), 'stb-bench-')), 'DATA_DIR', (dir) =>
    rmSync(dir, { recursive: true, force: true }),
  );
  const db = openDatabase(dataDir);
  try {
    const directory = new LocalDirectory(new SqliteDatabase(db), { phoneRegion: 'RU', pollIntervalMs: 0 });
    const mailboxes: string[] = [];
    for (const user of options.mailboxUsers) {
      const added = await directory.addMailbox({
        email: dovecot.address(user),
        host: dovecot.host,
        port: dovecot.port,
        tls: 'none',
        login: user,
        password: dovecot.password,
      });
      mailboxes.push(added.email);
    }
    const chats: number[] = [];
    const first = options.firstChatId ?? 8_000_001;
    // straight into the embedded directory's tables, in one transaction: `addUser` re-reads the whole
    // directory after each user, which for 10,000 readers would take longer than the benchmark
    const mailboxIds = mailboxes.map(
      (email) => (db.prepare('SELECT id FROM mailboxes WHERE email = ?').get(email) as { id: number }).id,
    );
    const insertUser = db.prepare(
      'INSERT INTO users (name, phone, telegram_id, created_at, updated_at) VALUES (?, ?, ?, ?, ?)',
    );
    const link = db.prepare('INSERT INTO user_mailboxes (user_id, mailbox_id) VALUES (?, ?)');
    db.transaction(() => {
      const now = new Date().toISOString();
      for (let index = 0; index < options.readers; index++) {
        const chatId = first + index;
        telegram.addPrivateChat({ id: chatId, first_name: `Reader ${index + 1}` });
        const phone = `+7999${String(chatId % 10_000_000).padStart(7, '0')}`;
        const user = insertUser.run(`Reader ${index + 1}`, phone, chatId, now, now);
        for (const mailboxId of mailboxIds) link.run(user.lastInsertRowid, mailboxId);
        chats.push(chatId);
      }
    })();
    return {
      dataDir,
      mailboxes,
      chats,
      env: { DATA_DIR: dataDir, TELEGRAM_BOT_TOKEN: telegram.token, TELEGRAM_API_ROOT: telegram.apiRoot },
    };
  } finally {
    db.close();
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Bot API methods that put a message into a chat. */
export const SEND_METHODS = new Set(['sendMessage', 'sendDocument', 'sendPhoto', 'sendMediaGroup']);

/**
 * Starts `node dist/cli.js start` with `env` and registers its stop (SIGTERM, then SIGKILL after 15 s).
 * BotProcess.start leaves the child running when it never logs that it started, so that child is
 * found by its unique DATA_DIR and killed here.
 */
export async function startBotProcess(
  env: Record<string, string>,
  resources: Resources,
  timeoutMs = 30_000,
): Promise<BotProcess> {
  let bot: BotProcess;
  try {
    bot = await BotProcess.start({ ...env, ...profilingEnv(env.NODE_OPTIONS) }, timeoutMs);
  } catch (error) {
    for (const pid of processesWithEnv(`DATA_DIR=${env.DATA_DIR}`)) process.kill(pid, 'SIGKILL');
    throw error;
  }
  return resources.hold(bot, 'bot process', stopBotProcess);
}

/** With BENCH_CPU_PROFILE=<dir>, bot processes write CPU profiles there (see cpu-profile.cjs). */
function profilingEnv(nodeOptions: string | undefined): Record<string, string> {
  const dir = process.env.BENCH_CPU_PROFILE;
  if (!dir) return {};
  mkdirSync(dir, { recursive: true });
  return {
    NODE_OPTIONS: [nodeOptions, `--require ${path.join(benchDir, 'cpu-profile.cjs')}`]
      .filter(Boolean)
      .join(' '),
    BENCH_CPU_PROFILE: path.resolve(dir),
  };
}

/** When profiling, ends the bot's current CPU profile and starts the next (e.g. at a measuring window). */
export function markProfile(bot: BotProcess): void {
  // without the preload SIGUSR2 would terminate the bot
  if (process.env.BENCH_CPU_PROFILE) bot.child.kill('SIGUSR2');
}

/** SIGTERM, and SIGKILL when the bot has not exited 15 s later. */
export async function stopBotProcess(bot: BotProcess): Promise<void> {
  if (bot.child.exitCode !== null || bot.child.signalCode !== null) return;
  const killer = setTimeout(() => bot.child.kill('SIGKILL'), 15_000);
  try {
    await bot.stop('SIGTERM');
  } finally {
    clearTimeout(killer);
  }
}

/** Our child processes whose environment contains `entry` (exactly one NAME=value line). */
function processesWithEnv(entry: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const status = readFileSync(`/proc/${name}/status`, 'utf8');
      if (!new RegExp(`^PPid:\\s+${process.pid}$`, 'm').test(status)) continue;
      if (readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(entry)) pids.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return pids;
}
