/**
 * `start`: runs the bot until SIGTERM/SIGINT, then stops it in order.
 */
import type { Command } from 'commander';
import { ConfigError } from '../config.js';
import { createLogger } from '../observability/logger.js';
import { config, load, scrubber } from './command-options.js';

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the bot: mailbox listeners and delivery (stops gracefully on SIGTERM/SIGINT)')
    .action(startCommand);
}

async function startCommand(): Promise<void> {
  const cfg = config();
  if (!cfg.TELEGRAM_BOT_TOKEN) {
    throw new ConfigError(['TELEGRAM_BOT_TOKEN: required by start (the token from @BotFather)']);
  }
  const logger = createLogger({ level: cfg.LOG_LEVEL, scrubber });
  const { App } = await load.app();
  let stopping = false;
  const app = await App.start({
    config: cfg,
    logger,
    scrubber,
    // another bot took DATA_DIR: the app has stopped sending and stopped; say why, as for a failed start
    onFatal: (error) => {
      stopping = true;
      console.error(`error: ${scrubber.scrub(error.message)}`);
      process.exit(1);
    },
  });
  const shutdown = (signal: string) => {
    if (stopping) {
      // a second signal must not kill the bot mid-send: the first one is already being handled
      logger.info({ signal }, 'already stopping');
      return;
    }
    stopping = true;
    logger.info({ signal }, 'stopping');
    app.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: scrubber.describe(error) }, 'error while stopping');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}
