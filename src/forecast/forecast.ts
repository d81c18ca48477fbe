// When will a conntrack table be full? A pure function of what ctscope knows
// about one table: the kernel's count over time, the net allocation rate the
// records show (allocations − destroys, over short windows and a long one),
// and the timeouts in force. Several estimates are made, each judged on its
// own evidence; the answer is the most pessimistic sound one, named in
// `basis`. No sound estimate: "no trend", never a number.
//
// Why these estimates, and what makes each sound:
// - records_Ns (N = 2, 5, 10): allocations in the last N seconds minus the
//   rate at which entries go (destroys over the long window once it spans a
//   garbage-collector cycle, else over the same N seconds). A flood shows here
//   within a second or two, long before a line through the count does. Sound
//   when the rate is significant (z ≥ 4, Poisson), the time to full is within
//   6 windows, and either the removal rate was measured over whole gc cycles,
//   or allocations jumped (against the evidence before the window, or in a
//   namespace born into the burst) and the table fills before a new entry can
//   time out (the shortest timeout an unanswered flow gets). Between two
//   passes of the kernel's garbage collector (up to 60 s apart) nothing is
//   removed, so a steady churn looks like growth until the next pass: only a
//   jump in allocations tells a flood from it.
// - count_short: the slope of the kernel's count over the last ~5 readings;
//   sound when significant, within 6 windows, and either the count broke out
//   above everything it reached in the minute before, or a sound record rate
//   agrees (else it is the rising edge of the gc sawtooth).
// - count_long: the slope since the evidence began (≤ 300 s, ≥ 60 s), with
//   the sawtooth's autocorrelation accounted for (fit.ts); sound when
//   significant, kept up by the recent half of the evidence (a table warming
//   up to a steady churn rises, then levels off) and within 10 spans. The
//   slow leak's estimate.
// - records_long: the same from the records; sound only when count_long
//   agrees (destroys come in gc bursts, so over a few cycles their count is
//   quantised and their Poisson error understated).
// The evidence restarts at a discontinuity (a flush, a change of max, a new
// namespace on a recycled inode): the caller passes only what came after it.

import { fitLine } from './fit.js';

/** Short record windows, seconds. */
export const SHORT_WINDOWS = [2, 5, 10] as const;
/** Longest evidence the slow estimates use, seconds. */
export const LONG_WINDOW_S = 300;
/**
 * Evidence needed before the slow estimates (and a measured removal rate)
 * count: the kernel's collector passes at least every 60 s
 * (GC_SCAN_INTERVAL_MAX), so a table whose entries expire shows a fall within
 * that; 75 s leaves room for the pass's own scan and our one-second readings.
 */
export const MIN_LONG_S = 75;
/** Readings the short count slope is fitted on. */
export const SHORT_COUNT_POINTS = 5;
const Z_SOUND = 4;
const SHORT_HORIZON = 6;
const LONG_HORIZON = 10;
/** Below this confidence the answer is "no trend". */
export const CONFIDENCE_FLOOR = 0.2;
/** A breakout: the count this far (share of max) above its earlier peak. */
const BREAKOUT = 0.02;
/** A fall of the count by more than this share of max between two readings is a gc pass (or a flush). */
const FALL_SHARE = 0.01;
/** Shortest timeout an unanswered new flow gets when the sysctls are unknown (udp_timeout's default). */
const DEFAULT_NEW_TIMEOUT_S = 30;

/** What the forecast needs from the records (the model): counts per namespace over windows ending now. */
export interface RecordRates {
  /** Allocations and destroys per namespace over the last `seconds`; `seconds` as covered. */
  counts(seconds: number): { seconds: number; alloc: ReadonlyMap<number, number>; destroy: ReadonlyMap<number, number> };
  /** Records known lost over the last `seconds` (any namespace). */
  lost(seconds: number): number;
}

export interface RecordWindow {
  /** The window asked for (2, 5, 10 s; the long one: up to 300). */
  window: number;
  /** Seconds the counts cover (the current second counted by its elapsed part; less after a reset). */
  seconds: number;
  /** Entries of this namespace allocated in the window. */
  alloc: number;
  /** Entries of this namespace destroyed in the window. */
  destroy: number;
}

