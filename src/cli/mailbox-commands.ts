/**
 * `mailbox add|list|remove|pause|resume|edit`: the technical mailboxes of the embedded directory.
 */
import { type Command, Option } from 'commander';
import type { MediaMode, TallImageMode } from '../core/message-plan.js';
import type { TlsMode } from '../directory/directory.js';
import { SHORT_SECRET_LENGTH } from '../observability/secret-scrubber.js';
import {
  collect,
  config,
  integer,
  localDirectory,
  mediaModeOption,
  printTable,
  scrubber,
  tallImageModeOption,
  UsageError,
} from './command-options.js';

export function registerMailboxCommands(program: Command): void {
  const mailbox = program.command('mailbox').description('technical mailboxes (embedded directory)');
  mailbox
    .command('add')
    .description('add a mailbox to listen to')
    .argument('<email>', 'the mailbox address (also the default login)')
    .requiredOption('--host <host>', 'IMAP server')
    .option('--port <port>', 'IMAP port (default 993 with TLS, 143 otherwise)', integer)
    .option('--tls', 'implicit TLS (the default)')
    .option('--starttls', 'plain connection upgraded with STARTTLS (required)')
    .option('--no-tls', 'no encryption at all (only for a server on the same host)')
    .option('--login <login>', 'IMAP login (default: the address)')
    .option('--password <password>', 'IMAP password, stored in the database')
    .option('--password-env <VAR>', 'read the IMAP password from this environment variable instead')
    .option('--folder <folder>', 'folder to watch', 'INBOX')
    .option('--allow-from <pattern>', 'allowed sender: an address or @domain (repeatable)', collect, [])
    .addOption(mediaModeOption())
    .addOption(tallImageModeOption())
    .option('--mark-seen', 'mark processed mails \\Seen')
    .option(
      '--sender-auth <rule>',
      'how mail proves its From: off, dkim, authentication-results or authentication-results:<authserv-id> (default: SENDER_AUTH)',
    )
    .action((email: string, options) => {
      const cfg = config();
      scrubber.add(options.password);
      const tls: TlsMode = options.starttls ? 'starttls' : options.tls === false ? 'none' : 'tls';
      const added = localDirectory(cfg).addMailbox({
        email,
        host: options.host,
        port: options.port,
        tls,
        login: options.login,
        password: options.password,
        passwordEnv: options.passwordEnv,
        folder: options.folder,
        allowFrom: options.allowFrom,
        mediaMode: options.mediaMode as MediaMode | undefined,
        tallImageMode: options.tallImageMode as TallImageMode | undefined,
        markSeen: options.markSeen,
        senderAuth: options.senderAuth,
      });
      console.log(
        `mailbox ${added.email} added (${added.host}:${added.port}, ${added.tls}, folder ${added.folder})`,
      );
      if (typeof options.password === 'string' && options.password.length < SHORT_SECRET_LENGTH) {
        console.log(
          `warning: the IMAP password is shorter than ${SHORT_SECRET_LENGTH} characters: easy to guess, and too short to be masked reliably if some other program logs it`,
        );
      }
      if (added.allowFrom.length === 0) {
        console.log('warning: no --allow-from: mail from any sender will be forwarded');
      }
    });
  mailbox
    .command('list')
    .description('list mailboxes (passwords are never shown)')
    .option('--json', 'JSON output')
    .action((options: { json?: boolean }) => {
      const rows = localDirectory(config())
        .snapshot()
        .mailboxes.map(({ password: _secret, key: _key, ...mailbox }) => mailbox);
      if (options.json) console.log(JSON.stringify(rows, null, 2));
      else
        printTable(
          rows.map((row) => ({
            email: row.email,
            server: `${row.host}:${row.port}`,
            tls: row.tls,
            login: row.login,
            password: row.passwordSource,
            folder: row.folder,
            'allowed senders': row.allowFrom.join(' ') || '(anyone)',
            state: row.active ? 'active' : 'paused (admin)',
          })),
        );
    });
  mailbox
    .command('remove')
    .description('remove a mailbox (its subscriptions go with it)')
    .argument('<email>')
    .action((email: string) => {
      localDirectory(config()).removeMailbox(email);
      console.log(`mailbox ${email} removed`);
    });
  for (const paused of [true, false]) {
    mailbox
      .command(paused ? 'pause' : 'resume')
      .description(
        paused
          ? 'stop reading a mailbox (mail that arrives meanwhile waits on the server)'
          : 'read a paused mailbox again',
      )
      .argument('<email>')
      .action((email: string) => {
        const entry = localDirectory(config()).setMailboxPaused(email, paused);
        console.log(`mailbox ${entry.email} ${paused ? 'paused' : 'resumed'}`);
      });
  }
  mailbox
    .command('edit')
    .description('change a mailbox in place (what is not given stays)')
    .argument('<email>')
    .option('--host <host>', 'IMAP server')
    .option('--port <port>', 'IMAP port', integer)
    .addOption(new Option('--tls-mode <mode>', 'tls, starttls or none').choices(['tls', 'starttls', 'none']))
    .option('--login <login>', 'IMAP login')
    .option('--password <password>', 'IMAP password, stored in the database')
    .option('--password-env <VAR>', 'read the IMAP password from this environment variable instead')
    .option('--folder <folder>', 'folder to watch')
    .option('--allow-from <pattern>', 'allowed sender, replaces the list (repeatable)', collect)
    .option('--allow-anyone', 'clear the allowed senders: mail from anyone is forwarded')
    .addOption(mediaModeOption())
    .option('--default-media-mode', 'go back to MEDIA_MODE')
    .addOption(tallImageModeOption())
    .option('--default-tall-image-mode', 'go back to TALL_IMAGE_MODE')
    .option('--mark-seen', 'mark processed mails \\Seen')
    .option('--no-mark-seen', 'leave processed mails unseen')
    .action((email: string, options) => {
      scrubber.add(options.password);
      if (options.allowFrom && options.allowAnyone)
        throw new UsageError('give --allow-from or --allow-anyone, not both');
      const entry = localDirectory(config()).editMailbox(email, {
        host: options.host,
        port: options.port,
        tls: options.tlsMode as TlsMode | undefined,
        login: options.login,
        password: options.password,
        passwordEnv: options.passwordEnv,
        folder: options.folder,
        allowFrom: options.allowAnyone ? [] : options.allowFrom,
        mediaMode: options.defaultMediaMode ? null : (options.mediaMode as MediaMode | undefined),
        tallImageMode: options.defaultTallImageMode
          ? null
          : (options.tallImageMode as TallImageMode | undefined),
        markSeen: options.markSeen,
      });
      console.log(
        `mailbox ${entry.email} changed (${entry.host}:${entry.port}, ${entry.tls}, folder ${entry.folder})`,
      );
    });
}
