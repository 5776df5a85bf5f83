/**
 * The dispatcher's queue in the shape its question needs: "which delivery may send next?" answered at
 * a cost that does not depend on how many deliveries wait.
 *
 * Who goes first (issue 13 part 6, "who waits how long"): a report is served chat by chat. A delivery
 * whose chat has already received part of the report ("started") goes before any delivery that has not
 * begun, so a chat gets the rest of its report as soon as its own limits allow, and the chats in
 * order have the whole report one after another (half the chats have it at about half the fan-out
 * time) instead of all of them getting their last message near the end. Between reports, the
 * deliveries not yet begun take turns report by report, one message each, so a small report that
 * arrives during a huge fan-out starts at once with half the rate instead of waiting for the whole of
 * it. Within one report they go in their order (the delivery id: the order the recipients were
 * queued).
 *
 * A queued delivery is in one of four places:
 * - ready: its own chat would take its next message now. Kept in first-in-first-out lines by message
 *   count (1 for a document or a notice, 2–10 for an album), in two tiers: started deliveries (one
 *   line) and not-begun ones (one line per report, the lines taking turns). The fullest album that the
 *   overall window admits is found by looking at the heads of the lines of ten message counts, started
 *   ones first; within a line the one that became ready first goes first, which for deliveries loaded
 *   together is the oldest.
 * - waiting: its chat (or its own backoff) holds it until a known time; a heap ordered by that time
 *   (then by age) hands it back to the ready lines when the time comes. Only waits of the next
 *   {@link NEAR_MS} are in that heap (in a fan-out: the chats served in the last second or so); longer
 *   ones (backoffs, 429 pauses, a full group window) wait in a second heap and move over when their
 *   time is near, so a backlog of retries does not slow down the choice of every other message.
 * - parked: its chat has a request in flight; the caller places it again when that request ends.
 * - taken: handed out by {@link SendSchedule.next}; placed again (or removed) by the caller.
 *
 * A chat's time only moves later behind the schedule's back (a send to that chat, a 429 pause), so a
 * ready or waiting delivery is checked again when it comes up and moved if its chat is no longer free;
 * whatever makes a chat free earlier (a request answered, a pause lifted, a backoff reset) goes through
 * the caller, which places that chat's deliveries again ({@link SendSchedule.entriesOf}). Moving an
 * entry leaves its old list item behind as stale; stale items are skipped when met and compacted away
 * when they outnumber the live ones.
 */

export interface SendScheduleOptions<T> {
  /** The chat an entry goes to (read at each placement: a group may move to a new chat id). */
  chatOf(entry: T): number;
  /** Age order of entries, for ties (the delivery id). */
  orderOf(entry: T): number;
  /**
   * The group an entry belongs to (the report): groups take turns among entries not yet begun. Default:
   * one group for all.
   */
  groupOf?(entry: T): number;
  /**
   * Whether the entry has already sent part of its messages: started entries go before those not yet
   * begun. Default: none is.
   */
  startedOf?(entry: T): boolean;
  /**
   * When the entry's own chat would take a request of `messages` messages: its backoff, the chat and
   * group windows, a 429 pause. Infinity while the chat has a request in flight.
   */
  chatReadyAt(entry: T, messages: number, now: number): number;
  /** When `messages` more messages fit in the overall window (Infinity: after requests in flight end). */
  overallReadyAt(messages: number, now: number): number;
  /**
   * How many messages fit in the overall window now. With it, a started entry yields its turn to an
   * album not yet begun when going first would leave room that no ready album can use (see
   * {@link SendSchedule.next}). Without it, started entries always go first.
   */
  overallFree?(now: number): number;
}

type Place = 'idle' | 'ready' | 'waiting' | 'parked' | 'taken';

interface Slot<T> {
  place: Place;
  /** Bumped at each placement: list items of an older one are stale. */
  generation: number;
  /** The chat the entry is indexed under. */
  chatId: number;
  messages: number;
  /** While ready: the line it waits in, and that line's class. */
  line: ReadyLine<T> | null;
  readyClass: ReadyClass<T> | null;
}

interface ListItem<T> {
  entry: T;
  generation: number;
}

interface TimedItem<T> extends ListItem<T> {
  at: number;
  order: number;
}

/** A first-in-first-out list with O(1) push and shift. */
class Fifo<T> {
  private items: Array<T | undefined> = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.head];
  }

  shift(): T | undefined {
    const item = this.items[this.head];
    this.items[this.head++] = undefined;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Keeps only the items `keep` accepts, in order. */
  filter(keep: (item: T) => boolean): void {
    this.items = this.items.slice(this.head).filter((item): item is T => item !== undefined && keep(item));
    this.head = 0;
  }
}

