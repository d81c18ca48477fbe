// The dashboard: follows the event stream (/v1/events) and refreshes its
// panels from the JSON API once per model second, in the order an on-call
// reads them — headline, tables, allocations, drops, occupancy, lifetimes,
// advice, sources, flows. Live it follows the newest second; in a replay it
// shows the capture's clock; either way the time cursor (slider, or a click
// on a chart) looks at any second the page holds.

import 'uplot/dist/uPlot.min.css';
import '../style.css';
import { ApiFailure, follow, getText } from './api.js';
import { body, byId, fill, h } from './dom.js';
import { flowParams } from './filters.js';
import { stamp } from './format.js';
import { renderAdvice } from './sections/advice.js';
import { renderFlows } from './sections/flows.js';
import { renderHeadline } from './sections/headline.js';
import { renderLifetimes } from './sections/lifetimes.js';
import { renderOccupancy } from './sections/occupancy.js';
import { Rates } from './sections/rates.js';
import { renderSources } from './sections/sources.js';
import { TablesView } from './sections/tables.js';
import { Timeline } from './sections/timeline.js';
import { Seen } from './seen.js';
import { offerSignout, pageAccess, showSignin } from './signin.js';
import { choice, data, unixAt } from './state.js';
import type { Advice, Flow, Flows, KeySeries, Lifetimes, Occupancy, Status, Tables } from './types.js';

const DROP_KINDS = ['drops', 'table_full', 'evicted', 'insert_failed', 'netfilter'];
const DROP_NAMES: Record<string, string> = { drops: 'all packets', table_full: 'table full', evicted: 'early drop', insert_failed: 'insert failed', netfilter: 'netfilter' };
/** Every this many refreshes, also the slower-moving answers (status, advice, lifetimes). */
const SLOW_EVERY = 5;

const enc = encodeURIComponent;
const pickTime = (x: number) => setCursor(x);

const timeline = new Timeline(byId('timeline'), { follow: () => choice.follow, cursor: () => choice.cursor, set: setCursor, mode: () => data.mode });
const tables = new TablesView(body('tables'), pickTime);
const alloc = new Rates(body('alloc'), {
  label: 'allocations per second, stacked by the top keys',
  unit: 'allocations',
  test: 'alloc',
  dims: () => choice.dims,
  by: () => choice.allocBy,
  setBy: (by) => {
    choice.allocBy = by;
    void refresh();
  },
  pick: filterBy,
  onPick: pickTime,
});
const drops = new Rates(body('drops'), {
  label: 'drops per second, stacked by the top keys',
  unit: 'drops',
  test: 'drops',
  kinds: {
    values: DROP_KINDS,
    current: () => choice.dropKind,
    set: (k) => {
      choice.dropKind = k;
      void refresh();
    },
    names: DROP_NAMES,
  },
  dims: () => choice.dims,
  by: () => choice.dropsBy,
  setBy: (by) => {
    choice.dropsBy = by;
    void refresh();
  },
  pick: filterBy,
  onPick: pickTime,
});

function setCursor(x: number | null): void {
  const t = data.tables ?? data.alloc;
  const last = t && t.window > 0 ? unixAt(t, t.window - 1) : null;
  choice.follow = x === null || (last !== null && x >= last);
  choice.cursor = choice.follow ? null : x;
  render(new Set(CURSOR_PARTS));
}

function filterBy(by: string, key: string): void {
  choice.filter = { by, key };
  choice.flowId = null;
  data.flow = null;
  void refreshFlows().then(() => byId('flows').focus({ preventScroll: false }));
}

function flowQuery(): string {
  const p = new URLSearchParams({ limit: '50' });
  if (choice.flowsClosed) p.set('closed', 'true');
  const f = choice.filter ? flowParams(choice.filter.by, choice.filter.key) : null;
  if (f) for (const [k, v] of Object.entries(f)) p.set(k, v);
  return p.toString();
}

async function refreshFlows(): Promise<void> {
  if (!choice.flowId) {
    data.flow = null;
    texts.delete('flow');
  }
  await loadFlows();
  // the filter or the selection changed even when the answers did not
  dirty.add('flows');
  flush();
}

