// A clicked key as /v1/flows parameters: which dimension maps to which filter.
// A dimension without a mapping (or a key that is not one value, such as
// "ipv6-other") is not clickable.

const V4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const V6 = /^[0-9a-fA-F:.]+$/;
const isAddr = (k: string) => V4.test(k) || (k.includes(':') && V6.test(k));
const isInt = (k: string) => /^\d{1,10}$/.test(k);
const PROTOS = new Set(['tcp', 'udp', 'icmp', 'icmpv6', 'sctp', 'dccp', 'gre', 'udplite']);

export function flowParams(by: string, key: string): Record<string, string> | null {
  switch (by) {
    case 'src':
    case 'dst':
      return isAddr(key) ? { [by]: key } : null;
    case 'dport':
    case 'netns':
    case 'zone':
    case 'mark':
      return isInt(key) ? { [by]: key } : null;
    case 'proto':
      return PROTOS.has(key) ? { proto: key } : null;
    case 'src,dport': {
      const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(key);
      return m && isAddr(m[1]!) ? { src: m[1]!, dport: m[2]! } : null;
    }
    default:
      return null;
  }
}