/** Ready entries of one group (or all started ones), first ready first. */
class ReadyLine<T> {
  readonly items = new Fifo<ListItem<T>>();
  /** Items that are not stale. */
  live = 0;
  /** Whether the line is in its class's turns. */
  inTurns = false;

  constructor(readonly group: number) {}
}

/** The ready lines of one tier and message count, taking turns. */
class ReadyClass<T> {
  readonly lines = new Map<number, ReadyLine<T>>();
  /** Lines with ready entries, the next to serve at the head. */
  readonly turns = new Fifo<ReadyLine<T>>();
  live = 0;
}

/** A binary min-heap of timed items: earliest time, then lowest order. */
class TimerHeap<T> {
  private items: Array<TimedItem<T>> = [];

  constructor(private readonly count: () => void) {}

  get length(): number {
    return this.items.length;
  }

  peek(): TimedItem<T> | undefined {
    return this.items[0];
  }

  push(item: TimedItem<T>): void {
    const items = this.items;
    items.push(item);
    let index = items.length - 1;
    while (index > 0) {
      this.count();
      const parent = (index - 1) >> 1;
      if (!before(items[index]!, items[parent]!)) break;
      [items[index], items[parent]] = [items[parent]!, items[index]!];
      index = parent;
    }
  }

  pop(): TimedItem<T> | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length > 0 && last) {
      items[0] = last;
      let index = 0;
      for (;;) {
        this.count();
        const left = index * 2 + 1;
        const right = left + 1;
        let smallest = index;
        if (left < items.length && before(items[left]!, items[smallest]!)) smallest = left;
        if (right < items.length && before(items[right]!, items[smallest]!)) smallest = right;
        if (smallest === index) break;
        [items[index], items[smallest]] = [items[smallest]!, items[index]!];
        index = smallest;
      }
    }
    return top;
  }

  /** Keeps only the items `keep` accepts (then restores the heap order). */
  filter(keep: (item: TimedItem<T>) => boolean): void {
    // a sorted array is a heap
    this.items = this.items.filter(keep).sort((a, b) => (before(a, b) ? -1 : 1));
  }
}

function before<T>(a: TimedItem<T>, b: TimedItem<T>): boolean {
  return a.at < b.at || (a.at === b.at && a.order < b.order);
}

/** Stale items are compacted away when there are more than this many and more than the live ones. */
const COMPACT_ABOVE = 1024;
/** Waits ending within this many ms of now are in the near heap; later ones in the far heap. */
export const NEAR_MS = 2000;

export class SendSchedule<T> {
  private readonly slots = new Map<T, Slot<T>>();
  private readonly byChat = new Map<number, Set<T>>();
  /** Ready entries: started ones (tier 0), then not yet begun (tier 1); each by message count (1–10). */
  private readonly ready: [Array<ReadyClass<T> | undefined>, Array<ReadyClass<T> | undefined>] = [[], []];
  private readonly waiting: TimerHeap<T>;
  private readonly waitingFar: TimerHeap<T>;
  private waitingCount = 0;
  private work = 0;

  constructor(private readonly options: SendScheduleOptions<T>) {
    this.waiting = new TimerHeap(() => this.work++);
    this.waitingFar = new TimerHeap(() => this.work++);
  }

  /**
   * Steps taken so far (list items looked at, heap levels moved, limiter questions asked): what a
   * test counts to see that the cost of {@link next} does not grow with the queue.
   */
  get operations(): number {
    return this.work;
  }

  /** Entries in the schedule (in any place). */
  get size(): number {
    return this.slots.size;
  }

  has(entry: T): boolean {
    return this.slots.has(entry);
  }

  /** Whether `entry` was handed out by {@link next} and not placed again since. */
  isTaken(entry: T): boolean {
    return this.slots.get(entry)?.place === 'taken';
  }

  /** The entries going to `chatId` (a copy: placing them again is allowed while iterating). */
  entriesOf(chatId: number): T[] {
    const entries = this.byChat.get(chatId);
    return entries ? [...entries] : [];
  }

