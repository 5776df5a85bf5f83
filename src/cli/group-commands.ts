/**
 * `group add|list|remove|pause|resume|edit`: the Telegram groups that receive reports.
 */
import type { Command } from 'commander';
import type { MediaMode, TallImageMode } from '../core/message-plan.js';
import {
  collect,
  config,
  describeState,
  idChange,
  integer,
  localDirectory,
  mediaModeOption,
  printTable,
  tallImageModeOption,
} from './command-options.js';
import { registerDirectoryFileCommands } from './directory-file-commands.js';

export function registerGroupCommands(program: Command): void {
  const group = program.command('group').description('Telegram groups that receive reports');
  group
    .command('add')
    .description('add a group; it registers when the bot is made administrator in a group with this title')
    .requiredOption('--title <title>', 'the Telegram group title')
    .requiredOption('--mailbox <email>', 'mailbox whose reports it receives (repeatable)', collect, [])
    .option('--topic <id>', 'forum topic (message_thread_id) for the reports', integer)
    .option('--telegram-id <id>', 'Telegram chat id, if already known (locks the group to it)', integer)
    .addOption(mediaModeOption())
    .addOption(tallImageModeOption())
    .action(
      async (options: {
        title: string;
        mailbox: string[];
        topic?: number;
        telegramId?: number;
        mediaMode?: MediaMode;
        tallImageMode?: TallImageMode;
      }) => {
        const added = await (await localDirectory(config())).addGroup({
          title: options.title,
          mailboxes: options.mailbox,
          topicId: options.topic,
          telegramId: options.telegramId,
          mediaMode: options.mediaMode,
          tallImageMode: options.tallImageMode,
        });
        console.log(`group "${added.title}" added, subscribed to ${added.mailboxes.join(', ')}`);
      },
    );
  group
    .command('list')
    .description('list groups')
    .option('--json', 'JSON output')
    .action(async (options: { json?: boolean }) => {
      const rows = (await localDirectory(config())).snapshot().groups.map(({ key: _key, ...entry }) => entry);
      if (options.json) console.log(JSON.stringify(rows, null, 2));
      else
        printTable(
          rows.map((row) => ({
            title: row.title,
            'telegram id': row.telegramId === null ? '(not registered)' : String(row.telegramId),
            locked: row.locked ? 'yes' : 'no',
            topic: row.topicId === null ? '' : String(row.topicId),
            // blank in the directory: the mailbox's (or TALL_IMAGE_MODE)
            'tall images': row.tallImageMode ?? '(mailbox)',
            mailboxes: row.mailboxes.join(' '),
            state: describeState(row),
          })),
        );
    });
  group
    .command('remove')
    .description('remove a group')
    .argument('<title>')
    .action(async (title: string) => {
      await (await localDirectory(config())).removeGroup(title);
      console.log(`group "${title}" removed`);
    });
  for (const paused of [true, false]) {
    group
      .command(paused ? 'pause' : 'resume')
      .description(
        paused
          ? 'pause a group: no reports, and nothing done in Telegram (promoting the bot again) resumes it'
          : 'resume a group the admin paused',
      )
      .argument('<title>')
      .action(async (title: string) => {
        const entry = await (await localDirectory(config())).setGroupPaused(title, paused);
        console.log(`group "${entry.title}" ${paused ? 'paused' : 'resumed'}: ${describeState(entry)}`);
      });
  }
  group
    .command('edit')
    .description('change a group in place (what is not given stays)')
    .argument('<title>')
    .option('--title <title>', 'new title (a registered group is known by its id, so this changes no chat)')
    .option('--mailbox <email>', 'mailbox whose reports it receives, replaces the list (repeatable)', collect)
    .option('--topic <id>', 'forum topic (message_thread_id) for the reports', integer)
    .option('--no-topic', 'the whole group, no topic')
    .option('--telegram-id <id>', 'Telegram chat id (locks the group to it)', integer)
    .option('--unlock', 'forget the chat id and the lock: the group registers again')
    .addOption(mediaModeOption())
    .option('--default-media-mode', 'go back to the mailbox’s or MEDIA_MODE')
    .addOption(tallImageModeOption())
    .option('--default-tall-image-mode', 'go back to the mailbox’s or TALL_IMAGE_MODE')
    .action(
      async (
        title: string,
        options: {
          title?: string;
          mailbox?: string[];
          topic?: number | false;
          telegramId?: number;
          unlock?: boolean;
          mediaMode?: MediaMode;
          defaultMediaMode?: boolean;
          tallImageMode?: TallImageMode;
          defaultTallImageMode?: boolean;
        },
      ) => {
        const entry = await (await localDirectory(config())).editGroup(title, {
          title: options.title,
          mailboxes: options.mailbox,
          topicId: options.topic === false ? null : options.topic,
          telegramId: idChange(options.telegramId, options.unlock, '--unlock'),
          mediaMode: options.defaultMediaMode ? null : options.mediaMode,
          tallImageMode: options.defaultTallImageMode ? null : options.tallImageMode,
        });
        console.log(`group "${entry.title}" changed, subscribed to ${entry.mailboxes.join(', ')}`);
      },
    );
  registerDirectoryFileCommands(group, 'group');
}
