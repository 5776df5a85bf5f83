/** `superset-telegram-bot parse FILE.eml`: the JSON contract, and one-line errors for unreadable input. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { supersetDataFixtures } from '../fixtures/superset-data-mail.js';
import { supersetFixtures } from '../fixtures/superset-mail.js';
import { runCli } from '../support/bot-process.js';

const dir = mkdtempSync(path.join(tmpdir(), 'stb-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function parse(file: string) {
  return runCli(['parse', file], {}, { cwd: dir });
}

describe('parse command', () => {
  it('prints the report as JSON with exactly the documented fields', async () => {
    const fixture = supersetFixtures().find(
      (entry) => entry.expected.files.length >= 2 && entry.expected.files[0]!.contentType === 'image/png',
    )!;
    const file = path.join(dir, 'report.eml');
    writeFileSync(file, fixture.raw);
    const result = await parse(file);
    expect(result.code).toBe(0);
    const output = JSON.parse(result.stdout);
    expect(Object.keys(output)).toEqual(['subject', 'from', 'date', 'link', 'files', 'skipped', 'textTable']);
    expect(output.textTable).toBeNull();
    expect(output.files).toEqual(
      fixture.expected.files.map(({ filename, contentType, size, sha256 }) => ({
        filename,
        contentType,
        size,
        sha256,
      })),
    );
    for (const skipped of output.skipped)
      expect(Object.keys(skipped)).toEqual(['filename', 'contentType', 'reason']);
    if (fixture.expected.subject !== undefined) expect(output.subject).toBe(fixture.expected.subject);
  });

  it("shows CSV, XLSX and ZIP files and a TEXT report's table with FORWARD_FILE_TYPES", async () => {
    const pick = (start: string) => supersetDataFixtures().find((entry) => entry.name.startsWith(start))!;
    const env = { FORWARD_FILE_TYPES: 'pdf,png,csv,xlsx,zip,text' };
    for (const fixture of [
      pick('CSV chart report'),
      pick('master XLSX'),
      pick('Superset 6.0/6.1 CSV bundle'),
    ]) {
      const file = path.join(dir, 'data.eml');
      writeFileSync(file, fixture.raw);
      const output = JSON.parse((await runCli(['parse', file], env, { cwd: dir })).stdout);
      expect(output.files.map((entry: { filename: string; contentType: string }) => entry)).toEqual(
        fixture.expected.files.map(({ filename, contentType, size, sha256 }) => ({
          filename,
          contentType,
          size,
          sha256,
        })),
      );
    }
    const text = pick('TEXT report that fits');
    const file = path.join(dir, 'text.eml');
    writeFileSync(file, text.raw);
    const output = JSON.parse((await runCli(['parse', file], env, { cwd: dir })).stdout);
    expect(output.files).toEqual([]);
    expect(output.textTable).toMatchObject({
      delivery: 'message',
      monospace: text.expected.textTable!.monospace,
    });
    // the default: the table is recognised and said to be not forwarded
    const byDefault = JSON.parse((await parse(file)).stdout);
    expect(byDefault.textTable).toMatchObject({ delivery: 'not-forwarded' });
    expect(byDefault.skipped[0].reason).toContain('FORWARD_FILE_TYPES has no text');
  });

  it('fails with one line for input that is not a mail, an empty file and a missing file', async () => {
    const garbage = path.join(dir, 'garbage.eml');
    writeFileSync(
      garbage,
      Buffer.from([0, 1, 2, 3, 255, 254, 0, 7, 8, 9]).toString('binary').repeat(50),
      'binary',
    );
    const empty = path.join(dir, 'empty.eml');
    writeFileSync(empty, '');
    for (const file of [garbage, empty, path.join(dir, 'missing.eml'), dir]) {
      const result = await parse(file);
      expect(result.code).not.toBe(0);
      expect(result.stdout).toBe('');
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/^error: /);
    }
  });
});
