import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress } from '../../src/records/address.js';
import { BATCH_BYTES_PER_RECORD, copyBatch, decodeBatch, DecodeScratch, keepBatch, RecordFormatError, viewBatch } from '../../src/records/batch.js';
import { encodeBatch, encodeRecord, RecordFields, writeRecord, writeRecordPortable, type RecordInit } from '../../src/records/encode.js';
import { AF_INET, AF_INET6, FIELDS, Kind, RECORD_SIZE } from '../../src/records/layout.js';

describe('addresses (table-driven)', () => {
  const cases: [number[], number, string][] = [
    [[1, 2, 3, 4], AF_INET, '1.2.3.4'],
    [[10, 77, 3, 255], AF_INET, '10.77.3.255'],
    [[0xfd, 0x77, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], AF_INET6, 'fd77:3::1'],
    [[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], AF_INET6, '2001:db8::1:0:0:1'],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], AF_INET6, '::1'],
    [[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1], AF_INET6, '::ffff:192.0.2.1'],
  ];
  for (const [bytes, family, text] of cases) {
    it(`${text}`, () => {
      const b = new Uint8Array(16);
      b.set(bytes);
      expect(formatAddress(b, 0, family)).toBe(text);
      const p = parseAddress(text)!;
      expect(p.family).toBe(family === AF_INET ? 4 : 6);
      expect([...p.bytes]).toEqual([...b]);
    });
  }

  it('refuses what is not an address', () => {
    for (const bad of ['1.2.3', '256.1.1.1', 'fd77::3::1', 'hello', '1:2:3:4:5:6:7:8:9', '']) expect(parseAddress(bad)).toBeNull();
  });

  it('round-trips any IPv6 address through text', () => {
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (b) => {
        const t = formatAddress(b, 0, AF_INET6);
        expect([...parseAddress(t)!.bytes]).toEqual([...b]);
      }),
    );
  });
});

describe('decodeBatch', () => {
  it('decodes an IPv4 TCP and an IPv6 UDP record into columns', () => {
    const buf = encodeBatch([
      { kind: Kind.DROP, ts: 123_456_789_012, src: '10.77.1.3', dst: '10.77.1.2', sport: 40000, dport: 443, proto: 6, tcpFlags: 0x02, netns: 4026532000, ifindex: 7, aux: 12, cpu: 1, flags: 1 },
      { kind: Kind.ALLOC, ts: 2 ** 52 + 2, id: 0xfedcba9876543210n, src: 'fd77:1::1', dst: 'fd77:1::2', rsrc: 'fd77:1::2', rdst: 'fd77:1::1', sport: 5353, dport: 53, rsport: 53, rdport: 5353, proto: 17, zone: 3, mark: 0xdead, status: 8 },
    ]);
    const c = decodeBatch(buf.buffer);
    expect(c.length).toBe(2);
    expect(c.kind[0]).toBe(Kind.DROP);
    expect(c.ts[0]).toBe(123_456_789_012);
    expect(c.family[0]).toBe(AF_INET);
    expect(formatAddress(c.bytes, FIELDS.saddr.offset, c.family[0]!)).toBe('10.77.1.3');
    expect(c.sport[0]).toBe(40000);
    expect(c.dport[0]).toBe(443);
    expect(c.tcpFlags[0]).toBe(2);
    expect(c.netns[0]).toBe(4026532000);
    expect(c.aux[0]).toBe(12);
    expect(c.family[1]).toBe(AF_INET6);
    expect(c.id[1]).toBe(0xfedcba9876543210n);
    expect(c.ts[1]).toBe(2 ** 52 + 2);
    expect(formatAddress(c.bytes, RECORD_SIZE + FIELDS.rdaddr.offset, c.family[1]!)).toBe('fd77:1::1');
    expect(c.zone[1]).toBe(3);
    expect(c.mark[1]).toBe(0xdead);
  });

  it('refuses a short buffer and a foreign version, naming the record', () => {
    expect(() => decodeBatch(new Uint8Array(100), 1)).toThrow(RecordFormatError);
    const buf = encodeBatch([{ kind: Kind.ALLOC }, { kind: Kind.ALLOC }]);
    buf[RECORD_SIZE + FIELDS.version.offset] = 9;
    expect(() => decodeBatch(buf)).toThrow(/record 1 has format version 9/);
  });
});

