// The ctnetlink event sockets' BPF filter (bpf/netlink_filter.bpf.c, loaded
// by native/netlink_filter.cc): one program for every namespace's reader.
// It counts every conntrack event exactly, kept or refused, and keeps 1
// entry in 2^shift by the kernel's own entry id when the CPU budget asks for
// it, before anything is queued to a socket.
//
// Its decoders (bpf/netlink_decode.bpf.c, one per namespace's reader) do the
// same and more: they turn each kept event into a record in a ring buffer
// the reader drains, so no datagram is queued, received or parsed per event
// (BENCHMARKS.md, "Per-event cost"). They share the filter's configuration
// and counts.

import { bpfObjectPath, loadAddon } from '../native/addon.js';
import { NETLINK_DECODE_NAMES, NETLINK_FILTER_NAMES } from '../native/objects.generated.js';
import type { NetlinkDecoderFds, NetlinkDecoderNames, NetlinkFilterNames } from '../native/surface.js';

/** Event counts by kind since the filter was loaded (all namespaces). */
export interface FilterCounts {
  new: { kept: number; refused: number };
  update: { kept: number; refused: number };
  destroy: { kept: number; refused: number };
}

export interface NetlinkFilter {
  /** The program's fd, for SO_ATTACH_BPF on each event socket. */
  readonly fd: number;
  /** Keep 1 entry in 2^shift (0: all); refuse UPDATE events when dropUpdates. */
  configure(shift: number, dropUpdates: boolean): void;
  counts(): FilterCounts;
  /** A decoder for one namespace's reader (throws where the kernel refuses it); ringBytes: its ring (default 1 MiB). */
  decoder(ringBytes?: number): NetlinkDecoder;
  close(): void;
}

export interface NetlinkDecoder {
  readonly fds: NetlinkDecoderFds;
  /** Events it left to the socket as datagrams. */
  diverted(): number;
  close(): void;
}

export const NETLINK_FILTER_OBJECT = bpfObjectPath('netlink_filter');
export const NETLINK_DECODE_OBJECT = bpfObjectPath('netlink_decode');

/** The filter's program and maps, by the names its BTF has. */
export const NETLINK_FILTER_OBJECT_NAMES: NetlinkFilterNames = {
  program: NETLINK_FILTER_NAMES.programs.cts_ctnetlink_filter,
  maps: { config: NETLINK_FILTER_NAMES.maps.nlf_config, counts: NETLINK_FILTER_NAMES.maps.nlf_counts },
};

const D = NETLINK_DECODE_NAMES.maps;
/** The decoder's program and maps (the filter's two shared with it), by the names its BTF has. */
export const NETLINK_DECODE_OBJECT_NAMES: NetlinkDecoderNames = {
  program: NETLINK_DECODE_NAMES.programs.cts_ctnetlink_decode,
  maps: { config: D.nlf_config, counts: D.nlf_counts, ring: D.events, ctx: D.nld_ctx, diverted: D.nld_diverted },
};

/** Loads the filter; throws (with the kernel's reason) where socket programs are refused. */
export function loadNetlinkFilter(): NetlinkFilter {
  const addon = loadAddon();
  const native = new addon.NetlinkFilter(NETLINK_FILTER_OBJECT, NETLINK_FILTER_OBJECT_NAMES);
  return {
    fd: native.fd(),
    configure: (shift, dropUpdates) => native.setConfig(shift, dropUpdates),
    counts: () => countsOf(native.counts()),
    decoder: (ringBytes) => {
      const d = new addon.NetlinkDecoder(NETLINK_DECODE_OBJECT, native, NETLINK_DECODE_OBJECT_NAMES, ringBytes);
      return { fds: d.fds(), diverted: () => d.diverted(), close: () => d.close() };
    },
    close: () => native.close(),
  };
}

/** [new kept, new refused, update kept, update refused, destroy kept, destroy refused] → by kind. */
export function countsOf(c: readonly number[]): FilterCounts {
  return {
    new: { kept: c[0] ?? 0, refused: c[1] ?? 0 },
    update: { kept: c[2] ?? 0, refused: c[3] ?? 0 },
    destroy: { kept: c[4] ?? 0, refused: c[5] ?? 0 },
  };
}

export { keptBySample } from '../records/sample.js';
