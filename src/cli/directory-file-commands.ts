/**
 * `mailbox|user|group import FILE.csv [--apply]` and `mailbox|user|group export [FILE]`: one table of
 * the embedded directory as a CSV file (columns as in the SeaTable schema; docs in the README). An
 * import is a dry run unless `--apply` is given; either way it prints what is (or would be) added,
 * changed and removed, and which queued deliveries the change cancels.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import type { CountryCode } from 'libphonenumber-js';
import type { Config } from '../config.js';
import type { MailboxEntry } from '../directory/directory.js';
import { CSV_LIMITS, CsvFileError, type CsvSeparator, readCsv } from '../directory/local/csv-file.js';
import { DIRECTORY_CSV } from '../directory/local/directory-csv-tables.js';
import {
  applyImport,
  CsvHeaderError,
  exportTable,
  type ImportPlan,
  planImport,
  type RowProblem,
} from '../directory/local/directory-import.js';
import type { LocalDirectory } from '../directory/local/local-directory.js';
import { OutboxStore } from '../store/outbox-store.js';
import { ReportStore } from '../store/report-store.js';
import type { SqlDatabase } from '../store/sql-database.js';
import { CurrentRecipients } from '../telegram/current-recipients.js';
import { config, openLocalDirectory, scrubber, UsageError } from './command-options.js';

type TableKind = keyof typeof DIRECTORY_CSV;

/** Adds `import` and `export` to the `mailbox`, `user` or `group` command. */
export function registerDirectoryFileCommands(parent: Command, kind: TableKind): void {
  const spec = DIRECTORY_CSV[kind];
  parent
    .command('import')
    .description(
      `make the ${plural(kind)} what a CSV file says (${spec.table} columns as in SeaTable): a dry run unless --apply`,
    )
    .argument('<file>', 'a CSV file, UTF-8, separated by ; or ,')
    .option('--apply', 'carry the changes out (in one transaction); without it nothing changes')
    .action((file: string, options: { apply?: boolean }) =>
      importCommand(kind, file, options.apply === true),
    );
  parent
    .command('export')
    .description(
      `write the ${plural(kind)} as CSV (${spec.table} columns as in SeaTable)${kind === 'mailbox' ? '; stored passwords are not written' : ''}`,
    )
    .argument('[file]', 'the file to write (default: standard output)')
    .addOption(
      new Option('--separator <char>', 'the cell separator: ; (Excel in a Russian locale) or ,')
        .choices([';', ','])
        .default(';'),
    )
    .action((file: string | undefined, options: { separator: CsvSeparator }) =>
      exportCommand(kind, file, options.separator),
    );
}

async function exportCommand(
  kind: TableKind,
  file: string | undefined,
  separator: CsvSeparator,
): Promise<void> {
  const spec = DIRECTORY_CSV[kind];
  const { directory, db } = await openLocalDirectory(config());
  try {
    const snapshot = directory.snapshot();
    const text = exportTable(spec as never, snapshot, separator);
    if (file === undefined) process.stdout.write(text);
    // phone numbers and mailbox logins: readable by the owner only
    else writeFileSync(file, text, { mode: 0o600 });
    const count = spec.entries(snapshot).length;
    const notes = [`${count} ${plural(kind)} exported${file === undefined ? '' : ` to ${file}`}`];
    if (kind === 'mailbox') {
      // OAuth2 and webhook-only mailboxes have no password
      const stored = snapshot.mailboxes.filter(
        (mailbox) => mailbox.password !== null && !mailbox.passwordSource.startsWith('env:'),
      ).length;
      if (stored > 0)
        notes.push(
          `${stored} mailbox password(s) are stored in the database and were not written: their Password cells are blank, which an import reads as "keep the stored password"`,
        );
    }
    // on stderr, so that `export > file.csv` holds only the table
    for (const note of notes) console.error(note);
  } finally {
    await db.close();
  }
}

