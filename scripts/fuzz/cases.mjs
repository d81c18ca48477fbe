// Structural fuzz cases for ctscope's file decoders (issue 17): inputs that
// pass every checksum and look like what a writer makes, with hostile
// contents — segment chains that loop, absurd times, counts, lengths, enum
// values and versions, fields of the wrong type; and conntrack text lines
// with the right shape and the wrong values. Random bytes stop at the first
// checksum; these reach the code behind it.
//
// Each arbitrary yields a plain JSON-able case `{ target, files: [{ name,
// bytes (base64) | text }], argv }`, so a failing case can be written to
// test/fixtures/fuzz/ as it is and replayed later (materialize()).
//
// Runs against dist/ (build with `make -s ts`).

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const dist = (m) => import(path.join(root, 'dist', m));
const { packr, preamble, frameHeader, FrameType, FORMAT_VERSION } = await dist('capture/format.js');
const { FIELDS, RECORD_SIZE, RECORD_VERSION } = await dist('records/layout.js');
const { encodeRecord } = await dist('records/encode.js');

// ---- values that break assumptions ----

/** Numbers at the edges of every representation a field might be read with. */
const edgeNumber = fc.constantFrom(0, -0, 1, -1, 0.5, -1e-300, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 2 ** 64, 1e21, 1e308, -1e308, Number.MAX_VALUE, Number.MIN_VALUE, NaN, Infinity, -Infinity);
/** Anything msgpack can carry, biased to wrong types and edges. */
const hostileValue = fc.oneof(
  { weight: 4, arbitrary: edgeNumber },
  { weight: 2, arbitrary: fc.double() },
  { weight: 1, arbitrary: fc.constantFrom(null, undefined, true, false, '', 'x', '1e9', 'NaN', '\u0000', 'é'.repeat(300)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 30 }) },
  { weight: 1, arbitrary: fc.constantFrom([], [1, 2], [null], {}, { a: 1 }, { __proto__: null, x: 'y' }, new Uint8Array(3)) },
  { weight: 1, arbitrary: fc.bigInt({ min: -(2n ** 63n), max: 2n ** 64n - 1n }) },
);
/** A plausible value most of the time, a hostile one otherwise. */
const maybeHostile = (plausible) => fc.oneof({ weight: 3, arbitrary: plausible }, { weight: 1, arbitrary: hostileValue });

/**
 * An object of plausible fields of which none (most often) or a few are
 * replaced by hostile values: a decoder that refuses the first bad field
 * would otherwise never be shown the ones after it.
 */
function someHostile(fields, { none = 3 } = {}) {
  const names = Object.keys(fields);
  return fc.tuple(
    fc.record(fields),
    fc.oneof({ weight: none, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.subarray(names, { minLength: 1, maxLength: 2 }) }).chain((keys) => fc.tuple(...keys.map((k) => hostileValue.map((v) => [k, v])))),
  ).map(([o, bad]) => {
    const out = { ...o };
    for (const [k, v] of bad) out[k] = v;
    for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
    return out;
  });
}
/** Rarely a hostile value, else `plausible` (for nested fields someHostile does not reach). */
const rarely = (plausible, odds = 8) => fc.oneof({ weight: odds, arbitrary: plausible }, { weight: 1, arbitrary: hostileValue });

// ---- .ctcap ----

const layoutFields = () => Object.fromEntries(Object.entries(FIELDS).map(([k, v]) => [k, { offset: v.offset, size: v.size }]));

