// The conntrack text importer against real output recorded in a lab
// (test/fixtures/conntrack/make-samples.sh): every NEW line is one ALLOC from
// its original source, every DESTROY line one DESTROY, nothing dropped.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConntrackTextImporter, readConntrackText, ImportError, type ImportStats } from '../../src/import/conntrack-text.js';
import { decodeBatch, type RecordColumns } from '../../src/records/batch.js';
import { formatAddress } from '../../src/records/address.js';
import { Cause, FIELDS, Flag, IPS, Kind, RECORD_SIZE } from '../../src/records/layout.js';

const FX = path.resolve(__dirname, '../fixtures/conntrack');
const fixtures = fs.readdirSync(FX).filter((f) => f.endsWith('.txt'));

function importFile(file: string): { batches: RecordColumns[]; stats: ImportStats; baseSec: number } {
  const batches: RecordColumns[] = [];
  const gen = readConntrackText(file, { batchRecords: 64 });
  for (;;) {
    const r = gen.next();
    if (r.done) return { batches, ...r.value };
    batches.push(r.value);
  }
}

function importLines(lines: string[]): { cols: RecordColumns; stats: ImportStats } {
  const parts: Uint8Array[] = [];
  const imp = new ConntrackTextImporter({ baseSec: 1795401000, tableTimeSec: 1795401500, emit: (b) => parts.push(b.slice()) });
  for (const l of lines) imp.pushLine(l);
  const stats = imp.end();
  return { cols: decodeBatch(Buffer.concat(parts)), stats };
}

/** Independent count from the text: first src= of each line with `tag`. */
function countBySource(text: string, tag: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line.includes(tag)) continue;
    const src = /src=(\S+)/.exec(line)![1]!;
    m.set(src, (m.get(src) ?? 0) + 1);
  }
  return m;
}

describe('golden conntrack fixtures', () => {
  it('were recorded (run make-samples.sh if this fails)', () => {
    expect(fixtures.length).toBeGreaterThanOrEqual(8);
  });

  for (const f of fixtures.filter((f) => f.includes('-ts-id'))) {
    it(`${f}: per-source NEW and total DESTROY equal the lines`, () => {
      const text = fs.readFileSync(path.join(FX, f), 'utf8');
      const { batches, stats } = importFile(path.join(FX, f));
      const allocBySrc = new Map<string, number>();
      let destroys = 0;
      let updates = 0;
      for (const b of batches) {
        for (let i = 0; i < b.length; i++) {
          if (b.kind[i] === Kind.ALLOC) {
            const s = formatAddress(b.bytes, i * RECORD_SIZE + FIELDS.saddr.offset, b.family[i]!);
            allocBySrc.set(s, (allocBySrc.get(s) ?? 0) + 1);
          } else if (b.kind[i] === Kind.DESTROY) destroys++;
          else if (b.kind[i] === Kind.UPDATE) updates++;
        }
      }
      expect(allocBySrc).toEqual(countBySource(text, '[NEW]'));
      expect(destroys).toBe(text.split('\n').filter((l) => l.includes('[DESTROY]')).length);
      expect(updates).toBe(text.split('\n').filter((l) => l.includes('[UPDATE]')).length);
      // the workload: 77 flows, from 10.78.9.1 (23 udp + 13 tcp + 1 icmp) ...
      expect(allocBySrc.get('10.78.9.1')).toBe(37);
      expect(allocBySrc.get('fd78:9::3')).toBe(3);
      expect(stats.unparsed.count).toBe(0);
      expect(stats.notices.count).toBe(1); // the "flow events have been shown" trailer
      expect(stats.sawTimestamps && stats.sawIds).toBe(true);
      expect(stats.sawExtended).toBe(f.includes('-ext'));
      expect(stats.lines - stats.blank).toBe(stats.parsed + stats.notices.count);
    });
  }

  for (const f of fixtures.filter((f) => f.includes('-list-'))) {
    it(`${f}: every table line is an entry alive at start`, () => {
      const text = fs.readFileSync(path.join(FX, f), 'utf8');
      const { batches, stats } = importFile(path.join(FX, f));
      const n = text.split('\n').filter((l) => l.trim()).length;
      expect(stats.seen).toBe(n);
      expect(stats.unparsed.count).toBe(0);
      const b = batches[0]!;
      expect(b.kind[0]).toBe(Kind.SEEN);
      expect(b.cause[0]).toBe(Cause.AT_START);
    });
  }

  it('an entry has the same id in NEW, UPDATE and DESTROY, with and without id=', () => {
    for (const f of ['plain-ts-id-ext.txt']) {
      const { batches } = importFile(path.join(FX, f));
      const live = new Set<bigint>();
      let unmatched = 0;
      for (const b of batches) {
        for (let i = 0; i < b.length; i++) {
          if (b.kind[i] === Kind.ALLOC) live.add(b.id[i]!);
          else if (b.kind[i] === Kind.DESTROY && !live.delete(b.id[i]!)) unmatched++;
        }
      }
      expect(unmatched).toBe(0);
      expect(live.size).toBe(0);
    }
  });
});

