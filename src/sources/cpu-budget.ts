// The daemon's CPU budget (--max-cpu): once a second it compares the CPU the
// whole process used (every thread: readers, JavaScript, the garbage
// collector) with the budget and sets how many conntrack entries the
// ctnetlink filter keeps: 1 in 2^shift, the same entries every time (by the
// kernel's entry id), so a kept entry's story stays whole and a refused one
// costs the daemon nothing. Counters that are cheap stay exact whatever the
// sampling: the filter counts every event, the /proc poller reads the
// kernel's own figures.
//
// The decision is nextShift(): a pure function, tested by table. CPU at
// shift j is predicted from what the last second cost: a fixed part (timers,
// the /proc poller, the API) plus a cost per kept event times the events the
// kernel produced, halved for every step of j.

export interface BudgetObservation {
  /** CPU the process used over the last interval, in cores (0.5 = half of one). */
  cpu: number;
  /** ctnetlink events the kernel produced in the interval (kept + refused). */
  events: number;
  /** Of those, the events the filter kept. */
  kept: number;
  /** Seconds since the shift last changed. */
  sinceChange: number;
  /** Length of the interval, seconds (events and kept are counts over it; default 1). */
  seconds?: number;
}

export interface BudgetState {
  shift: number;
  /** CPU per kept event, cores·s, from intervals with enough kept events to tell. */
  perEvent: number;
  /** CPU that does not scale with events (timers, /proc poller, scans, queries), cores. */
  fixed: number;
}

export const MAX_SHIFT = 16;
/** The fixed part assumed until measured. */
export const FIXED_CPU = 0.03;
/** Raise to let events use this share of the budget; lower only if the next step down keeps them under the second. */
const AIM_UP = 0.8;
const AIM_DOWN = 0.6;
/** Events may always use this share, however large the fixed part: when they need less, sampling cannot help. */
const EVENT_FLOOR = 0.15;
/** Seconds a shift is held before stepping down (one storm second is not the end of the storm). */
const HOLD_DOWN_S = 3;
/** Intervals with fewer kept events than this do not re-estimate the cost per event. */
const MIN_KEPT = 2000;
const PER_EVENT_MIN = 0.2e-6;
const PER_EVENT_MAX = 50e-6;
/** Weight of the newest interval in the running estimates. */
const EWMA = 0.3;

export const INITIAL_BUDGET_STATE: BudgetState = { shift: 0, perEvent: 0, fixed: FIXED_CPU };

/**
 * The shift for the next interval, and the updated estimates. CPU is
 * modelled as fixed + perEvent × kept events: the cost per event is learnt
 * in busy intervals, the fixed part in all the others, so a daemon whose
 * fixed part alone exceeds the budget (a machine with hundreds of
 * namespaces to poll) does not sample events it cannot save anything on.
 */
export function nextShift(budget: number, s: BudgetState, o: BudgetObservation): BudgetState {
  let { perEvent, fixed } = s;
  const secs = o.seconds !== undefined && o.seconds > 0 ? o.seconds : 1;
  if (o.kept >= MIN_KEPT * secs) {
    const sample = Math.min(PER_EVENT_MAX, Math.max(PER_EVENT_MIN, Math.max(0, o.cpu - fixed) / (o.kept / secs)));
    perEvent = perEvent === 0 ? sample : perEvent + EWMA * (sample - perEvent);
  }
  if (perEvent > 0) fixed += Math.min(1, EWMA * secs) * (Math.max(0, o.cpu - (perEvent * o.kept) / secs) - fixed);
  // CPU the events would take at shift j, cores (the interval may be shorter than a second)
  const events = (j: number) => (perEvent * o.events) / secs / 2 ** j;
  let shift = s.shift;
  if (o.cpu > budget && events(shift) >= 0.1 * budget) {
    const room = Math.max(AIM_UP * budget - fixed, EVENT_FLOOR * budget);
    shift = Math.min(MAX_SHIFT, shift + 1);
    while (shift < MAX_SHIFT && events(shift) > room) shift++;
  } else if (shift > 0 && o.sinceChange >= HOLD_DOWN_S && events(shift - 1) <= Math.max(AIM_DOWN * budget - fixed, EVENT_FLOOR * budget)) {
    shift--;
  }
  return { shift, perEvent, fixed };
}

