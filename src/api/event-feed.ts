// The event stream behind /v1/events and `ctscope watch`: what changed, one
// model second at a time. Every event is a function of the model's state for
// that second (the same per-second figures /v1/series and /v1/series/tables
// give), so a replay paced at --speed 1 streams what the live daemon
// streamed. Types (docs/EVENTS.md has the fields):
//   hello   once per connection: the clock, every table's level, the advice now
//   tick    every second: allocations, destroys, drops, each table's count and level
//   level   a table's level changed (ok / warn / action / critical)
//   drops   a second with drops: the total by kind and the top sources
//   advice  an item appeared, changed level, or was resolved
// A feed is only computed while someone listens (EventHub), and advice, which
// reads the whole flow table, at most every ADVICE_EVERY_S seconds.

import type { AdviceItem as Advice } from '../advice/types.js';
import type { Model } from '../model/model.js';
import { DROP_KINDS } from '../model/model.js';
import { tableSeries } from '../model/table-series.js';
import { compareDanger, tableName } from '../proc/accounts.js';
import { C } from '../model/totals.js';
import { utilizationLevel, type Level } from '../proc/parse.js';
import type { ModelClock } from './context.js';
import { formatSse } from './sse.js';

export const EVENT_TYPES = ['hello', 'tick', 'level', 'drops', 'advice'] as const;
export type EventType = (typeof EVENT_TYPES)[number];
/** Types a client can ask for (hello always comes first). */
export const SUBSCRIBABLE = ['tick', 'level', 'drops', 'advice'] as const;

export interface FeedEvent {
  type: EventType;
  /** Model second the event describes (CLOCK_BOOTTIME of the node). */
  t: number;
  /** The start of that second, UTC. */
  time: string;
  [field: string]: unknown;
}

export interface FeedOptions {
  model: Model;
  clock: () => ModelClock;
  mode: 'live' | 'replay';
  advice: () => Advice[];
}

/** Most seconds one poll catches up on (a replay at full speed moves minutes at once). */
export const MAX_CATCH_UP_S = 60;
/** Advice is re-evaluated at most this often (model seconds): it reads the whole flow table. */
export const ADVICE_EVERY_S = 5;
/** Tables a tick lists, most endangered first. */
const TICK_TABLES = 20;
/** Sources a drops event lists. */
const DROP_SOURCES = 10;
/** Rounds between keep-alive comments on a stream with nothing to say. */
const KEEP_ALIVE_ROUNDS = 15;

interface TableNow {
  netns: number;
  name: string | null;
  count: number;
  max: number;
  utilization: number;
  level: Level;
}

export class EventFeed {
  private last: number | null = null;
  private readonly levels = new Map<number, Level>();
  private advice = new Map<string, Advice>();
  private adviceAt = -Infinity;

  constructor(private readonly o: FeedOptions) {}

  /** The last complete model second (a finished replay's last second is complete). */
  private complete(): number {
    const cur = Math.floor(this.o.model.nowNs / 1e9);
    return this.o.clock().final ? cur : cur - 1;
  }

  private time(sec: number): string {
    const ms = sec * 1000 + this.o.clock().epochOffsetNs / 1e6;
    return Number.isFinite(ms) && Math.abs(ms) < 8.64e15 ? new Date(ms).toISOString() : '';
  }

  /** Start from now: levels and advice as they are, no events for the past. */
  private start(): void {
    const s = this.complete();
    this.last = s;
    for (const t of this.tablesAt(s, s)) {
      const now = t.at[0];
      if (now) this.levels.set(t.netns, now.level);
    }
    this.advice = new Map(this.o.advice().map((a) => [a.id, a]));
    this.adviceAt = s;
  }

  /** Forget everything: the next subscriber starts from its own now. */
  reset(): void {
    this.last = null;
    this.levels.clear();
    this.advice.clear();
    this.adviceAt = -Infinity;
  }

  /** What a new subscriber is told first: the clock, the tables' levels and the advice the feed continues from. */
  hello(): FeedEvent {
    if (this.last === null) this.start();
    const s = this.last!;
    const name = this.namer();
    const tables = [...this.levels].map(([netns, level]) => ({ netns, name: name(netns), level }));
    const c = this.o.clock();
    return {
      type: 'hello',
      t: s,
      time: this.time(s),
      mode: this.o.mode,
      now_s: Math.round(this.o.model.nowNs / 1e6) / 1000,
      epoch_offset_s: Math.round(c.epochOffsetNs / 1e6) / 1000,
      final: c.final,
      tables,
      advice: [...this.advice.values()].map(brief),
    };
  }

