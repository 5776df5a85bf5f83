/**
 * Limits how many mailboxes connect and log in at once. With hundreds of mailboxes starting together
 * (or reconnecting after a server restart) an IMAP server answers logins one at a time: unlimited,
 * most attempts run into their greeting timeout and back off, and the start takes minutes instead of
 * seconds. Providers also limit logins per address. A mailbox's timeouts start once it passes the gate.
 */

export class ConnectGate {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  /** `limit`: connection attempts at once (at least 1). */
  constructor(private readonly limit: number) {}

  /**
   * Waits for a free place; returns the function that gives it back. Resolves with null when `signal`
   * aborts first.
   */
  acquire(signal?: AbortSignal): Promise<(() => void) | null> {
    if (signal?.aborted) return Promise.resolve(null);
    if (this.active < Math.max(1, this.limit)) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal?.removeEventListener('abort', onAbort);
        this.active++;
        resolve(this.releaser());
      };
      const onAbort = () => {
        const index = this.waiting.indexOf(grant);
        if (index >= 0) this.waiting.splice(index, 1);
        resolve(null);
      };
      this.waiting.push(grant);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.waiting.shift()?.();
    };
  }
}
