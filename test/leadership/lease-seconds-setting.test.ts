import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.js';

describe('LEASE_SECONDS', () => {
  it('defaults to 15 and accepts values down to 5', () => {
    expect(loadConfig({}).LEASE_SECONDS).toBe(15);
    expect(loadConfig({ LEASE_SECONDS: '5' }).LEASE_SECONDS).toBe(5);
    expect(loadConfig({ LEASE_SECONDS: '60' }).LEASE_SECONDS).toBe(60);
  });

  it('refuses less than 5 and non-integers, naming the setting', () => {
    for (const value of ['4', '0', '-1', '7.5', 'soon']) {
      expect(() => loadConfig({ LEASE_SECONDS: value })).toThrow(ConfigError);
      expect(() => loadConfig({ LEASE_SECONDS: value })).toThrow(/LEASE_SECONDS/);
    }
  });
});
