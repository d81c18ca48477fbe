// The native addon's JavaScript surface, declared once: every function and
// class native/*.cc exports (addon.cc lists them), with the shapes of their
// options and results. loadAddon() (addon.ts) returns it; the sources that
// wrap a native piece re-export the types they use. Keep it in step with the
// C++: a field here the addon does not set is undefined at run time.

/** native/layout.cc, btf_info.cc, clock.cc and the classes below. */
export interface Addon {
  layout(): { size: number; version: number; fields: Record<string, { offset: number; size: number }> };
  enumValues(name: string, module?: string): Record<string, number> | null;
  hasFunction(name: string, module?: string): boolean;
  boottimeNs(): number;
  /** malloc_trim(0): the C heap's free pages back to the kernel; whether any were (native/memory_trim.cc). */
  mallocTrim(): boolean;
  /** native/netns_read.cc: reads files from inside a network namespace (null where unreadable). */
  readInNetns(nsPath: string, files: string[]): (string | null)[];
  /**
   * native/ct_stats.cc: a namespace's netns cookie and, when asked, its
   * per-CPU conntrack statistics over ctnetlink summed under
   * /proc/net/stat/nf_conntrack's column names (nsPath null: this process's
   * namespace). Throws when the namespace cannot be entered.
   */
  conntrackStats(nsPath: string | null, wantStats: boolean): { cookie: string | null; cpus: number; stats: Record<string, number> | null; error?: string };
  /**
   * native/netns_batch.cc: reads each job's files from inside its namespace
   * (path null: this process's), on a thread of its own; one result per job, in order.
   */
  readNetnsBatch(jobs: NetnsJob[]): Promise<NetnsResult[]>;
  /** native/ring_source.cc */
  RingSource: RingSourceClass;
  /** native/netlink_source.cc (the reader: netlink_reader.cc) */
  NetlinkSource: new (opts: NetlinkReaderOptions) => NetlinkReader;
  /** native/ingress.cc */
  IngressCounter: IngressCounterClass;
  /** native/netlink_filter.cc */
  NetlinkFilter: new (object: string, names: NetlinkFilterNames) => NetlinkFilterHandle;
  NetlinkDecoder: new (object: string, filter: NetlinkFilterHandle, names: NetlinkDecoderNames, ringBytes?: number) => NetlinkDecoderHandle;
}

// ---- native/netns_batch.cc

export interface NetnsJob {
  /** null: this process's namespace. */
  path: string | null;
  files: string[];
  /** Also the namespace's cookie (SO_NETNS_COOKIE). */
  cookie: boolean;
  /** The per-CPU statistics over ctnetlink: always, never, or only when files[n] cannot be read. */
  ctStats: 'always' | 'never' | number;
  /** files[i] and files[j] are the count and max: ask them over ctnetlink, read them only where that fails. */
  ctCount?: [number, number];
}

export interface NetnsResult {
  /** Why the namespace could not be entered (it is gone), else null. */
  error: string | null;
  /** CLOCK_BOOTTIME ns when its files were read. */
  ts: number;
  /** Each file's content, null where unreadable. */
  texts: (string | null)[];
  cookie: string | null;
  stats: Record<string, number> | null;
  /** Why the statistics asked for over ctnetlink could not be read. */
  statsError?: string;
}

// ---- native/ring_source.cc

/** A map key/value or rodata value: integers are written little-endian in the field's size. */
export type BpfScalar = number | bigint | boolean | Uint8Array;

export interface RingSourceOptions {
  /** Absolute path of a .bpf.o. */
  object: string;
  /** Autoload only these programs (default: the object's own autoload settings). */
  programs?: string[];
  /** Map contents written after load, before attach: { mapName: [[key, value], ...] }. */
  maps?: Record<string, Array<[BpfScalar, BpfScalar]>>;
  /** `const volatile` globals set before load, by name (sizes from the object's BTF). */
  rodata?: Record<string, BpfScalar>;
  /** The ring buffer map (default 'events'). */
  ringMap?: string;
  /** Ring size in bytes (power of two, multiple of the page size); default: the object's. */
  ringBytes?: number;
  /** A (PERCPU_)ARRAY map whose u64 at key 0 counts reserve failures. */
  lossMap?: string;
  /** Records per batch handed to onBatch (default 1024, 1..65536). */
  batchRecords?: number;
  /** Reader drain period in ms when no wakeup is forced (default 2, 1..60000; sources use 1..5). */
  pollMs?: number;
  /**
   * While nothing woke the reader, it drains anyway this often (default 100
   * ms: a record whose wakeup was missed waits no longer); 0: never, only
   * wakeups and stop() drain (a test of the wakeup policy alone).
   */
  idleDrainMs?: number;
  /** Batches queued for the JS thread before new ones are refused and counted (default 64). */
  maxQueuedBatches?: number;
  /** Called on the JS thread with `count` records of RECORD_SIZE bytes. */
  onBatch: (buf: ArrayBuffer, count: number) => void;
}