export interface ForecastInput {
  netns: number;
  /** Clock (CLOCK_BOOTTIME seconds) the answer is for. */
  now_s: number;
  /** Latest kernel reading. */
  count: number;
  max: number;
  at_s: number;
  /** Kernel readings since the evidence began, oldest first. */
  samples: ReadonlyArray<{ t: number; count: number }>;
  /** When the evidence began (first reading, or the last discontinuity). */
  since_s: number;
  reset: { at_s: number; why: string } | null;
  /** The kernel's drop counter rose between the last two readings. */
  dropping: boolean;
  /**
   * Record counts of this namespace: short windows ending now, and `long`,
   * the whole evidence (at most LONG_WINDOW_S); null when no record source
   * covers the namespace.
   */
  records: { windows: RecordWindow[]; long: RecordWindow | null } | null;
  /** The namespace appeared while ctscope was watching (so before its first reading it allocated nothing). */
  new_namespace?: boolean;
  /** Why records are not used (lost records, namespace not followed), when records is null. */
  records_why?: string;
  /** Timeout sysctls in force, seconds, keyed without the nf_conntrack_ prefix. */
  timeouts: Readonly<Record<string, number>>;
}

export interface Estimate {
  basis: string;
  window_s: number;
  rate_per_s: number | null;
  time_to_full_s: number | null;
  /** Significance of the rate (its ratio to its standard error). */
  z: number | null;
  sound: boolean;
  /** Why it is sound or not, in words. */
  why: string;
}

export type ForecastLevel = 'none' | 'low' | 'medium' | 'high';

