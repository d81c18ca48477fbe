// One conntrack entry's life in the model: opened (ALLOC, or SEEN in a dump),
// changed (UPDATE, CONFIRM), destroyed (DESTROY), or closed by a resync
// (SYNC: not in the dump that followed an overrun). Every later record of an
// entry carries what it changes: state and status, and the mark (a CONNMARK
// or nft `ct mark set` on the reply path comes after the entry was opened,
// in an UPDATE, or in the lifecycle hooks' CONFIRM and DESTROY). Each step updates the
// flow table, the occupancy indexes, the lifetime and dwell histograms, the
// destroy causes and the recently closed ring in one place. Records arrive
// here from the batch loop (ingest.ts) as a batch's columns and an index.

import type { RecordColumns } from '../records/batch.js';
import { Flag } from '../records/layout.js';
import { readIdHi, readIdLo } from '../records/id.js';
import { addressKey, DADDR, DIM, SADDR, TWO32 } from './keys.js';
import { C } from './totals.js';
import { FF, type FlowTable } from './flow-table.js';
import { Histogram, bucketOf, keyedBucket } from './histograms.js';
import { IPPROTO_TCP, NSTATE_CODES, stateCode } from './states.js';
import type { ModelState } from './model-state.js';

export class EntryLifecycle {
  private readonly flows: FlowTable;

  constructor(private readonly st: ModelState) {
    this.flows = st.flows;
  }

  /**
   * ALLOC (openFlags 0) or SEEN: the entry is alive. `src`/`dst`/`pod`: its
   * address keys and pod when the caller has them already (a counted record), else -1.
   */
  open(b: RecordColumns, i: number, o: number, openFlags: number, src: number, dst: number, pod: number): void {
    const ft = this.flows;
    const ts = b.ts[i]!;
    const s = ft.upsert(readIdLo(b.bytes, o), readIdHi(b.bytes, o));
    if (s < 0) return;
    if (ft.created) {
      const st = b.start[i]!;
      const known = st > 0 && (openFlags === 0 || (b.flags[i]! & Flag.HAS_START) !== 0);
      this.create(b, i, o, s, openFlags | (known ? FF.START_KNOWN : 0), known ? st : ts, ts, src, dst, pod);
    } else {
      this.follow(b, i, s, ts);
      ft.touch(s, ts);
    }
  }

  /** UPDATE / CONFIRM: state or status changed (an entry not seen before is opened). */
  change(b: RecordColumns, i: number, o: number, confirm: boolean): void {
    const ft = this.flows;
    const ts = b.ts[i]!;
    const s = ft.upsert(readIdLo(b.bytes, o), readIdHi(b.bytes, o));
    if (s < 0) return;
    if (ft.created) {
      const st = b.start[i]!;
      const known = st > 0 && (b.flags[i]! & Flag.HAS_START) !== 0;
      this.create(b, i, o, s, FF.OPEN_UPDATE | (known ? FF.START_KNOWN : 0) | (confirm ? FF.CONFIRMED : 0), known ? st : ts, ts, -1, -1, -1);
      return;
    }
    this.follow(b, i, s, ts);
    if (confirm) ft.setFlags(s, ft.flags(s) | FF.CONFIRMED);
    ft.touch(s, ts);
  }

  /**
   * DESTROY: the entry's lifetime and final dwell go into the histograms and
   * it leaves the table for the recently closed ring. Returns the lifetime's
   * bucket on the per-key scale (histograms.ts KEYED_SCALE), or -1 when the allocation time is unknown.
   */
  destroy(b: RecordColumns, i: number, o: number): number {
    const ft = this.flows;
    const state = this.st;
    const ts = b.ts[i]!;
    const cause = b.cause[i]!;
    state.destroyCauses[cause < state.destroyCauses.length ? cause : 0]! += 1;
    const s = ft.find(readIdLo(b.bytes, o), readIdHi(b.bytes, o));
    let proto = b.proto[i]!;
    let code: number;
    let start = b.start[i]!;
    let known = start > 0 && (b.flags[i]! & Flag.HAS_START) !== 0;
    let since = start;
    if (s >= 0) {
      this.follow(b, i, s, ts);
      proto = ft.proto(s);
      code = ft.hist(s) & 0xff;
      if (ft.flags(s) & FF.START_KNOWN) {
        start = ft.start(s);
        known = true;
      }
      since = ft.sinceNs(s);
    } else {
      code = stateCode(proto, b.state[i]!, b.status[i]!);
    }
    let lifetime = -1;
    let bucket = -1;
    if (known && ts >= start) {
      lifetime = ts - start;
      const g = proto * NSTATE_CODES + code;
      let h = state.lifetimeByGroup[g];
      if (!h) state.lifetimes.set(g, (h = state.lifetimeByGroup[g] = new Histogram()));
      const b = bucketOf(lifetime);
      h.addBucket(b, lifetime);
      bucket = keyedBucket(b);
    } else {
      state.unknownLifetimes++;
    }
    if (s >= 0) {
      if (ts >= since) {
        const g = proto * NSTATE_CODES + code;
        let h = state.dwellByGroup[g];
        if (!h) state.finalDwell.set(g, (h = state.dwellByGroup[g] = new Histogram()));
        h.add(ts - since);
      }
      state.closed.push(ft, s, ts, cause, lifetime);
      if (state.occupancy.list.length) state.occupancy.close(s);
      ft.remove(s);
    }
    return bucket;
  }

