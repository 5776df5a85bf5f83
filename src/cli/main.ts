/**
 * The command line: `superset-telegram-bot <command>`. Reads `.env` from the working directory (real
 * environment variables win), validates the config, and runs one command. Each command group registers
 * itself from its own module; the options and helpers they share live in `command-options.ts`.
 */
import { existsSync } from 'node:fs';
import { Command } from 'commander';
import { ConfigError } from '../config.js';
import { DirectoryInputError } from '../directory/local/local-directory.js';
import { closeStateDatabases, scrubber, UsageError } from './command-options.js';
import { registerGroupCommands } from './group-commands.js';
import { registerMailboxCommands } from './mailbox-commands.js';
import { registerOperatingCommands } from './operating-commands.js';
import { registerSeaTableCommands } from './seatable-commands.js';
import { registerStartCommand } from './start-command.js';
import { registerStateCommands } from './state-commands.js';
import { registerUserCommands } from './user-commands.js';
import { registerWebhookCommands } from './webhook-commands.js';

export function buildProgram(): Command {
  const program = new Command()
    .name('superset-telegram-bot')
    .description('Delivers Apache Superset e-mail reports (PDF/PNG) from IMAP mailboxes to Telegram.')
    .showHelpAfterError();
  // the order of `--help`
  registerStartCommand(program);
  registerOperatingCommands(program);
  registerMailboxCommands(program);
  registerUserCommands(program);
  registerGroupCommands(program);
  registerSeaTableCommands(program);
  registerWebhookCommands(program);
  registerStateCommands(program);
  return program;
}

/** Runs the command in `process.argv`; a failure is printed as one line and sets exit code 1. */
export async function main(): Promise<void> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  try {
    await buildProgram().parseAsync(process.argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
    } else if (error instanceof UsageError || error instanceof DirectoryInputError) {
      console.error(`error: ${scrubber.scrub(error.message)}`);
    } else {
      console.error(`error: ${scrubber.describe(error)}`);
    }
    process.exitCode = 1;
  } finally {
    // a PostgreSQL pool would keep the process alive
    await closeStateDatabases();
  }
}