let flowsChecked = false;
/** The flows (and the one opened); the first time, a finished capture whose table ended empty shows its recently closed flows. */
async function loadFlows(): Promise<void> {
  await Promise.all([load<Flows>('flows', `/v1/flows?${flowQuery()}`), choice.flowId ? load<Flow>('flow', `/v1/flows/${choice.flowId}`).catch(() => undefined) : null]);
  if (flowsChecked || !data.flows) return;
  flowsChecked = true;
  if (data.tables?.final && data.flows.total === 0 && !data.flows.closed && !choice.flowsClosed) {
    choice.flowsClosed = true;
    await load<Flows>('flows', `/v1/flows?${flowQuery()}`);
  }
}

function renderFlowsNow(): void {
  renderFlows(body('flows'), data.flows, data.flow, {
    filter: () => choice.filter,
    clearFilter: () => {
      choice.filter = null;
      void refreshFlows();
    },
    closed: () => choice.flowsClosed,
    setClosed: (c) => {
      choice.flowsClosed = c;
      choice.flowId = null;
      void refreshFlows();
    },
    open: (id) => {
      choice.flowId = id;
      void refreshFlows().then(() => (document.querySelector('.lifecycle') as HTMLElement | null)?.focus());
    },
    close: () => {
      choice.flowId = null;
      data.flow = null;
      texts.delete('flow');
      renderFlowsNow();
    },
    epochOffset: () => data.tables?.epoch_offset_s ?? 0,
  });
}

let rounds = 0;
let inFlight: Promise<void> | null = null;
let again = false;
/** A section came into view during a refresh: ask for what was skipped after it. */
let againMissed = false;

// What each answer feeds: a section is drawn again only when one of its
// answers changed (the same text as last time is not even parsed). A refresh
// draws once, when all its answers are in: one pass of style, layout and
// canvas work per refresh rather than one per answer. The headline's answers
// (tables, allocations, drops) come in one request (/v1/series/headline).
// The first refresh asks for those alone and draws
// them before it asks for the rest, so the first figures do not wait behind
// the server's slower answers (advice, occupancy, flows). The sections below
// the headline's (occupancy, lifetimes, advice, flows) are asked for only
// while on screen or near it: each request costs the browser's main thread
// some 3-4 ms of its own work whatever the page does with the answer, and a
// section nobody looks at needs none. One skipped while off screen is asked
// for as it comes into view.
type Part = 'header' | 'headline' | 'timeline' | 'tables' | 'alloc' | 'drops' | 'occupancy' | 'lifetimes' | 'advice' | 'sources' | 'flows';
const FEEDS: Record<string, Part[]> = {
  headline: ['header', 'headline', 'timeline', 'tables', 'alloc', 'drops'],
  occupancy: ['occupancy'],
  flows: ['flows'],
  flow: ['flows'],
  status: ['header', 'sources'],
  advice: ['advice'],
  lifetimes: ['lifetimes'],
};
/** What the time cursor moves. */
const CURSOR_PARTS: Part[] = ['timeline', 'tables', 'alloc', 'drops'];
const texts = new Map<string, string>();
/** The headline's answers (tables, allocations, drops) for the reader's choices. */
const headlinePath = () => `/v1/series/headline?alloc_by=${enc(choice.allocBy)}&drops_by=${enc(choice.dropsBy)}&drops=${enc(choice.dropKind)}&limit=6`;
/** What index.html preloads (the headline's answers with the default choices), as the first refresh asks for them. */
const PRELOADED = new Set(['/v1/series/headline?alloc_by=src&drops_by=src&drops=drops&limit=6']);
const dirty = new Set<Part>();

/** The sections fetched only while in view (their ids are their answers' slots). */
type Gated = 'occupancy' | 'lifetimes' | 'advice' | 'flows';
/** Those a refresh skipped while they were off screen: asked for when they come into view. */
const missed = new Set<Gated>();
const seen = new Seen(['occupancy', 'lifetimes', 'advice', 'flows'], (id) => {
  if (painted && missed.has(id as Gated)) void refresh(false);
});

