/**
 * `user add|list|remove|pause|resume|edit`: the people who receive reports in a private chat.
 */
import type { Command } from 'commander';
import {
  collect,
  config,
  describeState,
  idChange,
  integer,
  localDirectory,
  printTable,
} from './command-options.js';
import { registerDirectoryFileCommands } from './directory-file-commands.js';

export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('people who receive reports in a private chat');
  user
    .command('add')
    .description('add a user; they subscribe by sharing this phone number with the bot')
    .requiredOption('--name <name>', 'display name')
    .requiredOption('--phone <phone>', 'phone number (any common format)')
    .requiredOption('--mailbox <email>', 'mailbox whose reports they receive (repeatable)', collect, [])
    .option('--telegram-id <id>', 'Telegram user id, if already known', integer)
    .action(async (options: { name: string; phone: string; mailbox: string[]; telegramId?: number }) => {
      const added = await (await localDirectory(config())).addUser({
        name: options.name,
        phone: options.phone,
        mailboxes: options.mailbox,
        telegramId: options.telegramId,
      });
      console.log(`user ${added.name} (${added.phone}) added, subscribed to ${added.mailboxes.join(', ')}`);
    });
  user
    .command('list')
    .description('list users')
    .option('--json', 'JSON output')
    .action(async (options: { json?: boolean }) => {
      const rows = (await localDirectory(config())).snapshot().users.map(({ key: _key, ...entry }) => entry);
      if (options.json) console.log(JSON.stringify(rows, null, 2));
      else
        printTable(
          rows.map((row) => ({
            name: row.name,
            phone: row.phone,
            'telegram id': row.telegramId === null ? '(not registered)' : String(row.telegramId),
            mailboxes: row.mailboxes.join(' '),
            state: describeState(row),
          })),
        );
    });
  user
    .command('remove')
    .description('remove a user')
    .argument('<phone-or-telegram-id>')
    .action(async (who: string) => {
      await (await localDirectory(config())).removeUser(who);
      console.log(`user ${who} removed`);
    });
  for (const paused of [true, false]) {
    user
      .command(paused ? 'pause' : 'resume')
      .description(
        paused
          ? 'pause a user: no reports, and nothing they do in Telegram (/start, sharing the phone) resumes it'
          : 'resume a user the admin paused',
      )
      .argument('<phone-or-telegram-id>')
      .action(async (who: string) => {
        const entry = await (await localDirectory(config())).setUserPaused(who, paused);
        console.log(
          `user ${entry.name} (${entry.phone}) ${paused ? 'paused' : 'resumed'}: ${describeState(entry)}`,
        );
      });
  }
  user
    .command('edit')
    .description('change a user in place (what is not given stays)')
    .argument('<phone-or-telegram-id>')
    .option('--name <name>', 'display name')
    .option('--phone <phone>', 'phone number')
    .option(
      '--mailbox <email>',
      'mailbox whose reports they receive, replaces the list (repeatable)',
      collect,
    )
    .option('--telegram-id <id>', 'Telegram user id', integer)
    .option('--unlink', 'forget the Telegram account (they register again with /start)')
    .action(
      async (
        who: string,
        options: { name?: string; phone?: string; mailbox?: string[]; telegramId?: number; unlink?: boolean },
      ) => {
        const entry = await (await localDirectory(config())).editUser(who, {
          name: options.name,
          phone: options.phone,
          mailboxes: options.mailbox,
          telegramId: idChange(options.telegramId, options.unlink, '--unlink'),
        });
        console.log(
          `user ${entry.name} (${entry.phone}) changed, subscribed to ${entry.mailboxes.join(', ')}`,
        );
      },
    );
  registerDirectoryFileCommands(user, 'user');
}
