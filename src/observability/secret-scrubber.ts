/**
 * Keeps secrets out of every line the bot writes. Secrets reach text in ways no redaction path can
 * foresee (a fetch error quoting a URL with the bot token, an IMAP library echoing a login), so the
 * scrubber works on the final text: every registered secret value is replaced wherever it occurs.
 */

const MASK = '[REDACTED]';

/**
 * Shortest value treated as a secret; shorter ones would mask ordinary words. A shorter secret is kept
 * out of logs by construction instead: credential fields are never logged or put into error texts.
 */
const MIN_SECRET_LENGTH = 4;

/** Secrets shorter than this draw a warning from `check` and `mailbox add`. */
export const SHORT_SECRET_LENGTH = 8;

export class SecretScrubber {
  private readonly secrets = new Set<string>();
  private pattern: RegExp | null = null;

  /** Registers secret values (bot token, passwords, API tokens). Empty and very short values are ignored. */
  add(...values: Array<string | null | undefined>): void {
    let changed = false;
    for (const value of values) {
      if (!value || value.length < MIN_SECRET_LENGTH || this.secrets.has(value)) continue;
      this.secrets.add(value);
      // the URL-encoded form shows up in request URLs and bodies
      const encoded = encodeURIComponent(value);
      if (encoded !== value) this.secrets.add(encoded);
      changed = true;
    }
    if (changed) this.rebuild();
  }

  /** Returns `text` with every known secret replaced by a mask. */
  scrub(text: string): string {
    if (!this.pattern) return text;
    return text.replace(this.pattern, MASK);
  }

  /** A one-line description of an error, scrubbed. */
  describe(error: unknown): string {
    const message = error instanceof Error ? error.message : String(error);
    return this.scrub(message.replace(/\s+/g, ' ').trim());
  }

  private rebuild(): void {
    // longest first, so a secret containing another is masked whole
    const alternatives = [...this.secrets]
      .sort((a, b) => b.length - a.length)
      .map((value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
    this.pattern = new RegExp(alternatives.join('|'), 'g');
  }
}
