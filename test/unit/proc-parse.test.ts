import { describe, expect, it } from 'vitest';
import { parseConntrackStat, parseSysctlInt, timeoutKey, utilizationLevel } from '../../src/proc/parse.js';

// Linux 6.x: clashres and chainlength, no searched/delete_list.
const NEW_KERNEL = `entries  clashres found new invalid ignore delete chainlength insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
000001f4  00000001 00000002 00000000 00000010 00000100 00000000 00000003 00000000 00000000 00000981 00000043 00000000  00000000 00000000 00000000 00000007
000001f4  00000002 00000000 00000000 00000001 00000005 00000000 00000001 00000000 00000001 00000001 00000000 00000000  00000000 00000000 00000000 00000000
`;

// Linux 4.x: searched and delete_list, no clashres/chainlength.
const OLD_KERNEL = `entries  searched found new invalid ignore delete delete_list insert insert_failed drop early_drop icmp_error  expect_new expect_create expect_delete search_restart
0000000a  00000000 00000001 00000000 00000002 00000003 00000000 00000000 00000000 00000000 00000004 00000000 00000000  00000000 00000000 00000000 00000000
0000000a  00000000 00000001 00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000005 00000000 00000000  00000000 00000000 00000000 00000001
`;

describe('parseConntrackStat', () => {
  it('sums a new kernel by column name, entries taken once', () => {
    const s = parseConntrackStat(NEW_KERNEL);
    expect(s.entries).toBe(500);
    expect(s.drop).toBe(0x981 + 1);
    expect(s.early_drop).toBe(0x43);
    expect(s.clashres).toBe(3);
    expect(s.chainlength).toBe(4);
    expect(s.insert_failed).toBe(1);
    expect(s.search_restart).toBe(7);
    expect(s.searched).toBeUndefined();
  });

  it('sums an old kernel by column name', () => {
    const s = parseConntrackStat(OLD_KERNEL);
    expect(s.entries).toBe(10);
    expect(s.searched).toBe(0);
    expect(s.delete_list).toBe(0);
    expect(s.drop).toBe(9);
    expect(s.invalid).toBe(2);
    expect(s.search_restart).toBe(1);
    expect(s.clashres).toBeUndefined();
  });

  it('rejects a line with the wrong number of columns and names it', () => {
    expect(() => parseConntrackStat('entries found\n00000001\n')).toThrow(/line 2 .* 1 columns, header has 2/);
  });

  it('rejects non-hex values and an empty file', () => {
    expect(() => parseConntrackStat('entries found\n00000001 zz\n')).toThrow(/not a hex number/);
    expect(() => parseConntrackStat('')).toThrow(/empty/);
  });
});

describe('sysctls', () => {
  it('parses integers and refuses anything else', () => {
    expect(parseSysctlInt('262144\n', 'max')).toBe(262144);
    expect(() => parseSysctlInt('abc', 'nf_conntrack_max')).toThrow(/nf_conntrack_max: expected an integer/);
  });

  it('names timeouts without the prefix', () => {
    expect(timeoutKey('nf_conntrack_tcp_timeout_time_wait')).toBe('tcp_timeout_time_wait');
    expect(timeoutKey('nf_conntrack_udp_timeout_stream')).toBe('udp_timeout_stream');
    expect(timeoutKey('nf_conntrack_max')).toBeNull();
  });

  it('levels utilization at 70/85/95 %', () => {
    expect(utilizationLevel(0.699)).toBe('ok');
    expect(utilizationLevel(0.7)).toBe('warn');
    expect(utilizationLevel(0.85)).toBe('action');
    expect(utilizationLevel(0.95)).toBe('critical');
    expect(utilizationLevel(1.2)).toBe('critical');
  });
});