const headerArb = someHostile(
  {
    format: fc.constant(FORMAT_VERSION),
    tool: fc.constant('ctscope 0.1.0'),
    created_ms: fc.constant(1.7e12),
    host: fc.constant('fuzz'),
    kernel: fc.constant('6.18.0'),
    boot_base_ns: fc.double({ min: 0, max: 2e18, noNaN: true }),
    sources: fc.array(fc.record({ name: rarely(fc.constantFrom('netlink', 'drops'), 40), hook: rarely(fc.constantFrom('ctnetlink', null), 40) }), { maxLength: 3 }),
    segment: fc.nat(3),
    // the layout: right almost always (else the file is refused at once, which is tested elsewhere)
    record: fc.oneof({ weight: 12, arbitrary: fc.constant('ok') }, { weight: 1, arbitrary: fc.record({ size: rarely(fc.constant(RECORD_SIZE), 2), version: rarely(fc.constant(RECORD_VERSION), 2), fields: rarely(fc.constant('ok'), 2) }) }),
    origin: fc.option(fc.constant('conntrack -E text'), { nil: undefined }),
  },
  { none: 4 },
);

function headerObject(h) {
  const o = { ...h };
  if (o.record === 'ok') o.record = { size: RECORD_SIZE, version: RECORD_VERSION, fields: layoutFields() };
  else if (o.record && typeof o.record === 'object' && o.record.fields === 'ok') o.record = { ...o.record, fields: layoutFields() };
  return o;
}

const TIME_EDGES = [0n, 1n, 2n ** 63n - 1n, 2n ** 63n, 2n ** 64n - 1n, 1_000_000_000n, 1_700_000_000_000_000_000n];
/** Bytes for one field of `size`: an edge (all zero, all one, the top bit) or random. */
const fieldBytes = (size) =>
  fc.oneof(
    fc.constant(new Uint8Array(size)),
    fc.constant(new Uint8Array(size).fill(0xff)),
    fc.constant(Uint8Array.from({ length: size }, (_, i) => (i === size - 1 ? 0x80 : 0))),
    fc.uint8Array({ minLength: size, maxLength: size }),
    size === 8 ? fc.constantFrom(...TIME_EDGES).map((v) => { const b = new Uint8Array(8); new DataView(b.buffer).setBigUint64(0, v, true); return b; }) : fc.constant(new Uint8Array(size)),
  );
const HOSTILE_FIELDS = Object.keys(FIELDS).filter((k) => k !== 'version');