  /**
   * Adds `entry`, or places it again, with the message count of its next message: ready, waiting or
   * parked according to its chat's time now.
   */
  place(entry: T, messages: number, now: number): void {
    this.work++;
    let slot = this.slots.get(entry);
    const chatId = this.options.chatOf(entry);
    if (!slot) {
      slot = { place: 'idle', generation: 0, chatId, messages, line: null, readyClass: null };
      this.slots.set(entry, slot);
      this.index(entry, chatId);
    } else {
      this.leave(slot);
      if (slot.chatId !== chatId) {
        this.unindex(entry, slot.chatId);
        this.index(entry, chatId);
        slot.chatId = chatId;
      }
    }
    slot.messages = messages;
    this.work++;
    this.put(entry, slot, this.options.chatReadyAt(entry, messages, now), now);
  }

  /** Removes `entry` wherever it is; false when it was not in the schedule. */
  remove(entry: T): boolean {
    const slot = this.slots.get(entry);
    if (!slot) return false;
    this.leave(slot);
    this.unindex(entry, slot.chatId);
    this.slots.delete(entry);
    return true;
  }

  /**
   * The entry whose next message may go now: the most messages the overall window admits (an album
   * before a single, so the window never idles while an album waits for its share), then the one
   * ready first. It becomes taken. Otherwise the time worth looking again (a lower bound; Infinity when
   * only requests in flight or parked entries are left).
   */
  next(now: number): { entry: T } | { waitUntil: number } {
    // long waits about to end move to the near heap
    for (let top = this.waitingFar.peek(); top && top.at <= now + NEAR_MS; top = this.waitingFar.peek()) {
      this.waitingFar.pop();
      this.work++;
      if (this.live(top, 'waiting')) this.waiting.push(top);
    }
    // entries whose time has come join the ready lists (or wait again, if their chat moved on)
    for (let top = this.waiting.peek(); top && top.at <= now; top = this.waiting.peek()) {
      this.waiting.pop();
      this.work++;
      const slot = this.live(top, 'waiting');
      if (!slot) continue;
      this.leave(slot);
      this.work++;
      this.put(top.entry, slot, this.options.chatReadyAt(top.entry, slot.messages, now), now);
    }
    const album = this.albumBeforeStarted(now);
    if (album !== null) {
      const entry = this.takeFromClass(this.ready[1][album]!, album, now);
      if (entry !== null) return { entry };
    }
    let waitUntil = Number.POSITIVE_INFINITY;
    for (const tier of this.ready) {
      for (let messages = tier.length - 1; messages >= 1; messages--) {
        const readyClass = tier[messages];
        if (!readyClass || readyClass.live === 0) continue;
        this.work++;
        const overall = this.options.overallReadyAt(messages, now);
        if (overall > now) {
          waitUntil = Math.min(waitUntil, overall);
          continue;
        }
        const entry = this.takeFromClass(readyClass, messages, now);
        if (entry !== null) return { entry };
      }
    }
    for (const heap of [this.waiting, this.waitingFar]) {
      for (let top = heap.peek(); top; top = heap.peek()) {
        this.work++;
        if (this.live(top, 'waiting')) {
          waitUntil = Math.min(waitUntil, top.at);
          break;
        }
        heap.pop();
      }
    }
    return { waitUntil };
  }

  /**
   * The message count of the not-begun album that should go before the started entries now, or null
   * when they go first as usual. Started entries (a chat's rest of the report) of S messages in all
   * are ready and the overall window has room for F; the not-begun album at the front is of g
   * messages. When S ≥ F the started ones fill the room by themselves. Otherwise they all go and the
   * albums fill what is left in steps of g, leaving (F − S) mod g slots unused until the next message
   * leaves the window: a 3-photo album's three slots taken by a chat's 1-message rest, two left that
   * no album fits. Sending the album first instead uses those slots, and the started entries take the
   * next room that frees (a single slot when a single leaves the window), so nothing is left idle and
   * the started ones wait only until the next slot frees. Bounded: each album first lowers F by g
   * without changing (F − S) mod g, down to F < g, where the started ones go.
   */
  private albumBeforeStarted(now: number): number | null {
    if (!this.options.overallFree) return null;
    const started = this.ready[0];
    let startedMessages = 0;
    for (let messages = 1; messages < started.length; messages++) {
      startedMessages += messages * (started[messages]?.live ?? 0);
    }
    if (startedMessages === 0) return null;
    this.work++;
    const free = this.options.overallFree(now);
    if (startedMessages >= free) return null;
    const notBegun = this.ready[1];
    for (let messages = Math.min(free, notBegun.length - 1); messages >= 2; messages--) {
      if ((notBegun[messages]?.live ?? 0) === 0) continue;
      return (free - startedMessages) % messages === 0 ? null : messages;
    }
    return null;
  }

