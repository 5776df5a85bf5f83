/** What the bot observed about chats (gone_chats), on both engines. */
import { expect, it } from 'vitest';
import { GoneChats } from '../../src/store/gone-chats.js';
import { forEachEngine } from './engines.js';

forEachEngine('gone chats', (engine) => {
  it('records once, keeps the first time, changes only the reason, and says whether anything changed', async () => {
    const gone = new GoneChats(engine.current());
    expect(await gone.record(501, 'blocked')).toBe(true);
    const first = await gone.get(501);
    expect(first?.reason).toBe('blocked');
    expect(await gone.record(501, 'blocked')).toBe(false);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await gone.record(501, 'refused')).toBe(true);
    expect(await gone.get(501)).toEqual({ reason: 'refused', since: first!.since });
    // a supergroup's id is beyond 2^31: kept exactly
    expect(await gone.record(-1_001_234_567_890, 'removed')).toBe(true);
    expect(await gone.all()).toEqual(
      new Map([
        [501, { reason: 'refused', since: first!.since }],
        [-1_001_234_567_890, expect.objectContaining({ reason: 'removed' })],
      ]),
    );
    expect(await gone.clear(501)).toBe(true);
    expect(await gone.clear(501)).toBe(false);
    expect(await gone.get(501)).toBeUndefined();
  });

  it('moves with a group to its supergroup id, replacing what was seen of that id', async () => {
    const gone = new GoneChats(engine.current());
    expect(await gone.move(-5, -1005)).toBe(false);
    await gone.record(-5, 'removed');
    await gone.record(-1005, 'refused');
    expect(await gone.move(-5, -1005)).toBe(true);
    expect(await gone.get(-5)).toBeUndefined();
    expect((await gone.get(-1005))?.reason).toBe('removed');
    expect([...(await gone.all()).keys()]).toEqual([-1005]);
  });
});
