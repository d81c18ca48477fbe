// The PODS frame of a capture: the node's pods as they change, so a replay on
// another machine attributes records to the same pods (by=pod, /v1/stale).
// Written when the pod map changes and, in full, at the start of every
// segment (a rotated file replays on its own). Readers of older versions skip
// the frame type; captures without it replay with no pods.

import type { PodRecord, PodsPayload } from '../model/pod-map.js';

export type { PodsPayload } from '../model/pod-map.js';

const isStr = (x: unknown): x is string => typeof x === 'string' && x.length <= 512;

function podRecord(x: unknown): PodRecord | null {
  if (!x || typeof x !== 'object') return null;
  const o = x as Record<string, unknown>;
  if (!isStr(o.uid) || !o.uid || !isStr(o.name) || !isStr(o.namespace) || typeof o.netns !== 'number' || typeof o.hostNetwork !== 'boolean') return null;
  if (!Array.isArray(o.ips) || o.ips.length > 16 || !o.ips.every(isStr)) return null;
  if (!o.labels || typeof o.labels !== 'object') return null;
  const labels: Record<string, string> = {};
  const entries = Object.entries(o.labels as Record<string, unknown>);
  if (entries.length > 256) return null;
  for (const [k, v] of entries) {
    if (!isStr(k) || !isStr(v)) return null;
    labels[k] = v;
  }
  return { uid: o.uid, name: o.name, namespace: o.namespace, labels, ips: o.ips as string[], netns: o.netns, hostNetwork: o.hostNetwork };
}

/** A decoded PODS payload checked field by field (a file is input like any other); null when malformed. */
export function parsePodsPayload(x: unknown): PodsPayload | null {
  if (!x || typeof x !== 'object') return null;
  const o = x as Record<string, unknown>;
  if (typeof o.ts !== 'number' || typeof o.full !== 'boolean' || !Array.isArray(o.upsert) || !Array.isArray(o.remove)) return null;
  const upsert: PodRecord[] = [];
  for (const p of o.upsert) {
    const r = podRecord(p);
    if (!r) return null;
    upsert.push(r);
  }
  if (!o.remove.every((u) => isStr(u))) return null;
  return { ts: o.ts, full: o.full, upsert, remove: o.remove as string[] };
}
