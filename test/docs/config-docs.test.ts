/** The README's configuration table and .env.example must say what the schema says. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeSettings } from '../../src/config.js';
import { renderEnvExample, withConfigTable } from '../../src/config-docs.js';

describe('configuration docs', () => {
  it('README.md holds the table generated from the schema (run npm run docs:config)', () => {
    const readme = readFileSync('README.md', 'utf8');
    expect(withConfigTable(readme)).toBe(readme);
    for (const setting of describeSettings()) expect(readme).toContain(`\`${setting.name}\``);
  });

  it('.env.example documents every setting (run npm run docs:config)', () => {
    const example = readFileSync('.env.example', 'utf8');
    expect(example).toBe(renderEnvExample());
    for (const setting of describeSettings())
      expect(example).toMatch(new RegExp(`^#? ?${setting.name}=`, 'm'));
  });
});
