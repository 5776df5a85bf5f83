/**
 * The SeaTable directory: `seatable init`, and the schema part of `check`.
 */
import type { Command } from 'commander';
import type { Config } from '../config.js';
import type { CheckResult } from '../health-check.js';
import { config, load, scrubber, UsageError } from './command-options.js';

export function registerSeaTableCommands(program: Command): void {
  program
    .command('seatable')
    .description('the SeaTable directory (DIRECTORY=seatable)')
    .command('init')
    .description(
      'create the missing tables and required columns in the SeaTable base (never changes existing ones)',
    )
    .option('--with-optional', 'also create the optional columns (Media mode, Mark seen, Sender auth)')
    .action(seatableInitCommand);
}

function requireSeaTableSettings(cfg: Config): void {
  if (!cfg.SEATABLE_SERVER_URL || !cfg.SEATABLE_API_TOKEN) {
    throw new UsageError(
      'set SEATABLE_SERVER_URL and SEATABLE_API_TOKEN (a read-write API token of the base)',
    );
  }
}

/** The SeaTable base against the directory schema, as `check` results: one per problem, or one OK. */
export async function seatableCheck(cfg: Config): Promise<CheckResult[]> {
  requireSeaTableSettings(cfg);
  const { checkSeaTableBase, seaTableNames } = await load.seatableSchema();
  const { createSeaTableClient } = await load.directories();
  const names = seaTableNames(cfg);
  const result = await checkSeaTableBase(createSeaTableClient(cfg), names, (error) =>
    scrubber.describe(error),
  );
  if (result.error !== null) {
    return [
      {
        check: 'SeaTable',
        status: 'FAIL',
        detail: result.error,
        hint: 'check SEATABLE_SERVER_URL, SEATABLE_API_TOKEN (Base → ⋯ → Advanced → API Token) and the network',
      },
    ];
  }
  if (result.problems.length === 0) {
    return [
      {
        check: 'SeaTable schema',
        status: 'OK',
        detail: `base "${result.baseName ?? '?'}": tables ${Object.values(names.tables).join(', ')} complete`,
      },
    ];
  }
  return result.problems.map((problem) => ({
    check: 'SeaTable schema',
    status: 'FAIL' as const,
    detail: problem.message,
    hint: problem.fixableByInit
      ? 'run: superset-telegram-bot seatable init'
      : 'change the column in SeaTable, or name another column in SEATABLE_COLUMN_NAMES',
  }));
}

async function seatableInitCommand(options: { withOptional?: boolean }): Promise<void> {
  const cfg = config();
  requireSeaTableSettings(cfg);
  const { describeSchemaProblems, initSchema, seaTableNames } = await load.seatableSchema();
  const { createSeaTableClient } = await load.directories();
  const result = await initSchema(createSeaTableClient(cfg), seaTableNames(cfg), {
    withOptional: options.withOptional === true,
  });
  if (result.created.length === 0)
    console.log('nothing to create: the base has every table and required column');
  for (const line of result.created) console.log(`created ${line}`);
  if (result.optionalLeftOut.length > 0) {
    console.log(
      `optional columns not created (the global settings apply; add them with --with-optional): ${result.optionalLeftOut.join(', ')}`,
    );
  }
  if (result.remaining.length > 0) {
    console.log(`\n${describeSchemaProblems(result.remaining)}`);
    process.exitCode = 1;
  }
}