describe('line parsing', () => {
  it('reads a TCP line with counters, marks, zones, delta-time', () => {
    const { cols, stats } = importLines([
      '[1795401679.320203]\t[DESTROY] ipv4     2 tcp      6 3 CLOSE src=10.78.9.4 dst=10.78.9.2 sport=35137 dport=8081 packets=1 bytes=60 [UNREPLIED] src=10.78.9.2 dst=10.78.9.4 sport=8081 dport=35137 packets=1 bytes=40 mark=7 zone=3 delta-time=2 id=1992486433',
    ]);
    expect(stats.parsed).toBe(1);
    expect(cols.kind[0]).toBe(Kind.DESTROY);
    expect(cols.ts[0]).toBe(679.320203e9);
    expect(cols.start[0]).toBe(677.320203e9);
    expect(cols.id[0]).toBe(1992486433n);
    expect([cols.proto[0], cols.state[0], cols.sport[0], cols.dport[0], cols.rsport[0], cols.rdport[0]]).toEqual([6, 8, 35137, 8081, 8081, 35137]);
    expect([cols.packets[0], cols.byteCount[0], cols.mark[0], cols.zone[0], cols.aux[0]]).toEqual([2, 100, 7, 3, 3]);
    expect(cols.status[0]! & IPS.SEEN_REPLY).toBe(0);
    expect(cols.flags[0]! & (Flag.HAS_COUNTERS | Flag.HAS_REPLY)).toBe(Flag.HAS_COUNTERS | Flag.HAS_REPLY);
  });

  it('tells the ICMP echo id from the entry id', () => {
    const { cols } = importLines([
      '[1795401539.634580]\t    [NEW] ipv4     2 icmp     1 3 src=10.78.9.1 dst=10.78.9.2 type=8 code=0 id=8318 [UNREPLIED] src=10.78.9.2 dst=10.78.9.1 type=0 code=0 id=8318 id=860730388',
      '    [NEW] icmpv6   58 30 src=fd78:9::1 dst=fd78:9::2 type=128 code=0 id=11038 [UNREPLIED] src=fd78:9::2 dst=fd78:9::1 type=129 code=0 id=11039',
    ]);
    expect([cols.id[0], cols.sport[0], cols.rsport[0], cols.icmpType[0]]).toEqual([860730388n, 8318, 8318, 8]);
    expect([cols.sport[1], cols.rsport[1], cols.icmpType[1], cols.family[1]]).toEqual([11038, 11039, 128, 10]);
    expect(cols.id[1]! > 0xffffffffn).toBe(true); // no id= printed: a tuple hash
  });

  it('counts unparseable lines with their numbers and reasons, and keeps going', () => {
    const { stats } = importLines([
      'garbage here',
      '',
      '[1795401539.634580]\t    [NEW] udp 17 30 src=10.0.0.1 dst=10.0.0.999 sport=1 dport=2',
      '[1795401539.634580]\t [BOGUS] udp 17 30 src=10.0.0.1 dst=10.0.0.2',
      '<?xml version="1.0" encoding="utf-8"?>',
      '[1795401539.634580]\t    [NEW] udp 17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2',
      '[1795401539.634580]\t    [NEW] udp 6 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2',
      '[1795401539.634580]\t    [NEW] udp 17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=99999',
    ]);
    expect(stats.parsed).toBe(1);
    expect(stats.blank).toBe(1);
    expect(stats.unparsed.count).toBe(6);
    expect(stats.unparsed.first_lines.map((u) => u.line)).toEqual([1, 3, 4, 5, 7, 8]);
    expect(stats.unparsed.first_lines.map((u) => u.why)).toEqual([
      "expected the protocol number after 'garbage'",
      'bad address dst=10.0.0.999',
      'unknown event tag [BOGUS]',
      'XML output (-o xml) is not supported; capture with -o timestamp,id,extended',
      'protocol udp with number 6',
      'bad dport=99999',
    ]);
  });

  it('turns the ENOBUFS warning into a LOSS record', () => {
    const { cols, stats } = importLines([
      '[1795401539.634580]\t    [NEW] udp 17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2 [UNREPLIED] src=10.0.0.2 dst=10.0.0.1 sport=2 dport=1 id=5',
      'WARNING: We have hit ENOBUFS! We are losing events.',
      'This message means that the current netlink socket buffer size is too small.',
      'Please, check --buffer-size in conntrack(8) manpage.',
    ]);
    expect(stats.lossWarnings).toBe(1);
    expect(stats.notices.count).toBe(3);
    expect(stats.unparsed.count).toBe(0);
    expect(Array.from(cols.kind)).toEqual([Kind.ALLOC, Kind.LOSS]);
    expect(cols.ts[1]).toBe(cols.ts[0]);
  });
});

describe('files that are not conntrack text', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ctimp-'));
  it('binary data and empty files give a clear error with the offset', () => {
    const bin = path.join(dir, 'bin');
    fs.writeFileSync(bin, Buffer.from([0x41, 0x42, 0, 1, 2]));
    expect(() => importFile(bin)).toThrow(/neither a ctscope capture .* nor conntrack text \(binary data at byte 2\)/);
    const empty = path.join(dir, 'empty');
    fs.writeFileSync(empty, '');
    expect(() => importFile(empty)).toThrow(ImportError);
    expect(() => importFile(path.join(dir, 'missing'))).toThrow(/no such file/);
  });

  it('an endless line is reported once, bounded, and the next lines still parse', () => {
    const f = path.join(dir, 'long');
    fs.writeFileSync(f, 'x'.repeat(300_000) + '\n[1795401539.634580]\t    [NEW] udp 17 30 src=10.0.0.1 dst=10.0.0.2 sport=1 dport=2\n');
    const { stats } = importFile(f);
    expect(stats.unparsed.count).toBe(1);
    expect(stats.unparsed.first_lines[0]!.why).toMatch(/longer than/);
    expect(stats.parsed).toBe(1);
  });
});
