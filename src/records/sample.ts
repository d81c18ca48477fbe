// Which entries a ctnetlink sampling of 1 in 2^shift keeps: the rule of the
// kernel filter (bpf/netlink_filter.bpf.c), in one place for the model, which
// drops what the filter will refuse, and for the tests.

/** Whether the entry whose CTA_ID (the low half of a ctnetlink record's id) is ctaId stays in a 1-in-2^shift sample. */
export function keptBySample(ctaId: number, shift: number): boolean {
  if (shift <= 0) return true;
  // multiplicative hash, top `shift` bits zero (as the filter computes it)
  return Math.imul(ctaId >>> 0, 0x9e3779b1) >>> 0 >>> (32 - shift) === 0;
}