/** One record: a plausible one with some fields overwritten by hostile bytes. */
const recordArb = fc
  .record({
    kind: fc.oneof({ weight: 5, arbitrary: fc.integer({ min: 1, max: 11 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) }),
    id: fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    ts: fc.integer({ min: 0, max: 50 }).map((s) => 1e9 + s * 1e8),
    proto: fc.constantFrom(6, 17, 1, 58, 132, 0, 255),
    state: fc.integer({ min: 0, max: 12 }),
    sport: fc.integer({ min: 0, max: 65535 }),
    dport: fc.constantFrom(53, 80, 443, 0, 65535),
    src: fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::1', '0.0.0.0', '255.255.255.255'),
    netns: fc.constantFrom(4026531840, 1, 0, 0xffffffff),
    hostile: fc.array(fc.tuple(fc.constantFrom(...HOSTILE_FIELDS), fc.constant(null)), { maxLength: 4 }).chain((fs_) =>
      fc.tuple(...fs_.map(([name]) => fieldBytes(FIELDS[name].size).map((b) => [name, b]))),
    ),
    badVersion: fc.oneof({ weight: 30, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
  })
  .map((r) => {
    const b = new Uint8Array(RECORD_SIZE);
    encodeRecord(b, 0, { kind: r.kind, id: r.id, ts: r.ts, start: r.ts, proto: r.proto, state: r.state, sport: r.sport, dport: r.dport, src: r.src, dst: '10.9.9.9', netns: r.netns });
    for (const [name, bytes] of r.hostile) b.set(bytes, FIELDS[name].offset);
    if (r.badVersion) b[FIELDS.version.offset] = 2;
    return b;
  });

const recordsFrame = fc
  .record({
    recs: fc.array(recordArb, { minLength: 0, maxLength: 12 }),
    // the count and the bytes agree almost always (else the frame is skipped whole)
    n: fc.oneof({ weight: 10, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: hostileValue }),
    b: fc.oneof({ weight: 15, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: hostileValue }),
  })
  .map(({ recs, n, b }) => {
    const bytes = new Uint8Array(recs.length * RECORD_SIZE);
    recs.forEach((r, i) => bytes.set(r, i * RECORD_SIZE));
    return { type: FrameType.RECORDS, payload: { n: n === undefined ? recs.length : n, b: b === undefined ? bytes : b } };
  });

const numberMap = fc.dictionary(fc.constantFrom('entries', 'drop', 'early_drop', 'insert_failed', 'udp_timeout', 'tcp_timeout_time_wait', '__proto__', 'constructor', ''), rarely(fc.nat(1e6), 4), { maxKeys: 5 });
const procFrame = someHostile({
  ts: fc.integer({ min: 0, max: 60 }).map((s) => 1e9 + s * 1e9),
  netns: fc.constantFrom(4026531840, 1),
  count: fc.nat(70000),
  max: fc.constantFrom(65536, 0, 1),
  buckets: fc.constantFrom(16384, 0),
  stats: numberMap,
  timeouts: numberMap,
}).map((p) => ({ type: FrameType.PROC, payload: p }));

const sourceArb = someHostile({
  name: fc.constantFrom('netlink', 'drops', 'recorder'),
  state: fc.constantFrom('running', 'failed', 'stopped'),
  hook: fc.constantFrom('ctnetlink', null),
  records: fc.nat(1e6),
  lost: someHostile({ total: fc.nat(100), ringbufReserveFailed: fc.option(fc.array(rarely(fc.nat(5)), { maxLength: 4 }), { nil: undefined }), netlinkOverruns: fc.option(fc.nat(3), { nil: undefined }) }),
  detail: fc.option(fc.string({ maxLength: 20 }), { nil: undefined }),
});
const statusFrame = someHostile({ ts: fc.constant(2e9), sources: fc.array(sourceArb, { maxLength: 3 }) }).map((p) => ({ type: FrameType.STATUS, payload: p }));
const oddFrame = fc.oneof(
  fc.record({ type: fc.integer({ min: 6, max: 255 }), payload: hostileValue }),
  fc.record({ type: fc.constant(FrameType.HEADER), payload: headerArb.map(headerObject) }),
  fc.record({ type: fc.constantFrom(FrameType.RECORDS, FrameType.PROC, FrameType.STATUS, FrameType.FOOTER), payload: hostileValue }),
);

/** The footer; `next` decides the chain (to a later segment, back to itself or an earlier one, nowhere, nonsense). */
const footerArb = (segments, index) =>
  someHostile({
    records: fc.nat(40),
    frames: fc.nat(10),
    proc_snapshots: fc.nat(3),
    kinds: fc.array(fc.option(fc.nat(20), { nil: undefined }), { maxLength: 12 }),
    first_ts: fc.constant(1e9),
    last_ts: fc.constant(6e9),
    closed_ms: fc.constant(1.7e12),
    reason: fc.constantFrom('closed', 'rotate'),
    next: fc.oneof(
      { weight: 3, arbitrary: fc.constant(index + 1 < segments ? segName(index + 1) : undefined) },
      { weight: 1, arbitrary: fc.integer({ min: 0, max: index }).map(segName) }, // itself or earlier: a loop
      { weight: 1, arbitrary: fc.constantFrom(undefined, 'missing.ctcap', '../../etc/passwd', '', '/', '.', '..', 'a\u0000b') },
    ),
  });

const segName = (i) => (i === 0 ? 'cap.ctcap' : `cap.${i}.ctcap`);

const frameArb = fc.oneof({ weight: 6, arbitrary: recordsFrame }, { weight: 2, arbitrary: procFrame }, { weight: 1, arbitrary: statusFrame }, { weight: 1, arbitrary: oddFrame });

const segmentArb = (segments, index) =>
  fc.record({
    header: headerArb.map(headerObject).map((h) => (index > 0 && typeof h.segment === 'number' ? { ...h, segment: index } : h)),
    frames: fc.array(frameArb, { maxLength: 8 }),
    footer: fc.option(footerArb(segments, index), { freq: 6, nil: null }),
    version: fc.oneof({ weight: 30, arbitrary: fc.constant(FORMAT_VERSION) }, { weight: 1, arbitrary: fc.constantFrom(0, 2, 0xffffffff) }),
  });

function frameBytes(type, payload) {
  const p = packr.pack(payload);
  return Buffer.concat([frameHeader(type, p), p]);
}

function segmentBytes(s) {
  const parts = [Buffer.from(preamble(s.version)), frameBytes(FrameType.HEADER, s.header)];
  for (const f of s.frames) parts.push(frameBytes(f.type, f.payload));
  if (s.footer) parts.push(frameBytes(FrameType.FOOTER, s.footer));
  return Buffer.concat(parts);
}

const replayArgs = fc.record({
  report: fc.constantFrom('json', 'text'),
  single: fc.boolean(),
  whatIf: fc.option(fc.constantFrom('max=100', 'udp_timeout=1,max=10', 'tcp_timeout_time_wait=1'), { freq: 4, nil: undefined }),
});

function argvOf(file, a) {
  return ['replay', file, '--report', a.report, ...(a.single ? ['--single-thread'] : []), ...(a.whatIf ? ['--what-if', a.whatIf] : []), '--limit', '3'];
}

/** A .ctcap chain of 1-3 segments with hostile contents. */
export const captureCase = fc.integer({ min: 1, max: 3 }).chain((segments) =>
  fc.tuple(fc.tuple(...Array.from({ length: segments }, (_, i) => segmentArb(segments, i))), replayArgs).map(([segs, a]) => ({
    target: 'capture',
    files: segs.map((s, i) => ({ name: segName(i), base64: segmentBytes(s).toString('base64') })),
    argv: argvOf('cap.ctcap', a),
    serve: true,
  })),
);

// ---- conntrack text ----

// A line is built from parts: plausible parts, with none (most lines) or
// one or two replaced by a hostile variant, so most lines reach the deep
// end of the parser.
const goodAddr = fc.constantFrom('10.0.0.1', '10.0.0.2', 'fd00::1', '192.168.1.1');
const badAddr = fc.oneof(fc.constantFrom('999.1.1.1', '::ffff:1.2.3.4', '1.2.3', '', 'fe80::1%eth0', ':::', '1.2.3.4.5', 'a'.repeat(100)), fc.string({ maxLength: 12 }));
const goodPort = fc.nat(65535).map(String);
const badNum = fc.constantFrom('-1', '65536', '99999999999999999999', '1e9', '0x10', '', 'NaN', '18446744073709551616', '4294967296', '00080', '+5');
const goodStamp = fc.integer({ min: 1_700_000_000, max: 1_700_000_100 }).chain((sec) => fc.nat(999_999).map((us) => `[${sec}.${String(us).padStart(6, '0')}]`));
const badStamp = fc.constantFrom('[0.0]', '[999999999999.999999999]', '[-1.5]', '[1e9]', '[', '[]', '[1700000000]', '[4294967296.000001]', '[1700000000.9999999999]', '[00000000001.1]');
const goodProto = fc.constantFrom('tcp      6', 'udp      17', 'icmp     1', 'icmpv6   58', 'sctp     132', 'unknown  255');
const badProto = fc.oneof(fc.constantFrom('tcp 17', 'udp 6', 'tcp', '6', 'gre 47 99999', 'tcp -6'), fc.string({ maxLength: 6 }).map((n) => `${n} 6`));
const goodState = fc.constantFrom('', 'ESTABLISHED', 'TIME_WAIT', 'SYN_SENT', 'CLOSE', 'UNREPLIED');
const badState = fc.constantFrom('BOGUS_STATE', 'established', 'SYN_SENT2', 'NONE');
const tailWords = fc.array(
  fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom('[ASSURED]', 'mark=0', 'zone=7', 'use=1', 'id=1', 'id=4294967295', 'packets=1', 'bytes=100', 'delta-time=5', 'secctx=x', 'helper=ftp') },
    { weight: 1, arbitrary: fc.constantFrom('mark=4294967296', 'zone=70000', 'zone=-1', 'id=99999999999999999999', 'bytes=18446744073709551616', 'packets=-1', 'delta-time=1e9', '[WHAT]', 'x=y=z', '=', 'id=') },
  ),
  { maxLength: 5 },
);

const PARTS = {
  stamp: [goodStamp, badStamp],
  event: [fc.constantFrom('[NEW]', '[UPDATE]', '[DESTROY]'), fc.constantFrom('[new]', '[NEWX]', '', '[]', '[DESTROY')],
  family: [fc.constantFrom('ipv4     2 ', 'ipv6     10 ', ''), fc.constantFrom('ipv9     99 ', 'ipv4 ', 'ipv4 10 ', 'ipv6 2 ')],
  proto: [goodProto, badProto],
  timeout: [fc.oneof(fc.constant(''), fc.nat(432000).map(String)), badNum],
  state: [goodState, badState],
  src: [goodAddr, badAddr],
  dst: [goodAddr, badAddr],
  sport: [goodPort, badNum],
  dport: [goodPort, badNum],
  reply: [fc.oneof(fc.constant('[UNREPLIED] '), fc.constant('')), fc.constantFrom('[UNREPLIED] [UNREPLIED] ', 'src= dst= ', 'src=10.0.0.1 ')],
  rsrc: [goodAddr, badAddr],
  rsport: [goodPort, badNum],
  tail: [tailWords, tailWords],
};
const eventLine = someGood(PARTS).map(
  (p) => `${p.stamp}\t${p.event} ${p.family}${p.proto} ${p.timeout} ${p.state} src=${p.src} dst=${p.dst} sport=${p.sport} dport=${p.dport} ${p.reply}src=${p.rsrc} dst=${p.src} sport=${p.rsport} dport=${p.sport} ${p.tail.join(' ')}`.replace(/ +/g, ' '),
);
/** `-L -o extended` lines: no stamp, no event tag. */
const listLine = eventLine.map((l) => l.replace(/^\[[^\]]*\]\t\[[A-Z]*\] /, ''));