/** Whether to fetch a gated section now: `now`, this refresh would (or it was skipped before) and it is in view. */
function due(id: Gated, now: boolean): boolean {
  if (!now && !missed.has(id)) return false;
  if (!seen.has(id)) {
    missed.add(id);
    return false;
  }
  missed.delete(id);
  return true;
}

/** Draw the parts whose answers changed since the last draw. */
function flush(): void {
  if (dirty.size === 0) return;
  const todo = new Set(dirty);
  dirty.clear();
  render(todo);
}

/** Fetch one answer into data[slot] (or where store puts it); its parts are marked to draw only if its text changed. */
async function load<T>(slot: keyof typeof FEEDS, path: string, store: (v: T) => void = (v) => ((data as unknown as Record<string, unknown>)[slot] = v)): Promise<void> {
  const text = await getText(path, PRELOADED.has(path) && !texts.has(slot));
  if (texts.get(slot) === text) return;
  texts.set(slot, text);
  store(JSON.parse(text) as T);
  for (const p of FEEDS[slot]!) dirty.add(p);
}

/**
 * Fetch every panel's answer and draw what changed; a call during a refresh
 * runs once after it. all = false: only the sections that came into view
 * since a refresh skipped them.
 */
async function refresh(all = true): Promise<void> {
  if (inFlight) {
    if (all) again = true;
    else againMissed = true;
    return inFlight;
  }
  inFlight = (async () => {
    const slow = all && rounds++ % SLOW_EVERY === 0;
    // the tables, allocations and drops in one request (one request's browser overhead, not three)
    const headline = () => [
      load<{ tables: Tables; alloc: KeySeries; drops: KeySeries }>('headline', headlinePath(), (v) => Object.assign(data, v)),
    ];
    const rest = () => [
      due('occupancy', all) ? load<Occupancy>('occupancy', '/v1/occupancy?by=src&limit=8') : null,
      due('flows', all) ? loadFlows() : null,
      all && (slow || !data.status) ? load<Status>('status', '/v1/status') : null,
      due('advice', slow || !data.advice) ? load<{ advice: Advice[] }>('advice', '/v1/advice', (r) => (data.advice = r.advice)) : null,
      due('lifetimes', slow || !data.lifetimes) ? load<Lifetimes>('lifetimes', '/v1/lifetimes?by=state') : null,
    ];
    try {
      if (!all) {
        await Promise.all(rest());
      } else if (!painted) {
        await Promise.all(headline());
        settle();
        flush();
        await Promise.all(rest());
      } else {
        await Promise.all([...headline(), ...rest()]);
      }
      settle();
    } catch (e) {
      // the session ended (signed out elsewhere, expired, the daemon restarted): the page asks for the token again
      if (e instanceof ApiFailure && e.status === 401 && access === 'session') location.reload();
      data.error = (e as Error).message;
      dirty.add('header');
    }
    flush();
  })();
  try {
    await inFlight;
  } finally {
    inFlight = null;
  }
  if (again) {
    again = againMissed = false;
    await refresh();
  } else if (againMissed) {
    againMissed = false;
    await refresh(false);
  }
}

/** After answers came in: the header's state, the dimensions the API offers. */
function settle(): void {
  if (!data.tables) return;
  if (data.error) dirty.add('header');
  data.error = null;
  data.final = data.tables!.final;
  data.mode ??= data.status?.mode ?? null;
  if (data.alloc?.dimensions.length && data.alloc.dimensions.join() !== choice.dims.join()) {
    choice.dims = data.alloc.dimensions;
    dirty.add('alloc').add('drops');
  }
}

let painted = false;

const PARTS: Record<Part, () => void> = {
  header: () => renderHeader(),
  headline: () => renderHeadline(byId('headline'), data.tables, data.alloc, data.drops, filterBy),
  timeline: () => {
    const t = data.tables;
    timeline.render(t && t.window ? unixAt(t, 0) : null, t && t.window ? unixAt(t, t.window - 1) : null, worstSecond());
  },
  tables: () => tables.render(data.tables),
  alloc: () => alloc.render(data.alloc),
  drops: () => drops.render(data.drops),
  occupancy: () => renderOccupancy(body('occupancy'), data.occupancy, filterBy),
  lifetimes: () => renderLifetimes(body('lifetimes'), data.lifetimes),
  advice: () => renderAdvice(body('advice'), data.advice),
  sources: () => renderSources(body('sources'), data.status),
  flows: () => renderFlowsNow(),
};