  /** The next entry of `readyClass` whose chat takes it now, its lines taking turns; null when none. */
  private takeFromClass(readyClass: ReadyClass<T>, messages: number, now: number): T | null {
    for (let line = readyClass.turns.peek(); line; line = readyClass.turns.peek()) {
      this.work++;
      const entry = line.live > 0 ? this.takeFrom(line, messages, now) : null;
      // the line had its turn: to the back while it has more, else out
      readyClass.turns.shift();
      if (line.live > 0) readyClass.turns.push(line);
      else {
        line.inTurns = false;
        if (readyClass.lines.get(line.group) === line) readyClass.lines.delete(line.group);
      }
      if (entry !== null) return entry;
    }
    return null;
  }

  /**
   * The first entry of `line` whose chat still takes it now (taken), or null when none is left. Heads
   * that are stale are dropped; heads whose chat moved on go to wait.
   */
  private takeFrom(line: ReadyLine<T>, messages: number, now: number): T | null {
    for (let head = line.items.peek(); head; head = line.items.peek()) {
      this.work++;
      line.items.shift();
      const slot = this.live(head, 'ready');
      if (!slot) continue;
      const chatAt = this.options.chatReadyAt(head.entry, messages, now);
      this.leave(slot);
      if (chatAt > now) {
        // its chat moved on since it became ready
        this.put(head.entry, slot, chatAt, now);
        continue;
      }
      slot.place = 'taken';
      return head.entry;
    }
    return null;
  }

  private put(entry: T, slot: Slot<T>, chatAt: number, now: number): void {
    slot.generation++;
    if (chatAt <= now) {
      slot.place = 'ready';
      const started = this.options.startedOf?.(entry) ?? false;
      const tier = this.ready[started ? 0 : 1];
      let readyClass = tier[slot.messages];
      if (!readyClass) {
        readyClass = new ReadyClass();
        tier[slot.messages] = readyClass;
      }
      // started entries share one line: they are few (the chats part-way through) and go first anyway
      const group = started ? 0 : (this.options.groupOf?.(entry) ?? 0);
      let line = readyClass.lines.get(group);
      if (!line) {
        line = new ReadyLine(group);
        readyClass.lines.set(group, line);
      }
      line.items.push({ entry, generation: slot.generation });
      line.live++;
      readyClass.live++;
      slot.line = line;
      slot.readyClass = readyClass;
      if (!line.inTurns) {
        line.inTurns = true;
        readyClass.turns.push(line);
      }
      if (line.items.length > COMPACT_ABOVE && line.items.length > 2 * line.live) {
        line.items.filter((item) => this.live(item, 'ready') !== null);
      }
    } else if (Number.isFinite(chatAt)) {
      slot.place = 'waiting';
      const item = { entry, generation: slot.generation, at: chatAt, order: this.options.orderOf(entry) };
      (chatAt <= now + NEAR_MS ? this.waiting : this.waitingFar).push(item);
      this.waitingCount++;
      if (this.waiting.length + this.waitingFar.length > Math.max(COMPACT_ABOVE, 2 * this.waitingCount)) {
        this.waiting.filter((stale) => this.live(stale, 'waiting') !== null);
        this.waitingFar.filter((stale) => this.live(stale, 'waiting') !== null);
      }
    } else {
      slot.place = 'parked';
    }
  }

  /** Takes the entry out of its current place (its list item, if any, becomes stale). */
  private leave(slot: Slot<T>): void {
    if (slot.place === 'ready') {
      slot.line!.live--;
      slot.readyClass!.live--;
      slot.line = null;
      slot.readyClass = null;
    } else if (slot.place === 'waiting') this.waitingCount--;
    slot.place = 'idle';
    slot.generation++;
  }

  /** The slot of a list item that is still current, in `place`; null for a stale item. */
  private live(item: ListItem<T>, place: Place): Slot<T> | null {
    const slot = this.slots.get(item.entry);
    return slot && slot.place === place && slot.generation === item.generation ? slot : null;
  }

  private index(entry: T, chatId: number): void {
    let entries = this.byChat.get(chatId);
    if (!entries) {
      entries = new Set();
      this.byChat.set(chatId, entries);
    }
    entries.add(entry);
  }

  private unindex(entry: T, chatId: number): void {
    const entries = this.byChat.get(chatId);
    if (!entries) return;
    entries.delete(entry);
    if (entries.size === 0) this.byChat.delete(chatId);
  }
}