describe('copyBatch / viewBatch: a batch in shared memory, read back without decoding', () => {
  it('gives every column of the copied records, hot and cold, at any slot offset', () => {
    const recs: RecordInit[] = Array.from({ length: 50 }, (_, i) => ({
      kind: i % 3 === 0 ? Kind.ALLOC : Kind.DESTROY,
      ts: 1e12 + i * 1e6,
      id: BigInt(i) * 0x1000000001n,
      start: i % 2 ? 5e11 : 0,
      src: i % 4 ? `10.0.${i}.1` : `fd00::${i + 1}`,
      dst: i % 4 ? '10.9.9.9' : 'fd00::ffff',
      sport: 1000 + i,
      dport: 443,
      proto: i % 5 ? 6 : 17,
      netns: 4026531840 + (i % 2),
      mark: i,
      status: 8 | i,
      aux: 7 * i,
      zone: i % 3,
      state: i % 8,
      cause: i % 4,
      flags: i % 16,
      packets: i * 3,
      tcpFlags: i & 0x3f,
    }));
    const b = decodeBatch(encodeBatch(recs));
    const { from, to } = { from: 7, to: 41 };
    const sab = new SharedArrayBuffer(8 + (to - from) * BATCH_BYTES_PER_RECORD);
    copyBatch(b, from, to, new Uint8Array(sab, 8));
    const v = viewBatch(new Uint8Array(sab, 8), to - from);
    expect(v.length).toBe(to - from);
    for (const col of ['ts', 'start', 'netns', 'mark', 'status', 'aux', 'sport', 'dport', 'zone', 'kind', 'family', 'proto', 'state', 'cause', 'flags', 'id', 'packets', 'tcpFlags'] as const) {
      expect([...v[col]], col).toEqual([...b[col].subarray(from, to)]);
    }
    expect([...v.bytes]).toEqual([...b.bytes.subarray(from * RECORD_SIZE, to * RECORD_SIZE)]);
  });
});

describe('DecodeScratch and keepBatch: a lent batch, and a copy of it that stays', () => {
  const batchOf = (n: number, base: number) =>
    encodeBatch(Array.from({ length: n }, (_, i) => ({ kind: Kind.ALLOC, ts: base + i, src: `10.0.0.${(i % 250) + 1}`, dst: '10.9.9.9', sport: base % 60000 + i, dport: 53, proto: 17, netns: base + i })));
  it('decodes batch after batch into one buffer, and keepBatch keeps a copy the next decode does not touch', () => {
    const scratch = new DecodeScratch();
    const a = decodeBatch(batchOf(40, 1000), undefined, scratch);
    const kept = keepBatch(a);
    const aTs = [...a.ts];
    const b = decodeBatch(batchOf(30, 5000), undefined, scratch);
    // the same memory: a's columns now read b's (why a sink copies what it keeps)
    expect(a.ts.buffer).toBe(b.ts.buffer);
    expect(a.ts[0]).toBe(5000);
    expect([...b.ts]).toEqual(Array.from({ length: 30 }, (_, i) => 5000 + i));
    // the copy still holds a, hot and cold columns alike
    expect([...kept.ts]).toEqual(aTs);
    expect([...kept.netns]).toEqual(Array.from({ length: 40 }, (_, i) => 1000 + i));
    expect([...kept.sport]).toEqual(Array.from({ length: 40 }, (_, i) => 1000 + i));
    expect(kept.id.length).toBe(40);
  });
  it('grows for a larger batch and decodes it whole', () => {
    const scratch = new DecodeScratch();
    decodeBatch(batchOf(2, 1), undefined, scratch);
    const big = decodeBatch(batchOf(3000, 7), undefined, scratch);
    expect(big.length).toBe(3000);
    expect(big.ts[2999]).toBe(7 + 2999);
    expect(big.netns[1234]).toBe(7 + 1234);
  });
});