async function importCommand(kind: TableKind, file: string, apply: boolean): Promise<void> {
  const cfg = config();
  const spec = DIRECTORY_CSV[kind];
  // the embedded directory first: with SeaTable there is nothing to import into
  const { directory, db } = await openLocalDirectory(cfg);
  try {
    if (!existsSync(file)) throw new UsageError(`${file}: no such file`);
    const size = statSync(file).size;
    if (size > CSV_LIMITS.maxBytes) {
      throw new UsageError(`${file}: ${size} bytes; at most ${CSV_LIMITS.maxBytes} are read`);
    }
    let table: ReturnType<typeof readCsv>;
    try {
      table = readCsv(readFileSync(file));
    } catch (error) {
      if (error instanceof CsvFileError) throw new UsageError(`${file}: ${error.message}`);
      throw error;
    }
    const snapshot = directory.snapshot();
    let plan: ImportPlan<{ key: string }>;
    try {
      plan = planImport(spec as never, table, snapshot, {
        phoneRegion: cfg.PHONE_REGION as CountryCode,
        knownMailboxes: new Set(snapshot.mailboxes.map((mailbox) => mailbox.email)),
      });
    } catch (error) {
      if (error instanceof CsvHeaderError) throw new UsageError(`${file}: ${error.message}`);
      throw error;
    }
    // passwords written in the file are secrets from here on
    for (const row of [...plan.adds, ...plan.changes.map((change) => ({ fields: change.fields }))]) {
      const password = row.fields.password as { password?: string } | undefined;
      if (password?.password) scrubber.add(password.password);
    }
    console.log(
      `${file}: ${table.records.length} row(s), separator "${table.separator}"${plan.absentColumns.length > 0 ? `; not in the file: ${plan.absentColumns.join(', ')} (kept as they are; new rows get the default)` : ''}`,
    );
    if (kind === 'mailbox' && plan.absentColumns.some((column) => column.startsWith('OAuth2 '))) {
      // an export from before the OAuth2 columns: say plainly that OAuth2 mailboxes stay OAuth2
      const kept = [...plan.changes.map((change) => change.entry), ...unchangedEntries(plan, snapshot)]
        .map((entry) => entry as unknown as MailboxEntry)
        .filter((mailbox) => mailbox.oauth2)
        .map((mailbox) => mailbox.email);
      if (kept.length > 0)
        console.log(
          `the file has no OAuth2 columns: ${kept.join(', ')} keep${kept.length === 1 ? 's' : ''} ${kept.length === 1 ? 'its' : 'their'} OAuth2 settings`,
        );
    }
    if (plan.problems.length > 0) {
      printProblems(plan.problems, `problem(s) in ${new Set(plan.problems.map((p) => p.line)).size} row(s)`);
      console.log(`nothing was changed: correct the rows above and import again`);
      process.exitCode = 1;
      return;
    }
    printPlan(kind, plan, snapshot, apply);
    const cancelledBefore = await refusedDeliveries(directory, db, cfg);
    const outcome = await applyImport(directory, db, plan, {
      commit: apply,
      // inside the import's transaction (it follows the call chain)
      inspect: () => refusedDeliveries(directory, db, cfg),
    });
    if (outcome.problems.length > 0) {
      printProblems(outcome.problems, 'row(s) the directory refused');
      console.log('nothing was changed: correct the rows above and import again');
      process.exitCode = 1;
      return;
    }
    const cancelled = [...(outcome.inspected ?? new Map<number, string>())].filter(
      ([id]) => !cancelledBefore.has(id),
    );
    if (cancelled.length > 0) {
      const reports = new Set(cancelled.map(([, mailbox]) => mailbox));
      console.log(
        `${cancelled.length} queued deliver${cancelled.length === 1 ? 'y' : 'ies'} (of ${[...reports].join(', ')}) ${apply ? 'are' : 'would be'} cancelled, not sent: their chats no longer receive those mailboxes' reports`,
      );
    }
    const total = plan.adds.length + plan.changes.length + plan.removes.length;
    if (total === 0) console.log('nothing to change: the directory already matches the file');
    else if (apply)
      console.log(
        `done: ${plan.adds.length} added, ${plan.changes.length} changed, ${plan.removes.length} removed`,
      );
    else console.log('dry run: nothing was changed; run again with --apply to do it');
  } finally {
    await db.close();
  }
}

