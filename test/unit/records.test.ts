import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { formatAddress, parseAddress } from '../../src/records/address.js';
import { decodeBatch, RecordFormatError } from '../../src/records/batch.js';
import { encodeBatch } from '../../src/records/encode.js';
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