/** Draw the given parts (all by default), in page order. */
function render(parts: ReadonlySet<Part> = new Set(Object.keys(PARTS) as Part[])): void {
  if (!painted && data.tables && data.alloc) {
    painted = true;
    // the first paint with figures (the page benchmark reads it)
    requestAnimationFrame(() => performance.mark('ctscope-first-data'));
  }
  for (const p of Object.keys(PARTS) as Part[]) if (parts.has(p)) PARTS[p]();
}

/** The second with the most drops in the window, else the one with the fullest table (Unix s), or null. */
function worstSecond(): number | null {
  const d = data.drops;
  if (d && d.stream === 'drops') {
    let at = -1;
    d.total.forEach((v, i) => {
      if (v > 0 && (at < 0 || v > d.total[at]!)) at = i;
    });
    if (at >= 0) return unixAt(d, at);
  }
  const t = data.tables;
  const first = t?.tables[0];
  if (!t || !first) return null;
  let at = -1;
  first.utilization_series.forEach((v, i) => {
    if (v !== null && (at < 0 || v > first.utilization_series[at]!)) at = i;
  });
  return at >= 0 ? unixAt(t, at) : null;
}

let streamOpen = false;

function renderHeader(): void {
  const t = data.tables;
  const st = data.status;
  const mode = data.mode;
  fill(
    byId('mode'),
    mode === 'replay' ? `replay${st?.replay ? ` of ${st.replay.file.split('/').pop()}` : ''}${data.final ? '' : ' (replaying)'}${st?.replay?.partial ? ' — partial' : ''}` : mode === 'live' ? 'live' : 'connecting…',
  );
  byId('mode').className = `pill ${mode ?? ''}`;
  fill(byId('clock'), t ? `${mode === 'replay' ? 'capture clock ' : ''}${stamp(t.now_s + t.epoch_offset_s)}` : '');
  const conn = byId('conn');
  if (data.error) {
    conn.className = 'conn bad';
    fill(conn, `API: ${data.error}`);
  } else if (!streamOpen && !data.final) {
    conn.className = 'conn warn';
    fill(conn, 'event stream: reconnecting…');
  } else {
    conn.className = 'conn';
    fill(conn, '');
  }
}

const access = pageAccess();

// The event stream paces the refreshes: one per model second (a burst of
// seconds from a fast replay coalesces into one refresh).
let lastTick = 0;
function start(): void {
  // the headline's answers first, then the stream
  fill(byId('headline'), h('p', { class: 'note' }, 'Loading…'));
  void refresh();
  follow(
    '/v1/events?types=tick,advice',
    (type, ev) => {
      const e = ev as { mode?: 'live' | 'replay'; final?: boolean };
      if (type === 'hello') {
        data.mode = e.mode ?? data.mode;
        data.final = e.final === true;
        // the page's first refresh, started at load, is already fetching the present
        if (!inFlight) void refresh();
      } else if (type === 'tick') {
        lastTick = performance.now();
        void refresh();
      } else if (type === 'advice') {
        rounds = 0; // the next refresh fetches the advice
      }
    },
    (open) => {
      streamOpen = open;
      renderHeader();
    },
  );
  // Without ticks (a stream a proxy holds back, a replay still loading), poll.
  setInterval(() => {
    if (!data.final && performance.now() - lastTick > 3000) void refresh();
  }, 2000);
}

// For the browser tests and the page benchmark: one refresh, awaited;
// invalidate() forgets the answers, so the next refresh parses and draws everything (as when every answer changed).
(window as unknown as { ctscope: unknown }).ctscope = { refresh, data, choice, invalidate: () => texts.clear() };

if (access === 'signin') {
  showSignin();
} else {
  if (access === 'session') offerSignout();
  start();
}