export interface CpuBudgetOptions {
  /** Cores (0.5 = half of one). */
  maxCpu: number;
  /** Events in (kept + refused) and kept so far, cumulative. */
  events(): { total: number; kept: number };
  /** Applies a shift (the filter's configuration). */
  apply(shift: number): void;
  /** Told after a change, with the previous shift. */
  onChange?(shift: number, previous: number): void;
  /** CPU seconds used by the process so far (default process.cpuUsage()). */
  cpuSeconds?(): number;
  /** Monotonic seconds (default performance.now() / 1000). */
  now?(): number;
  /** Interval in ms (default 250: a storm queues at full fidelity until the first decision, in the socket's 128 MiB). */
  intervalMs?: number;
  /** Seconds after start() with no decision (default STARTUP_GRACE_S). */
  graceS?: number;
}

/**
 * Seconds after start in which the budget decides nothing and learns
 * nothing: the daemon's own start-up (programs loaded, the model's code
 * compiled as the first events arrive, on V8's helper threads too) is not
 * what events cost. Counted against the budget it read as 15-20 us per event
 * and sampled half of a 50,000 events/s load that costs 15 % of a core
 * (bench/daemon-visibility.mjs, whose first phase starts right after the
 * daemon follows its namespace).
 */
export const STARTUP_GRACE_S = 5;

/** Runs nextShift() every interval against the process's CPU. */
export class CpuBudget {
  private state: BudgetState = { ...INITIAL_BUDGET_STATE };
  private timer: NodeJS.Timeout | null = null;
  private last: { t: number; cpu: number; total: number; kept: number } | null = null;
  private changedAt = 0;
  private startedAt = 0;
  /** Seconds spent sampling (shift > 0), and changes of shift, since start. */
  sampledSeconds = 0;
  changes = 0;
  /** CPU used over the last interval, in cores. */
  lastCpu = 0;

  constructor(private readonly opts: CpuBudgetOptions) {}

  get shift(): number {
    return this.state.shift;
  }

  get maxCpu(): number {
    return this.opts.maxCpu;
  }

  start(): void {
    this.changedAt = this.startedAt = this.now();
    this.last = this.sample();
    this.timer = setInterval(() => this.tick(), this.opts.intervalMs ?? 250);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** One decision (the timer calls it; tests may too). */
  tick(): void {
    const cur = this.sample();
    const prev = this.last ?? cur;
    this.last = cur;
    const dt = cur.t - prev.t;
    if (dt <= 0) return;
    this.lastCpu = (cur.cpu - prev.cpu) / dt;
    if (cur.t - this.startedAt < (this.opts.graceS ?? STARTUP_GRACE_S)) return;
    if (this.state.shift > 0) this.sampledSeconds += dt;
    const before = this.state.shift;
    this.state = nextShift(this.opts.maxCpu, this.state, {
      cpu: this.lastCpu,
      events: cur.total - prev.total,
      kept: cur.kept - prev.kept,
      sinceChange: cur.t - this.changedAt,
      seconds: dt,
    });
    if (this.state.shift !== before) {
      this.changes++;
      // after a step up, hold HOLD_DOWN_S; after a step down, the next may follow a second later
      this.changedAt = this.state.shift > before ? cur.t : cur.t - (HOLD_DOWN_S - 1);
      this.opts.apply(this.state.shift);
      this.opts.onChange?.(this.state.shift, before);
    }
  }

  private now(): number {
    return this.opts.now ? this.opts.now() : performance.now() / 1000;
  }

  private sample() {
    const c = this.opts.cpuSeconds ? this.opts.cpuSeconds() : cpuNow();
    const e = this.opts.events();
    return { t: this.now(), cpu: c, total: e.total, kept: e.kept };
  }
}

function cpuNow(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}