describe('writeRecord: the one encoder under encodeRecord', () => {
  const u32 = fc.integer({ min: 0, max: 0xffffffff });
  const u16 = fc.integer({ min: 0, max: 0xffff });
  const u8 = fc.integer({ min: 0, max: 255 });
  const u53 = fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER });
  const v4 = fc.ipV4();
  const v6 = fc.ipV6();
  const init = fc.record(
    {
      kind: u8,
      ts: u53,
      id: fc.oneof(u53, fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })),
      start: u53,
      packets: u53,
      bytes: u53,
      netns: u32,
      ifindex: u32,
      mark: u32,
      status: u32,
      cpu: u32,
      aux: u32,
      sport: u16,
      dport: u16,
      rsport: u16,
      rdport: u16,
      zone: u16,
      proto: u8,
      state: u8,
      tcpFlags: u8,
      icmpType: u8,
      icmpCode: u8,
      cause: u8,
      origin: u8,
      flags: u8,
    },
    { requiredKeys: ['kind'] },
  );
  const addrs = fc.oneof(fc.tuple(v4, v4, v4, v4), fc.tuple(v6, v6, v6, v6));

  // the RecordFields an importer would fill for the same record
  function fieldsOf(r: RecordInit, a: [string, string, string, string]): RecordFields {
    const f = new RecordFields();
    f.kind = r.kind;
    f.ts = r.ts ?? 0;
    const id = BigInt(r.id ?? 0);
    f.idLo = Number(id & 0xffffffffn);
    f.idHi = Number(id >> 32n);
    f.start = r.start ?? 0;
    f.packets = r.packets ?? 0;
    f.bytes = r.bytes ?? 0;
    a.forEach((s, k) => f.addr.set(parseAddress(s)!.bytes, k * 16));
    f.family = a[0].includes(':') ? AF_INET6 : AF_INET;
    for (const k of ['netns', 'ifindex', 'mark', 'status', 'cpu', 'aux', 'sport', 'dport', 'rsport', 'rdport', 'zone', 'proto', 'state', 'tcpFlags', 'icmpType', 'icmpCode', 'cause', 'origin', 'flags'] as const) {
      f[k] = r[k] ?? 0;
    }
    return f;
  }

  it('writes byte-identical records to encodeRecord, on both store paths, over dirty buffers', () => {
    fc.assert(
      fc.property(init, addrs, (r, a) => {
        const full: RecordInit = { ...r, src: a[0], dst: a[1], rsrc: a[2], rdst: a[3] };
        const viaInit = new Uint8Array(RECORD_SIZE * 2).fill(0xa5);
        encodeRecord(viaInit, RECORD_SIZE, full);
        const viaFields = new Uint8Array(RECORD_SIZE * 2).fill(0x5a);
        writeRecord(viaFields, RECORD_SIZE, fieldsOf(r, a));
        const portable = new Uint8Array(RECORD_SIZE * 2).fill(0x33);
        writeRecordPortable(portable, RECORD_SIZE, fieldsOf(r, a));
        const want = [...viaInit.subarray(RECORD_SIZE)];
        expect([...viaFields.subarray(RECORD_SIZE)]).toEqual(want);
        expect([...portable.subarray(RECORD_SIZE)]).toEqual(want);
        // and it decodes to what was put in
        const c = decodeBatch(viaFields.subarray(RECORD_SIZE), 1);
        expect(c.ts[0]).toBe(r.ts ?? 0);
        expect(c.id[0]).toBe(BigInt(r.id ?? 0));
        expect(c.packets[0]).toBe(r.packets ?? 0);
        expect(c.mark[0]).toBe(r.mark ?? 0);
        expect(c.zone[0]).toBe(r.zone ?? 0);
        expect(formatAddress(c.bytes, FIELDS.rdaddr.offset, c.family[0]!)).toBe(formatAddress(parseAddress(a[3])!.bytes, 0, c.family[0]!));
      }),
      { numRuns: 300 },
    );
  });

  it('zeroes every byte no field covers', () => {
    const out = new Uint8Array(RECORD_SIZE).fill(0xff);
    writeRecord(out, 0, new RecordFields());
    const covered = new Uint8Array(RECORD_SIZE);
    for (const f of Object.values(FIELDS)) covered.fill(1, f.offset, f.offset + f.size);
    for (let i = 0; i < RECORD_SIZE; i++) if (!covered[i]) expect(out[i], `byte ${i}`).toBe(0);
  });

  it('encodeRecord still refuses an address that is not one, and writes nothing', () => {
    const out = new Uint8Array(RECORD_SIZE).fill(7);
    expect(() => encodeRecord(out, 0, { kind: Kind.ALLOC, src: '10.0.0.300' })).toThrow(TypeError);
    expect(out.every((b) => b === 7)).toBe(true);
  });
});
