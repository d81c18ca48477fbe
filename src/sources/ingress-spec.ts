// `--ingress SPEC[,SPEC...]`: which interfaces the ingress arrival counter
// attaches to. SPEC is an interface name or glob in ctscope's own network
// namespace (`eth0`, `veth*`), or NETNS/IFACE for a namespace named under
// /run/netns (either part may be a glob: `cni-*/eth0`).

import { UserError } from '../errors.js';

export interface IngressSpec {
  /** The text as given. */
  text: string;
  /** Pattern of /run/netns names; null: ctscope's own namespace. */
  netns: RegExp | null;
  iface: RegExp;
}

const IFACE = /^[A-Za-z0-9_.:@*?[\]-]{1,64}$/;
const NETNS = /^[A-Za-z0-9_.*?[\]-]{1,255}$/;

/** Shell-style glob (`*`, `?`, `[...]`) to an anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) throw new UserError(`--ingress: unclosed '[' in '${glob}'`);
      const body = glob.slice(i + 1, end).replace(/\\/g, '\\\\');
      re += `[${body.startsWith('!') ? '^' + body.slice(1) : body}]`;
      i = end;
    } else re += c.replace(/[.+^${}()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function isGlob(s: string): boolean {
  return /[*?[]/.test(s);
}

/** Parses the value of --ingress; throws UserError naming the bad spec. */
export function parseIngressSpecs(value: string): IngressSpec[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) {
    throw new UserError(`--ingress: empty interface spec in '${value}'; give INTERFACE or NETNS/INTERFACE, comma-separated (e.g. --ingress eth0,veth*)`);
  }
  return parts.map((text) => {
    const slash = text.indexOf('/');
    const ns = slash >= 0 ? text.slice(0, slash) : null;
    const iface = slash >= 0 ? text.slice(slash + 1) : text;
    if (ns !== null && (!NETNS.test(ns) || ns === '.' || ns === '..')) {
      throw new UserError(`--ingress: '${text}': '${ns}' is not a namespace name under /run/netns (letters, digits, _ . - and globs)`);
    }
    if (!IFACE.test(iface) || iface.includes('/')) {
      throw new UserError(`--ingress: '${text}': '${iface}' is not an interface name or glob (e.g. eth0, veth*)`);
    }
    if (!isGlob(iface) && iface.length > 15) {
      throw new UserError(`--ingress: '${text}': interface names are at most 15 characters`);
    }
    return { text, netns: ns === null ? null : globToRegExp(ns), iface: globToRegExp(iface) };
  });
}
