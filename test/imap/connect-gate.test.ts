/** The connect gate: at most N connection attempts at once, in arrival order, abortable while waiting. */
import { describe, expect, it } from 'vitest';
import { ConnectGate } from '../../src/imap/connect-gate.js';

describe('connect gate', () => {
  it('lets `limit` through, then one per release, in order', async () => {
    const gate = new ConnectGate(2);
    const first = await gate.acquire();
    const second = await gate.acquire();
    const order: number[] = [];
    const third = gate.acquire().then((release) => {
      order.push(3);
      return release;
    });
    const fourth = gate.acquire().then((release) => {
      order.push(4);
      return release;
    });
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual([]);
    first!();
    first!(); // releasing twice frees one place only
    expect(await third).toBeTypeOf('function');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(order).toEqual([3]);
    second!();
    await fourth;
    expect(order).toEqual([3, 4]);
  });

  it('gives up waiting when the listener stops', async () => {
    const gate = new ConnectGate(1);
    const held = await gate.acquire();
    const abort = new AbortController();
    const waiting = gate.acquire(abort.signal);
    abort.abort();
    expect(await waiting).toBeNull();
    held!();
    // the place went back to the gate, not to the aborted waiter
    expect(await gate.acquire()).toBeTypeOf('function');
  });
});
