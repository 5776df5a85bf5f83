/**
 * The allowed-senders rule of a mailbox: patterns are full addresses (`superset@bi.example.com`) or
 * domains (`@bi.example.com`); no patterns means anyone may send.
 */

/** Normalises a pattern; returns null when it is neither an address nor `@domain`. */
export function normalizeSenderPattern(pattern: string): string | null {
  const value = pattern.trim().toLowerCase();
  if (/^@[a-z0-9.-]+\.[a-z0-9-]+$/.test(value)) return value;
  if (/^[^@\s]+@[a-z0-9.-]+$/.test(value)) return value;
  return null;
}

/** Whether mail from `sender` may be forwarded under these patterns. */
export function isSenderAllowed(sender: string | null, patterns: readonly string[]): boolean {
  if (patterns.length === 0) return true;
  if (!sender) return false;
  const address = sender.toLowerCase();
  const domain = address.slice(address.lastIndexOf('@'));
  return patterns.some((pattern) => (pattern.startsWith('@') ? domain === pattern : address === pattern));
}