/** The entries the file lists that the plan leaves as they are. */
function unchangedEntries(
  plan: ImportPlan<{ key: string }>,
  snapshot: ReturnType<LocalDirectory['snapshot']>,
): Array<{ key: string }> {
  const touched = new Set([
    ...plan.changes.map((change) => change.entry.key),
    ...plan.removes.map((entry) => entry.key),
  ]);
  return plan.spec.entries(snapshot).filter((entry) => !touched.has(entry.key));
}

function plural(kind: TableKind): string {
  return kind === 'mailbox' ? 'mailboxes' : `${kind}s`;
}

function printProblems(problems: RowProblem[], what: string): void {
  console.log(`${problems.length} ${what}:`);
  for (const problem of problems)
    console.log(`  ${problem.line > 0 ? `line ${problem.line}: ` : ''}${scrubber.scrub(problem.message)}`);
}

function printPlan(
  kind: TableKind,
  plan: ImportPlan<{ key: string }>,
  snapshot: ReturnType<LocalDirectory['snapshot']>,
  apply: boolean,
): void {
  const spec = plan.spec;
  const verb = (word: string) => `${apply ? '' : 'would '}${word} ${plural(kind)}`;
  if (plan.adds.length > 0) {
    console.log(`${verb('add')}: ${plan.adds.length}`);
    for (const add of plan.adds) console.log(`  + line ${add.line}: ${spec.label(add.fields as never)}`);
  }
  if (plan.changes.length > 0) {
    console.log(`${verb('change')}: ${plan.changes.length}`);
    for (const change of plan.changes) {
      const what = change.changes
        .map((c) => (c.secret ? `${c.column} changed` : `${c.column} "${c.from}" → "${c.to}"`))
        .join('; ');
      console.log(`  ~ line ${change.line}: ${spec.label(change.entry)}: ${what}`);
    }
  }
  if (plan.removes.length > 0) {
    console.log(`${verb('remove')} (not in the file): ${plan.removes.length}`);
    for (const entry of plan.removes) {
      let consequence = '';
      if (kind === 'mailbox') {
        const email = (entry as unknown as { email: string }).email;
        const users = snapshot.users.filter((user) => user.mailboxes.includes(email)).length;
        const groups = snapshot.groups.filter((group) => group.mailboxes.includes(email)).length;
        if (users + groups > 0)
          consequence = ` — its subscriptions go with it: ${users} user(s), ${groups} group(s)`;
      }
      console.log(`  - ${spec.label(entry)}${consequence}`);
    }
  }
  if (plan.unchanged > 0) console.log(`unchanged: ${plan.unchanged}`);
}

/**
 * The mailbox of each report with a pending delivery, read before the import (the reports store is
 * async; the import's inspection runs inside its transaction). A report recorded while the import
 * runs is not in it: its deliveries are left out of the count of cancelled ones.
 */
/**
 * The queued deliveries the running bot would cancel with the directory as it is now (their chat is
 * no longer an active recipient of the report's mailbox: the rule the dispatcher applies before every
 * send), by delivery id, with the report's mailbox.
 */
async function refusedDeliveries(
  directory: LocalDirectory,
  db: SqlDatabase,
  cfg: Config,
): Promise<Map<number, string>> {
  const outbox = new OutboxStore(db);
  const reports = new ReportStore(db);
  const recipients = new CurrentRecipients(directory, cfg.MEDIA_MODE);
  const mailboxOf = new Map<number, string | null>();
  const refused = new Map<number, string>();
  try {
    for (const delivery of await outbox.pending()) {
      let mailbox = mailboxOf.get(delivery.reportId);
      if (mailbox === undefined) {
        mailbox = (await reports.report(delivery.reportId))?.mailbox ?? null;
        mailboxOf.set(delivery.reportId, mailbox);
      }
      if (mailbox && recipients.refusal(delivery, mailbox) !== null) refused.set(delivery.id, mailbox);
    }
  } finally {
    recipients.stop();
  }
  return refused;
}