  /** SYNC: entries of `netns` with no record since `sinceNs` are gone (a resync's dump did not list them). */
  sync(netns: number, sinceNs: number, cause: number, ts: number): void {
    const ft = this.flows;
    const state = this.st;
    let closed = 0;
    for (let s = 0; s < ft.end; s++) {
      if (ft.live(s) && ft.netns(s) === netns && ft.lastNs(s) < sinceNs) {
        state.closed.push(ft, s, ts, cause, ft.flags(s) & FF.START_KNOWN ? ts - ft.start(s) : -1);
        if (state.occupancy.list.length) state.occupancy.close(s);
        ft.remove(s);
        closed++;
      }
    }
    if (closed) {
      state.destroyCauses[cause < state.destroyCauses.length ? cause : 0]! += closed;
      state.totals.add(C.sync_closed, closed);
    }
  }

  /** A new entry from record i: its tuple, state and times in one go. */
  private create(b: RecordColumns, i: number, o: number, s: number, flags: number, startNs: number, ts: number, src: number, dst: number, pod: number): void {
    const fam = b.family[i]!;
    if (src < 0) src = addressKey(b.bytes, o + SADDR, fam, this.st.v6);
    if (dst < 0) dst = addressKey(b.bytes, o + DADDR, fam, this.st.v6);
    // the pod columns before the entry is indexed (their key is the `pod` dimension's)
    if (this.st.pods.on) flags |= this.st.pods.onCreate(b.bytes, o, fam, s, src, b.netns[i]!, pod);
    const v6 = src >= TWO32;
    const proto = b.proto[i]!;
    const state = b.state[i]!;
    const status = b.status[i]!;
    this.flows.init(s, v6 ? src - TWO32 : src, v6 ? dst - TWO32 : dst, b.sport[i]!, b.dport[i]!, b.netns[i]!, b.mark[i]!, b.zone[i]!, proto, state, status, flags | (v6 ? FF.SRC_V6 : 0), startNs, stateCode(proto, state, status), ts);
    if (this.st.occupancy.list.length) this.st.occupancy.open(s);
  }

  /**
   * What record i says of entry s now: its mark, state and status. Every
   * record of a live entry carries its current mark (ctnetlink sends CTA_MARK
   * whenever it is not 0 or has just changed; the hooks read ct->mark), so a
   * different one is a change, and the entry's occupancy moves to the new key.
   */
  private follow(b: RecordColumns, i: number, s: number, ts: number): void {
    const mark = b.mark[i]!;
    if (mark !== this.flows.mark(s)) {
      if (this.st.occupancy.list.length) this.st.occupancy.rekey(s, DIM.mark, mark);
      this.flows.setMark(s, mark);
    }
    this.setState(b, i, s, ts);
  }

  /** The state and status of record i on entry s; a new state goes into the entry's history. */
  private setState(b: RecordColumns, i: number, s: number, ts: number): void {
    const ft = this.flows;
    const proto = ft.proto(s);
    // A message without protocol info (state 0) keeps the TCP state we know.
    const st = b.state[i]!;
    if (st !== 0 || proto !== IPPROTO_TCP) ft.setState(s, st);
    const status = b.status[i]!;
    if (status !== 0) ft.setStatus(s, status);
    const code = stateCode(proto, ft.state(s), ft.status(s));
    const was = ft.stateCode(s);
    if (code !== was) {
      if (this.st.occupancy.list.length) this.st.occupancy.move(s, proto * NSTATE_CODES + was, proto * NSTATE_CODES + code);
      ft.setHist(s, (ft.hist(s) << 8) | code);
      ft.setSince(s, ts);
    }
  }
}