export interface AttachFailure {
  program: string;
  errno: number;
  message: string;
}

export interface RingSourceStartResult {
  attached: string[];
  /** Programs that loaded but could not be attached (start() throws if none attached). */
  failed: AttachFailure[];
}

export interface RingSourceStats {
  /** Reserve failures per CPU from lossMap (empty without one). */
  perCpuReserveFailed: number[];
  /**
   * Runs of the object's programs the kernel skipped: the program was already
   * running on that CPU (bpf_prog_info.recursion_misses; 0 before Linux 5.12).
   */
  recursionMisses: number;
  /** Records refused because the JS queue was full. */
  queueDropped: number;
  /** Records handed to the JS queue. */
  delivered: number;
  /** Ring samples shorter than a record (never expected). */
  malformed: number;
  /** The reader thread stopped on this error; null while healthy. */
  readerError: string | null;
  running: boolean;
}

export interface ProbeResult {
  ok: boolean;
  errno: number;
  message: string;
  verifierLog?: string;
}

export interface RingSourceHandle {
  /** open -> autoload -> rodata -> load -> fill maps -> attach; starts the reader. */
  start(): RingSourceStartResult;
  stats(): RingSourceStats;
  /** Joins the reader, destroys links, closes the object. Idempotent. */
  stop(): void;
}

export interface RingSourceClass {
  new (options: RingSourceOptions): RingSourceHandle;
  /** Load and attach one program alone, then detach everything. */
  probe(object: string, program: string): ProbeResult;
}

/**
 * The error start() throws when the kernel refuses: code 'EBPFLOAD' (open or
 * load failed; `program` names the refused program when one was) or
 * 'EBPFATTACH' (nothing could be attached; `failures` lists each program).
 */
export interface BpfLoadError extends Error {
  code: 'EBPFLOAD' | 'EBPFATTACH';
  program: string | null;
  errno: number;
  verifierLog?: string;
  failures?: AttachFailure[];
}


// ---- native/netlink_source.cc

/** Native reader statistics (NetlinkSource.stats() in the addon). */
export interface NetlinkReaderStats {
  overruns: number;
  resyncs: number;
  queueDropped: number;
  delivered: number;
  /** Receive buffer the kernel granted (it doubles the request). */
  rcvbuf: number;
  netns: number;
  events: number;
  /** Events that came as records from the decoder's ring (the rest: datagrams). */
  decoded: number;
  dumps: number;
  lastDumpEntries: number;
  parseErrors: number;
  recvErrors: number;
  /** Times the receive buffer grew (rate or overrun). */
  rcvbufGrowths: number;
  resyncing: boolean;
  running: boolean;
  lastError: string | null;
}

export interface NetlinkReaderOptions {
  /** /run/netns/NAME or /proc/PID/ns/net; absent: ctscope's own namespace. */
  netnsPath?: string;
  /** Event socket receive buffer at start (SO_RCVBUFFORCE), default 4 MiB. */
  rcvbufBytes?: number;
  /** How far it grows (with the namespace's event rate, ×4 on an overrun), default 128 MiB. */
  rcvbufMaxBytes?: number;
  /** Records per batch to JavaScript (default 1024). */
  batchRecords?: number;
  /** Longest a record waits in a partial batch (default 20 ms in the addon; NetlinkSource asks for 2). */
  pollMs?: number;
  /** Batches queued for the JS thread before more are refused (default 256). */
  maxQueuedBatches?: number;
  /** List the table when starting (default true). */
  dumpAtStart?: boolean;
  /** A BPF socket filter for the event socket (NetlinkFilter's fd). */
  filterFd?: number;
  /** A decoder for the event socket instead (NetlinkDecoder's fds): events as records in its ring. */
  decoder?: NetlinkDecoderFds;
  onBatch(batch: ArrayBuffer, count: number): void;
}

