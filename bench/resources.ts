/**
 * What a benchmark starts (Dovecot, the fake Bot API, bot processes, IMAP clients, temp dirs) is
 * registered here and released in reverse order, when the benchmark ends, when it fails, and when the
 * run is interrupted (Ctrl-C): nothing is left running or lying around.
 */

type Release = () => Promise<unknown> | unknown;

export class Resources {
  /** Every Resources not yet released, for the interrupt handler. */
  private static readonly unreleased = new Set<Resources>();
  private readonly releases: Array<{ what: string; release: Release }> = [];

  constructor() {
    Resources.unreleased.add(this);
  }

  /** Registers how to release `value` and returns it. */
  hold<T>(value: T, what: string, release: (value: T) => Promise<unknown> | unknown): T {
    this.releases.push({ what, release: () => release(value) });
    return value;
  }

  /** Registers a clean-up step that owns no value. */
  defer(what: string, release: Release): void {
    this.releases.push({ what, release });
  }

  /** Releases everything, newest first; a failing step is reported and the others still run. */
  async release(): Promise<void> {
    Resources.unreleased.delete(this);
    while (this.releases.length > 0) {
      const { what, release } = this.releases.pop()!;
      try {
        await release();
      } catch (error) {
        console.error(`bench: could not release ${what}: ${error instanceof Error ? error.message : error}`);
      }
    }
  }

  /** Releases every benchmark's resources (on SIGINT/SIGTERM). */
  static async releaseAll(): Promise<void> {
    for (const resources of [...Resources.unreleased]) await resources.release();
  }
}
