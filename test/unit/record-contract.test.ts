// The record's TypeScript mirror (src/records/record.generated.ts) is
// generated from the BTF of the compiled objects (scripts/gen-record.mjs):
// regenerating it must change nothing, or someone changed the header without
// regenerating, or edited the generated file by hand.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadAddon } from '../../src/native/addon.js';
import { INGRESS_OBJECT, INGRESS_OBJECT_NAMES } from '../../src/sources/ingress.js';
import { NETLINK_DECODE_OBJECT_NAMES, NETLINK_FILTER_OBJECT, NETLINK_FILTER_OBJECT_NAMES } from '../../src/sources/netlink-filter.js';
import { Cause, Flag, Kind, Origin, RECORD_SIZE, RECORD_VERSION } from '../../src/records/record.generated.js';

const root = path.resolve(__dirname, '../..');

describe('the generated record contract', () => {
  it('equals what the objects BTF says (make -s bpf builds them; bpftool reads them)', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/gen-record.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the names of the objects programs, maps and rodata (src/native/objects.generated.ts) equal what their BTF says', () => {
    const r = spawnSync(process.execPath, [path.join(root, 'scripts/gen-objects.mjs'), '--check'], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('the addon takes the ingress object\'s names from the caller and refuses one that is not ours', () => {
    const { IngressCounter } = loadAddon();
    const bad = { ...INGRESS_OBJECT_NAMES, programs: { ct: 'tc_ingress_ct', lru: INGRESS_OBJECT_NAMES.programs.lru } };
    expect(() => new IngressCounter({ object: INGRESS_OBJECT, ...bad })).toThrow(/options\.programs\.ct: 'tc_ingress_ct' does not start with cts_ingress/);
    const noPair = { ...INGRESS_OBJECT_NAMES, maps: { ...INGRESS_OBJECT_NAMES.maps, src: ['src0'] as unknown as [string, string] } };
    expect(() => new IngressCounter({ object: INGRESS_OBJECT, ...noPair })).toThrow(/options\.maps\.src: the names of its two generations/);
  });

  // The names are checked when the object is opened, before anything is loaded: no privilege needed here.
  it('the addon takes the ctnetlink filter\'s and decoder\'s names from the caller and refuses one the object lacks', () => {
    const { NetlinkFilter } = loadAddon();
    const typo = { ...NETLINK_FILTER_OBJECT_NAMES, maps: { ...NETLINK_FILTER_OBJECT_NAMES.maps, counts: 'nlf_count' } };
    expect(() => new NetlinkFilter(NETLINK_FILTER_OBJECT, typo)).toThrow(/netlink_filter\.bpf\.o has no map nlf_count \(/);
    expect(() => new NetlinkFilter(NETLINK_FILTER_OBJECT, { ...NETLINK_FILTER_OBJECT_NAMES, program: 'cts_ctnetlink_filtr' })).toThrow(/has no program cts_ctnetlink_filtr \(/);
    // the decoder's names are each a map of its own object (the filter's object has no ring)
    const ring = { ...NETLINK_FILTER_OBJECT_NAMES, maps: { ...NETLINK_FILTER_OBJECT_NAMES.maps, counts: NETLINK_DECODE_OBJECT_NAMES.maps.ring } };
    expect(() => new NetlinkFilter(NETLINK_FILTER_OBJECT, ring)).toThrow(/has no map events/);
    expect(() => new NetlinkFilter(NETLINK_FILTER_OBJECT, {} as never)).toThrow(TypeError);
  });

  it('has the values the capture format depends on (append-only enums)', () => {
    // Captures written by earlier builds carry these numbers.
    expect([RECORD_VERSION, RECORD_SIZE]).toEqual([1, 160]);
    expect(Kind).toMatchObject({ DROP: 1, ALLOC: 2, TABLE_FULL: 3, EVICT: 4, CONFIRM: 5, INSERT_FAILED: 6, UPDATE: 7, DESTROY: 8, SEEN: 9, LOSS: 10, SYNC: 11 });
    expect(Cause).toMatchObject({ UNKNOWN: 0, TIMEOUT: 1, EVICTED: 2, USER: 3, OTHER: 4, DESTROY_LOST: 5, AT_START: 6, AT_RESYNC: 7 });
    expect(Origin).toMatchObject({ FENTRY: 1, KPROBE: 2, NETLINK: 3, TP_BTF: 4, IMPORT: 5 });
    expect(Flag).toEqual({ HAS_CT: 1, HAS_REPLY: 2, HAS_COUNTERS: 4, HAS_START: 8 });
  });
});
