/**
 * Runs the bot in-process for a test: a temp DATA_DIR, a real SQLite file, captured JSON logs, short
 * IMAP timings. Also a poll-until helper, so tests wait for outcomes instead of sleeping.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { App, type AppDependencies } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config.js';
import { createLogger, type Logger } from '../../src/observability/logger.js';
import { SecretScrubber } from '../../src/observability/secret-scrubber.js';

export class CapturedLogs {
  readonly lines: Array<Record<string, unknown> & { msg?: string; level?: string }> = [];
  readonly raw: string[] = [];

  write(line: string): void {
    this.raw.push(line);
    this.lines.push(JSON.parse(line));
  }

  /** Lines whose message contains `text`. */
  matching(text: string): Array<Record<string, unknown>> {
    return this.lines.filter((line) => String(line.msg ?? '').includes(text));
  }

  text(): string {
    return this.raw.join('');
  }
}

export function tempDataDir(): string {
  return mkdtempSync(path.join(tmpdir(), 'stb-data-'));
}

export function testConfig(dataDir: string, overrides: Record<string, string> = {}): Config {
  // HTTP_PORT 0: test files run in parallel, so the ops endpoints are off unless a test asks for a port
  return loadConfig({ DATA_DIR: dataDir, LOG_LEVEL: 'debug', HTTP_PORT: '0', ...overrides });
}

export interface RunningBot {
  app: App;
  logs: CapturedLogs;
  logger: Logger;
  config: Config;
  dataDir: string;
  stop(): Promise<void>;
}

/** Starts the bot on `dataDir` (a new temp dir by default) with fast timings. */
export async function startBot(
  options: { dataDir?: string; env?: Record<string, string>; deps?: Partial<AppDependencies> } = {},
): Promise<RunningBot> {
  const dataDir = options.dataDir ?? tempDataDir();
  const config = testConfig(dataDir, options.env);
  const logs = new CapturedLogs();
  const scrubber = new SecretScrubber();
  const logger = createLogger({ level: 'debug', scrubber, destination: logs });
  const app = await App.start({
    config,
    logger,
    scrubber,
    directoryPollMs: 200,
    timings: { reconnectBaseMs: 200, reconnectMaxMs: 1000, catchUpMs: 60_000, connectTimeoutMs: 5000 },
    ...options.deps,
  });
  return { app, logs, logger, config, dataDir, stop: () => app.stop() };
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

type Truthy<T> = Exclude<T, false | null | undefined | 0 | ''>;

/** Polls `check` until it returns a truthy value or the time runs out. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<Truthy<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value as Truthy<T>;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** A TCP port nobody listens on right now. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}
