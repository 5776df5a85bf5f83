/**
 * Runs the built bot (`node dist/cli.js start`) as a child process, for tests that kill it (-9) or
 * stop it with a signal. `npm test` builds dist/ first.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLI = path.join(root, 'dist/cli.js');

export class BotProcess {
  readonly lines: string[] = [];
  private buffer = '';
  readonly exited: Promise<number | null>;

  private constructor(readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => this.take(chunk));
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => this.take(chunk));
    this.exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
  }

  /** Starts the bot with `env` (DATA_DIR etc.) and waits until it says it started. */
  static async start(env: Record<string, string>, timeoutMs = 15_000): Promise<BotProcess> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build first (npm test does)`);
    const child = spawn(process.execPath, [CLI, 'start'], {
      env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'info', HTTP_PORT: '0', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const bot = new BotProcess(child);
    try {
      await bot.waitForLine('superset-telegram-bot started', timeoutMs);
    } catch (error) {
      // do not leave a half-started bot running with its pipes open
      if (child.exitCode === null) await bot.crash();
      throw error;
    }
    return bot;
  }

  private take(chunk: string): void {
    this.buffer += chunk;
    const parts = this.buffer.split('\n');
    this.buffer = parts.pop() ?? '';
    this.lines.push(...parts.filter((line) => line.length > 0));
  }

  waitForLine(text: string, timeoutMs = 10_000): Promise<string> {
    return new Promise((resolve, reject) => {
      const deadline = Date.now() + timeoutMs;
      const check = () => {
        const found = this.lines.find((line) => line.includes(text));
        if (found) return resolve(found);
        if (this.child.exitCode !== null || Date.now() > deadline) {
          return reject(
            new Error(
              `bot did not log "${text}" (exit ${this.child.exitCode}); last lines:\n${this.lines.slice(-15).join('\n')}`,
            ),
          );
        }
        setTimeout(check, 20);
      };
      check();
    });
  }

  /** kill -9: no chance to clean up. */
  async crash(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }

  /** A polite stop; resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    this.child.kill(signal);
    return this.exited;
  }
}

/** Runs one CLI command to completion (not `start`), with only PATH and `env` in its environment. */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  options: { cwd?: string; timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      {
        env: { PATH: process.env.PATH ?? '', ...env },
        cwd: options.cwd,
        timeout: options.timeoutMs ?? 60_000,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
  });
}
