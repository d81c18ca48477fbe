// The importer's in-place address readers (v4 while scanning, v6 without a
// string) must read exactly what parseAddress reads, and a record must not
// carry bytes left over from the line before.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConntrackTextImporter, v6 } from '../../src/import/conntrack-text.js';
import { formatAddress, parseAddress } from '../../src/records/address.js';
import { decodeBatch, type RecordColumns } from '../../src/records/batch.js';
import { AF_INET, AF_INET6, FIELDS, Flag } from '../../src/records/layout.js';

function importLines(lines: string[]): { cols: RecordColumns; imp: ConntrackTextImporter } {
  const batches: RecordColumns[] = [];
  const imp = new ConntrackTextImporter({ baseSec: 0, tableTimeSec: 0, emit: (b, n) => batches.push(decodeBatch(b, n)) });
  for (const l of lines) imp.pushLine(l);
  imp.end();
  expect(batches.length).toBe(1);
  return { cols: batches[0]!, imp };
}

describe('in-place IPv6 reader', () => {
  const read = (t: string) => {
    const b = Buffer.from(`x ${t} y`, 'latin1');
    const out = new Uint8Array(20).fill(0xee);
    return v6(b, 2, 2 + t.length, out, 2) ? [...out.subarray(2, 18)] : null;
  };

  it('accepts only what parseAddress reads as IPv6, with the same bytes', () => {
    const text = fc.oneof(
      fc.ipV6(),
      fc.ipV6().map((s) => s.toUpperCase()),
      fc.stringMatching(/^[0-9a-fA-F:.%g]{0,41}$/),
      fc.array(fc.stringMatching(/^[0-9a-f]{0,5}$/), { maxLength: 10 }).map((g) => g.join(':')),
    );
    fc.assert(
      fc.property(text, (t) => {
        const mine = read(t);
        if (mine === null) return; // the importer then asks parseAddress itself
        const p = parseAddress(t);
        expect(p?.family, t).toBe(6);
        expect(mine, t).toEqual([...p!.bytes]);
      }),
      { numRuns: 3000 },
    );
  });

  it('reads the usual forms', () => {
    for (const t of ['::', '::1', '1::', 'fd00:1::25b', '2001:db8:0:0:1:0:0:1', 'FE80::A:b', '1:2:3:4:5:6:7:8']) {
      expect(read(t), t).toEqual([...parseAddress(t)!.bytes]);
    }
    for (const t of [':1', '1:', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8:9', '1::2:3:4:5:6:7:8', '12345::1', '::ffff:1.2.3.4', 'fe80::1%eth0']) {
      expect(read(t), t).toBeNull();
    }
  });
});

describe('importer fast paths', () => {
  const tcp = (src: string, dst: string) =>
    `[100.000001]\t    [NEW] tcp      6 120 SYN_SENT src=${src} dst=${dst} sport=1 dport=2 [UNREPLIED] src=${dst} dst=${src} sport=2 dport=1 id=7`;

  it('reads IPv4, IPv6 and IPv4-mapped IPv6 (through parseAddress) alike', () => {
    const { cols } = importLines([tcp('10.0.0.1', '10.0.0.2'), tcp('fd00::1', 'fd00::2'), tcp('::ffff:10.0.0.1', '::ffff:10.0.0.2')]);
    expect([...cols.family]).toEqual([AF_INET, AF_INET6, AF_INET6]);
    expect(formatAddress(cols.bytes, FIELDS.saddr.offset, cols.family[0]!)).toBe('10.0.0.1');
    expect(formatAddress(cols.bytes, 160 + FIELDS.rsaddr.offset, cols.family[1]!)).toBe('fd00::2');
    expect(formatAddress(cols.bytes, 320 + FIELDS.rdaddr.offset, cols.family[2]!)).toBe('::ffff:10.0.0.1');
  });

  it('still refuses bad and mixed addresses, with the reason', () => {
    const imp = new ConntrackTextImporter({ baseSec: 0, tableTimeSec: 0, emit: () => {} });
    for (const l of [tcp('10.0.0.256', '10.0.0.2'), tcp('10.0.0.1', 'fd00::2'), tcp('10.0.0.1.5', '10.0.0.2'), tcp('1::2::3', '::1')]) imp.pushLine(l);
    const st = imp.end();
    expect(st.unparsed.first_lines.map((u) => [u.line, u.why])).toEqual([
      [1, 'bad address src=10.0.0.256'],
      [2, 'bad address dst=fd00::2'],
      [3, 'bad address src=10.0.0.1.5'],
      [4, 'bad address src=1::2::3'],
    ]);
  });

  it('a line without a reply tuple carries no reply address from the line before', () => {
    const { cols } = importLines([
      tcp('10.0.0.1', '10.0.0.2'),
      'tcp      6 100 ESTABLISHED src=10.9.9.1 dst=10.9.9.2 sport=3 dport=4 mark=0 use=1',
    ]);
    expect(cols.flags[1]! & Flag.HAS_REPLY).toBe(0);
    const rec = cols.bytes.subarray(160, 320);
    expect([...rec.subarray(FIELDS.rsaddr.offset, FIELDS.rdaddr.offset + 16)].every((b) => b === 0)).toBe(true);
    expect(formatAddress(cols.bytes, 160 + FIELDS.saddr.offset, AF_INET)).toBe('10.9.9.1');
  });
});