/** The native reader: one per namespace. */
export interface NetlinkReader {
  /** Starts the reader thread; returns the namespace inode. Throws if the namespace cannot be entered. */
  start(): number;
  stop(): void;
  /** List the table again (a resync without a loss). */
  resync(): void;
  stats(): NetlinkReaderStats;
}

// ---- native/netlink_filter.cc

/** What the filter's object calls its program and maps (from src/native/objects.generated.ts). */
export interface NetlinkFilterNames {
  program: string;
  maps: { config: string; counts: string };
}

/** What the decoder's object calls its program and maps (from src/native/objects.generated.ts). */
export interface NetlinkDecoderNames {
  program: string;
  maps: { config: string; counts: string; ring: string; ctx: string; diverted: string };
}

/** The ctnetlink event sockets' BPF filter, loaded once for every namespace's reader. */
export interface NetlinkFilterHandle {
  /** The program's fd, for SO_ATTACH_BPF. */
  fd(): number;
  /** Keep 1 entry in 2^shift (0: all); refuse UPDATE events when dropUpdates. */
  setConfig(shift: number, dropUpdates: boolean): void;
  /** [new kept, new refused, update kept, update refused, destroy kept, destroy refused] */
  counts(): number[];
  close(): void;
}

export interface NetlinkDecoderFds {
  prog: number;
  ring: number;
  ctx: number;
}

/** One namespace's ctnetlink decoder (netlink_decode.bpf.o), sharing a filter's configuration and counts. */
export interface NetlinkDecoderHandle {
  fds(): NetlinkDecoderFds;
  /** Events it left to the socket as datagrams (ring full, or not decodable). */
  diverted(): number;
  close(): void;
}


// ---- native/ingress.cc

export type IngressHook = 'auto' | 'tcx' | 'tc-clsact';

export interface IngressStats {
  packets: number;
  tcpSyn: number;
  udpNew: number;
  srcOverflow: number;
  portOverflow: number;
  pairOverflow: number;
  ctErrors: number;
  unparsed: number;
}

export interface IngressCollected {
  src: Array<{ family: number; addr: Uint8Array; tcpSyn: number; udpNew: number }>;
  ports: Array<{ proto: number; port: number; count: number }>;
  pairs: Array<{ family: number; addr: Uint8Array; proto: number; port: number; count: number }>;
  /** Totals since load. */
  stats: IngressStats;
}

export interface IngressAttachment {
  id: number;
  netns: string | null;
  ifname: string;
  ifindex: number;
  hook: 'tcx' | 'tc-clsact';
  alive?: boolean;
}

/** The addon's IngressCounter (native/ingress.cc). */
export interface IngressCounterHandle {
  attach(nsPath: string | null, ifname: string, hook: IngressHook): { id: number; ifindex: number; hook: 'tcx' | 'tc-clsact'; staleRemoved: number };
  detach(id: number): boolean;
  attachments(): IngressAttachment[];
  collect(): Promise<IngressCollected>;
  /** tcx: whether this kernel has tcx links (probed without touching an interface). */
  info(): { variant: 'ct' | 'lru'; program: string; progId: number; tcHandle: number; tcPriority: number; tcx: boolean; tcxProbeErrno: number };
  /** Detaches everything and unloads; returns detach failures. */
  close(): string[];
}

/** What the caller calls ingress.bpf.o's programs and maps (from objects.generated.ts: sources/ingress.ts INGRESS_OBJECT_NAMES). */
export interface IngressObjectNames {
  programs: { ct: string; lru: string };
  maps: { ctl: string; stats: string; udpSeen: string; src: [string, string]; port: [string, string]; pair: [string, string] };
}

export interface IngressCounterClass {
  new (opts: { object: string; variant?: 'auto' | 'ct' | 'lru' } & IngressObjectNames): IngressCounterHandle;
  listInterfaces(nsPath: string | null): Array<{ name: string; ifindex: number }>;
  removeStaleFilters(nsPath: string | null, ifname: string): number;
}

