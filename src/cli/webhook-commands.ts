/**
 * `webhook url <mailbox>`: prints the URL to paste into Superset's report (notification method
 * Webhook). The last line is the URL alone (WEBHOOK_PUBLIC_URL + path, or the path starting with `/`),
 * so scripts can take it with `tail -n 1`.
 */
import type { Command } from 'commander';
import type { Config } from '../config.js';
import type { MailboxEntry } from '../directory/directory.js';
import { createLogger } from '../observability/logger.js';
import { webhookUrl } from '../webhook/webhook-token.js';
import { config, load, scrubber, stateDatabase, UsageError } from './command-options.js';

export function registerWebhookCommands(program: Command): void {
  program
    .command('webhook')
    .description("Superset's webhook (WEBHOOK_PORT)")
    .command('url')
    .description("print the mailbox's webhook URL to paste into Superset (the last line is the URL)")
    .argument('<mailbox>', 'the mailbox address')
    .action(webhookUrlCommand);
}

/** Reads the directory (local or SeaTable) and prints the URL last. */
async function webhookUrlCommand(email: string): Promise<void> {
  const cfg = config();
  const logger = createLogger({ level: 'silent', scrubber });
  const db = await stateDatabase(cfg);
  const { createDirectory } = await load.directories();
  const directory = createDirectory({
    config: cfg,
    db,
    logger,
    scrubber,
    localPollMs: 0,
  });
  try {
    await directory.start();
    let lines: string[];
    try {
      lines = webhookUrlLines(cfg, directory.snapshot().mailboxes, email);
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    for (const line of lines) console.log(line);
  } finally {
    await directory.stop();
    await db.close();
  }
}

/** What `webhook url` prints for `email`, line by line; throws a message for the user when it cannot. */
export function webhookUrlLines(config: Config, mailboxes: readonly MailboxEntry[], email: string): string[] {
  const address = email.trim().toLowerCase();
  if (!config.WEBHOOK_SECRET) {
    throw new Error(
      'WEBHOOK_SECRET is not set: set it (at least 32 characters) and WEBHOOK_PORT, then ask again',
    );
  }
  const mailbox = mailboxes.find((entry) => entry.email === address);
  if (!mailbox) throw new Error(`no mailbox ${address} in the directory`);
  const lines = [
    `Superset webhook URL of ${mailbox.email} (a credential: whoever has it can post reports to its subscribers).`,
    "Paste it as the report's Webhook target in Superset (Alerts & Reports → notification method Webhook).",
  ];
  if (config.WEBHOOK_PORT === 0) lines.push('warning: WEBHOOK_PORT is 0: the webhook receiver is off');
  if (!mailbox.active)
    lines.push('warning: the mailbox is paused: its webhook answers 503 until it is resumed');
  if (!config.WEBHOOK_PUBLIC_URL) {
    lines.push(
      'WEBHOOK_PUBLIC_URL is not set: put the address Superset reaches the bot at (https://host[:port]) in front of this path',
    );
  }
  lines.push(webhookUrl(config.WEBHOOK_SECRET, mailbox.email, config.WEBHOOK_PUBLIC_URL));
  return lines;
}