export interface Forecast {
  netns: number;
  count: number;
  max: number;
  utilization: number;
  /** Seconds until the table is full (0: full now); null: no trend. */
  time_to_full_s: number | null;
  /** The estimate chosen, in words, or why there is none. */
  basis: string;
  /** Its name (records_2s, count_long, …; 'full'); null: no trend. */
  chosen: string | null;
  /** 0..1 */
  confidence: number;
  level: ForecastLevel;
  /** Slope of the kernel's count (long fit when there is one, else the short one), entries/s. */
  trend_per_s: number | null;
  /** Allocations − destroys per second over the last 10 s from records. */
  net_alloc_rate_per_s: number | null;
  /** Seconds of evidence. */
  horizon_s: number;
  /** Kernel readings in the evidence. */
  samples: number;
  r2: number | null;
  /** When the evidence began (CLOCK_BOOTTIME s). */
  since_s: number;
  reset: { at_s: number; why: string } | null;
  estimates: Estimate[];
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** The shortest timeout a new, unanswered flow gets: new entries cannot expire sooner. */
export function newEntryTimeout(timeouts: Readonly<Record<string, number>>): number {
  const t = ['udp_timeout', 'icmp_timeout', 'tcp_timeout_syn_sent'].map((k) => timeouts[k]).filter((v): v is number => typeof v === 'number' && v > 0);
  return t.length ? Math.min(...t) : DEFAULT_NEW_TIMEOUT_S;
}

/**
 * Did allocations jump? The window's rate against the rate of the evidence
 * before it (at least 5 s of it), or a namespace born into the burst.
 */
function burst(w: RecordWindow, long: RecordWindow | null, newNamespace: boolean): { burst: boolean; why: string } {
  const priorS = long ? long.seconds - w.seconds : 0;
  if (!long || priorS < 5) return newNamespace ? { burst: true, why: 'a new namespace allocating from the start' } : { burst: false, why: 'no earlier allocation rate to compare with' };
  const prior = Math.max(0, long.alloc - w.alloc) / priorS;
  const now = w.alloc / w.seconds;
  const sd = Math.sqrt(w.alloc / (w.seconds * w.seconds) + Math.max(0, long.alloc - w.alloc) / (priorS * priorS));
  if (now >= 2 * prior && sd > 0 && (now - prior) / sd >= Z_SOUND) return { burst: true, why: `allocations jumped from ${prior.toFixed(1)}/s to ${now.toFixed(1)}/s` };
  return { burst: false, why: `allocations did not jump (${prior.toFixed(1)}/s before, ${now.toFixed(1)}/s now)` };
}

function levelOf(c: number): ForecastLevel {
  return c >= 0.7 ? 'high' : c >= 0.4 ? 'medium' : c >= CONFIDENCE_FLOOR ? 'low' : 'none';
}

/** Confidence of a sound estimate: its significance and how far it reaches beyond its evidence. */
function confidenceOf(z: number, ttf: number, window: number, horizon: number): number {
  const zf = Math.min(1, z / 8);
  const reach = ttf / (horizon * window);
  const hf = reach <= 0.5 ? 1 : Math.max(0, 1 - (reach - 0.5));
  return zf * hf;
}

export function forecastTable(x: ForecastInput): Forecast {
  const room = Math.max(0, x.max - x.count);
  const age = Math.max(0, x.now_s - x.at_s);
  const tNew = newEntryTimeout(x.timeouts);
  const estimates: Estimate[] = [];
  const ttfOf = (rate: number) => Math.max(0, room / rate - age);
  const evidence = Math.max(0, x.now_s - x.since_s);

  const pts = x.samples;
  const xs = pts.map((p) => p.t - x.since_s);
  const ys = pts.map((p) => p.count);
  // A gc sawtooth (the count falls at each pass) is fitted over whole cycles
  // only, from the first fall to the last, and only once two cycles are seen:
  // a part of a cycle has the slope of its rising edge.
  const falls: number[] = [];
  for (let i = 1; i < ys.length; i++) if (ys[i - 1]! - ys[i]! > Math.max(FALL_SHARE * x.max, 1)) falls.push(i);
  const whole: [number, number] | null = falls.length >= 3 ? [falls[0]!, falls[falls.length - 1]!] : falls.length === 0 ? [0, ys.length - 1] : null;

  // --- from the records
  let net10: number | null = null;
  const long = x.records?.long ?? null;
  // Removals are measured once the long window spans whole gc cycles (or no
  // pass removed anything in a minute: nothing expires).
  const longOk = long !== null && long.seconds >= MIN_LONG_S && whole !== null;
  let soundRecordRate: number | null = null;
  if (x.records) {
    for (const w of x.records.windows) {
      const name = `records_${w.window}s`;
      if (!(w.seconds > 0)) continue;
      const a = w.alloc / w.seconds;
      // What leaves: measured over whole gc cycles when the long window spans them.
      const d = longOk ? long!.destroy / long!.seconds : w.destroy / w.seconds;
      const varD = longOk ? long!.destroy / (long!.seconds * long!.seconds) : w.destroy / (w.seconds * w.seconds);
      const rate = a - d;
      const sd = Math.sqrt(w.alloc / (w.seconds * w.seconds) + varD);
      const z = sd > 0 ? rate / sd : 0;
      if (w.window === 10) net10 = (w.alloc - w.destroy) / w.seconds;
      const e: Estimate = { basis: name, window_s: r1(w.seconds), rate_per_s: r3(rate), time_to_full_s: null, z: r3(z), sound: false, why: '' };
      if (rate <= 0) e.why = 'not growing';
      else {
        const ttf = ttfOf(rate);
        e.time_to_full_s = r1(ttf);
        const b = burst(w, long, x.new_namespace === true);
        if (w.alloc < 10 || z < Z_SOUND) e.why = `not significant (z ${z.toFixed(1)} < ${Z_SOUND})`;
        else if (ttf > SHORT_HORIZON * w.seconds) e.why = `beyond ${SHORT_HORIZON} windows of evidence`;
        else if (!longOk && !(b.burst && ttf <= tNew))
          e.why = b.burst ? `entries may time out (after ${tNew} s) before then, and no whole gc cycle of removals measured yet` : `no whole gc cycle of removals measured yet, and ${b.why}`;
        else {
          e.sound = true;
          e.why = longOk ? 'removals measured over whole gc cycles' : `${b.why}, and it fills before a new entry can time out (${tNew} s)`;
          if (soundRecordRate === null || rate > soundRecordRate) soundRecordRate = rate;
        }
      }
      estimates.push(e);
    }
  }

  // --- from the kernel's count
  const nShort = Math.min(SHORT_COUNT_POINTS, pts.length);
  const shortFit = nShort >= 3 ? fitLine(xs.slice(-nShort), ys.slice(-nShort)) : null;
  if (shortFit) {
    const e: Estimate = { basis: 'count_short', window_s: r1(shortFit.span), rate_per_s: r3(shortFit.slope), time_to_full_s: null, z: r3(Math.min(shortFit.t, 1e6)), sound: false, why: '' };
    // A breakout: above everything the count reached over a gc cycle before.
    const beforeX = xs.slice(0, -nShort);
    const before = ys.slice(0, -nShort);
    const peak = before.length ? Math.max(...before) : -Infinity;
    const breakout = beforeX.length > 0 && xs[xs.length - 1]! - beforeX[0]! >= MIN_LONG_S && x.count > peak + BREAKOUT * x.max;
    if (shortFit.slope <= 0) e.why = 'not growing';
    else {
      const ttf = ttfOf(shortFit.slope);
      e.time_to_full_s = r1(ttf);
      const corroborated = soundRecordRate !== null && shortFit.slope <= 2 * soundRecordRate && soundRecordRate <= 2 * shortFit.slope;
      if (shortFit.t < Z_SOUND) e.why = `not significant (t ${shortFit.t.toFixed(1)} < ${Z_SOUND})`;
      else if (ttf > SHORT_HORIZON * Math.max(shortFit.span, 1)) e.why = `beyond ${SHORT_HORIZON} windows of evidence`;
      else if (!breakout && !corroborated && !(x.new_namespace && ttf <= tNew && peak < BREAKOUT * x.max)) e.why = 'within the range of the gc sawtooth, and no sound record rate agrees';
      else {
        e.sound = true;
        e.why = breakout ? 'the count rose above everything it reached in the minute before' : corroborated ? 'a sound record rate agrees' : 'a new namespace filling from empty';
      }
    }
    estimates.push(e);
  }
  const longFit = evidence >= MIN_LONG_S && whole ? fitLine(xs.slice(whole[0], whole[1] + 1), ys.slice(whole[0], whole[1] + 1)) : null;
  let longSound = false;
  if (evidence >= MIN_LONG_S && !whole) {
    estimates.push({ basis: 'count_long', window_s: r1(evidence), rate_per_s: null, time_to_full_s: null, z: null, sound: false, why: `a gc sawtooth: ${falls.length} fall(s) of the count seen, two whole cycles needed` });
  }
  if (longFit && longFit.span >= MIN_LONG_S) {
    const e: Estimate = { basis: 'count_long', window_s: r1(longFit.span), rate_per_s: r3(longFit.slope), time_to_full_s: null, z: r3(Math.min(longFit.t, 1e6)), sound: false, why: '' };
    if (longFit.slope <= 0) e.why = 'not growing';
    else {
      const ttf = ttfOf(longFit.slope);
      e.time_to_full_s = r1(ttf);
      // The recent half must say the same: a table warming up to a steady
      // churn rises, then levels off; a leak keeps its pace.
      const end = whole![1];
      const half = xs[end]! - longFit.span / 2;
      const k = xs.findIndex((v) => v >= half);
      const halfFit = k >= 0 ? fitLine(xs.slice(k, end + 1), ys.slice(k, end + 1)) : null;
      if (longFit.t < Z_SOUND) e.why = `not significant (t ${longFit.t.toFixed(1)} < ${Z_SOUND}, autocorrelation-corrected)`;
      else if (!halfFit || halfFit.t < Z_SOUND / 2 || Math.abs(halfFit.slope - longFit.slope) > 0.5 * longFit.slope)
        e.why = `the last ${Math.round(longFit.span / 2)} s do not keep the pace (${halfFit ? halfFit.slope.toFixed(2) : '?'}/s): levelling off`;
      else if (ttf > LONG_HORIZON * longFit.span) e.why = `beyond ${LONG_HORIZON} spans of evidence`;
      else {
        e.sound = longSound = true;
        e.why = `significant over ${Math.round(longFit.span)} s`;
      }
    }
    estimates.push(e);
  }
  if (longOk) {
    const rate = (long!.alloc - long!.destroy) / long!.seconds;
    const e: Estimate = { basis: 'records_long', window_s: r1(long!.seconds), rate_per_s: r3(rate), time_to_full_s: null, z: null, sound: false, why: '' };
    if (rate <= 0) e.why = 'not growing';
    else {
      const ttf = ttfOf(rate);
      e.time_to_full_s = r1(ttf);
      const slope = longFit?.slope ?? 0;
      if (!longSound) e.why = 'uncorroborated: the count shows no significant trend';
      else if (Math.abs(rate - slope) > 0.5 * Math.max(rate, slope)) e.why = `disagrees with the count's slope (${slope.toFixed(2)}/s)`;
      else if (ttf > LONG_HORIZON * long!.seconds) e.why = `beyond ${LONG_HORIZON} spans of evidence`;
      else {
        e.sound = true;
        e.why = "agrees with the count's slope";
      }
    }
    estimates.push(e);
  }

  // --- the answer
  let ttf: number | null = null;
  let chosen: string | null = null;
  let basis: string;
  let confidence = 0;
  if (x.max > 0 && (x.count >= x.max || x.dropping)) {
    ttf = 0;
    chosen = 'full';
    confidence = 1;
    basis = x.dropping ? 'full: the kernel is dropping packets for want of room' : `full: ${x.count} entries of ${x.max}`;
  } else {
    const sound = estimates.filter((e) => e.sound && e.time_to_full_s !== null).sort((a, b) => a.time_to_full_s! - b.time_to_full_s!);
    const best = sound[0];
    if (best) {
      const z = best.z ?? Z_SOUND;
      const horizon = best.basis.startsWith('records_') && best.basis !== 'records_long' ? SHORT_HORIZON : best.basis === 'count_short' ? SHORT_HORIZON : LONG_HORIZON;
      confidence = confidenceOf(Math.max(z, Z_SOUND), best.time_to_full_s!, Math.max(best.window_s, 1), horizon);
      // Another sound estimate within 50 % of it corroborates it.
      if (sound.slice(1).some((e) => e.basis.split('_')[0] !== best.basis.split('_')[0] && e.time_to_full_s! <= 1.5 * best.time_to_full_s! + 1)) confidence = Math.min(1, confidence + 0.2);
      if (confidence >= CONFIDENCE_FLOOR) {
        ttf = best.time_to_full_s;
        chosen = best.basis;
        basis = `${best.basis}: ${best.rate_per_s}/s over ${best.window_s} s (${best.why})`;
      } else basis = `no trend: the best estimate (${best.basis}) is below the confidence floor`;
    } else {
      const why = x.records ? '' : `; records not used: ${x.records_why ?? 'no record source covers this namespace'}`;
      basis = `no trend: no estimate is sound${why}`;
    }
    if (ttf === null) confidence = Math.min(confidence, CONFIDENCE_FLOOR - 0.001);
  }
  confidence = r3(Math.max(0, confidence));
  return {
    netns: x.netns,
    count: x.count,
    max: x.max,
    utilization: x.max > 0 ? Math.round((x.count / x.max) * 1e6) / 1e6 : 0,
    time_to_full_s: ttf === null ? null : r1(ttf),
    basis,
    chosen,
    confidence: ttf === null ? 0 : confidence,
    level: ttf === null ? 'none' : levelOf(confidence),
    trend_per_s: longFit ? r3(longFit.slope) : shortFit ? r3(shortFit.slope) : null,
    net_alloc_rate_per_s: net10 === null ? null : r3(net10),
    horizon_s: r1(evidence),
    samples: pts.length,
    r2: longFit ? r3(longFit.r2) : shortFit ? r3(shortFit.r2) : null,
    since_s: r3(x.since_s),
    reset: x.reset,
    estimates,
  };
}
