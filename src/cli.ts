#!/usr/bin/env node
/**
 * The executable (`dist/cli.js`, the package's `bin`): runs the command line in `cli/main.ts`.
 */
import { main } from './cli/main.js';

await main();