/** Parts `{ name: [good, bad] }`: every part good but none, one or two. */
function someGood(parts) {
  const names = Object.keys(parts);
  return fc
    .oneof({ weight: 2, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: fc.subarray(names, { minLength: 1, maxLength: 2 }) })
    .chain((bad) => fc.record(Object.fromEntries(names.map((n) => [n, parts[n][bad.includes(n) ? 1 : 0]]))));
}

const textLine = fc.oneof(
  { weight: 8, arbitrary: eventLine },
  { weight: 2, arbitrary: listLine },
  { weight: 1, arbitrary: fc.constantFrom('', 'conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.', 'We have hit ENOBUFS! We are losing events.', '\r', '\u0000\u0001', 'x'.repeat(70000)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 80 }) },
);

/** Text in the shapes of `conntrack -E -o timestamp,id[,extended]` and `-L -o extended`, with hostile values. */
export const textCase = fc.tuple(fc.array(textLine, { minLength: 1, maxLength: 30 }), fc.constantFrom('\n', '\r\n'), replayArgs).map(([lines, eol, a]) => ({
  target: 'text',
  files: [{ name: 'events.txt', text: lines.join(eol) + eol }],
  argv: argvOf('events.txt', a),
  serve: true,
}));

export const targets = { capture: captureCase, text: textCase };

/** Write a case's files into `dir`; returns the argv with file names resolved. */
export function materialize(c, dir) {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of c.files) fs.writeFileSync(path.join(dir, f.name), f.base64 !== undefined ? Buffer.from(f.base64, 'base64') : f.text);
  return c.argv.map((a) => (c.files.some((f) => f.name === a) ? path.join(dir, a) : a));
}