  /** Events of every second completed since the last poll (at most MAX_CATCH_UP_S of them). */
  poll(): FeedEvent[] {
    if (this.last === null) this.start();
    const to = this.complete();
    if (to <= this.last!) return [];
    const from = Math.max(this.last! + 1, to - MAX_CATCH_UP_S + 1);
    this.last = to;
    const { model } = this.o;
    const tables = this.tablesAt(from, to);
    const out: FeedEvent[] = [];
    for (let s = from; s <= to; s++) {
      const time = this.time(s);
      const j = s - from;
      const now = tables.map((t) => t.at[j]).filter((x): x is TableNow => x !== null);
      for (const t of now) {
        const was = this.levels.get(t.netns);
        if (was !== t.level && (was !== undefined || t.level !== 'ok')) {
          out.push({ type: 'level', t: s, time, netns: t.netns, name: t.name, from: was ?? null, to: t.level, count: t.count, max: t.max, utilization: t.utilization });
        }
        this.levels.set(t.netns, t.level);
      }
      const kinds = Object.fromEntries(DROP_KINDS.map((k) => [k, model.totals.sum(C[k], s, s)])) as Record<(typeof DROP_KINDS)[number], number>;
      const packetKinds = model.packetDropKinds();
      const drops = packetKinds.reduce((a, k) => a + kinds[k], 0);
      out.push({
        type: 'tick',
        t: s,
        time,
        alloc: model.totals.sum(C.alloc, s, s),
        destroy: model.totals.sum(C.destroy, s, s),
        drops,
        evicted: kinds.evicted,
        tables: now.sort(compareDanger).slice(0, TICK_TABLES),
      });
      if (drops > 0 || kinds.evicted > 0) {
        const top = model.series({ by: 'src', kinds: packetKinds, window: 1, limit: DROP_SOURCES, until: s });
        out.push({ type: 'drops', t: s, time, total: drops, kinds, by: 'src', items: top.items.map((i) => ({ key: i.key, count: i.count })), error_bound: top.error_bound });
      }
      if (s - this.adviceAt >= ADVICE_EVERY_S || (s === to && this.o.clock().final)) {
        const ev = this.adviceChanges(s, time);
        if (ev) out.push(ev);
      }
    }
    return out;
  }

  /** Per table, its figures in each second of [from, to] (null: no /proc sample that second). */
  private tablesAt(from: number, to: number): Array<{ netns: number; at: Array<TableNow | null> }> {
    const { model } = this.o;
    const nameOf = this.namer();
    const out: Array<{ netns: number; at: Array<TableNow | null> }> = [];
    for (const netns of model.namespaces()) {
      const ts = tableSeries(netns, model.tables.history(netns)!, from, to);
      if (!ts) continue;
      const name = nameOf(netns);
      out.push({
        netns,
        at: ts.utilization_series.map((u, j) => {
          const count = ts.count_series[j];
          const max = ts.max_series[j];
          if (u === null || count === null || count === undefined || max === null || max === undefined) return null;
          return { netns, name, count, max, utilization: u, level: utilizationLevel(u) };
        }),
      });
    }
    return out;
  }

  /** A table's name, as its account says it (/v1/table's). */
  private namer(): (netns: number) => string | null {
    return (netns) => tableName(this.o.model.tables, netns);
  }

  private adviceChanges(s: number, time: string): FeedEvent | null {
    this.adviceAt = s;
    const now = new Map(this.o.advice().map((a) => [a.id, a]));
    const added = [...now.values()].filter((a) => !this.advice.has(a.id));
    const changed = [...now.values()].filter((a) => this.advice.has(a.id) && this.advice.get(a.id)!.level !== a.level);
    const resolved = [...this.advice.keys()].filter((id) => !now.has(id));
    this.advice = now;
    if (!added.length && !changed.length && !resolved.length) return null;
    return { type: 'advice', t: s, time, added, changed, resolved, current: [...now.values()].map(brief) };
  }
}

function brief(a: Advice): { id: string; level: Advice['level']; title: string } {
  return { id: a.id, level: a.level, title: a.title };
}

export interface Subscriber {
  types: ReadonlySet<EventType>;
  write(text: string): void;
  /** Bytes written and not yet taken by the client. */
  buffered(): number;
  end(): void;
}

/**
 * One feed shared by every connection: computed once a second while at
 * least one client listens, never otherwise. A client that stops reading
 * (more than MAX_BUFFERED bytes waiting) is disconnected, not buffered for.
 */
export class EventHub {
  private readonly feed: EventFeed;
  private readonly subs = new Set<Subscriber>();
  private timer: NodeJS.Timeout | null = null;
  private rounds = 0;
  /** Clients cut off for not reading. */
  slowClientsDropped = 0;
  static readonly MAX_BUFFERED = 1 << 20;

  constructor(opts: FeedOptions, private readonly intervalMs = 1000) {
    this.feed = new EventFeed(opts);
  }

  get subscribers(): number {
    return this.subs.size;
  }

  /** Add a client: it gets hello now, then the events of its types. Returns its unsubscribe. */
  subscribe(sub: Subscriber): () => void {
    this.subs.add(sub);
    sub.write(`retry: 2000\n${formatSse('hello', JSON.stringify(this.feed.hello()))}`);
    if (!this.timer) {
      this.timer = setInterval(() => this.tick(), this.intervalMs);
      this.timer.unref();
    }
    return () => this.remove(sub);
  }

  private remove(sub: Subscriber): void {
    if (!this.subs.delete(sub)) return;
    if (this.subs.size === 0) {
      if (this.timer) clearInterval(this.timer);
      this.timer = null;
      this.feed.reset();
    }
  }

  /** One round: poll the feed and send each client its types; exported for tests. */
  tick(): void {
    const events = this.feed.poll();
    const keepAlive = ++this.rounds % KEEP_ALIVE_ROUNDS === 0;
    for (const sub of [...this.subs]) {
      let text = '';
      for (const e of events) if (sub.types.has(e.type)) text += formatSse(e.type, JSON.stringify(e));
      // a comment now and then keeps proxies and idle timers from closing a quiet stream
      if (!text && keepAlive) text = ': keep-alive\n\n';
      if (text) sub.write(text);
      if (sub.buffered() > EventHub.MAX_BUFFERED) {
        this.slowClientsDropped++;
        sub.end();
        this.remove(sub);
      }
    }
  }

  /** End every stream (the server is closing). */
  close(): void {
    for (const sub of [...this.subs]) {
      sub.end();
      this.remove(sub);
    }
  }
}
