// Whether a feed's records carry live entries' state changes. ctnetlink's
// UPDATE events do (a TCP entry goes SYN_SENT → ESTABLISHED → ... in the
// model as in the kernel); the eBPF lifecycle hooks see an entry's birth,
// confirmation and death only, so where they alone follow entries a live
// entry keeps the state it was confirmed with. /v1/status says so among its
// blind spots; the model is told (Model.statesFollowed) so that what reads
// live states as facts — the SYN-flood rule's established entries — does not.

/** A source as the feed's status (or a capture's header) names it. */
export interface SourceHook {
  name: string;
  hook: string | null;
  state?: string;
}

const UP = new Set(['running', 'degraded', 'stopped']);

/**
 * True unless the eBPF lifecycle hooks follow entries and ctnetlink does
 * not. A source that failed or was unavailable follows nothing; a replay's
 * recorded sources are 'stopped' (the state in which a capture lists them).
 */
export function statesFollowed(sources: readonly SourceHook[]): boolean {
  const up = (s: SourceHook) => s.state === undefined || UP.has(s.state);
  if (sources.some((s) => s.name === 'netlink' && up(s))) return true;
  return !sources.some((s) => s.name === 'lifecycle' && s.hook !== null && up(s));
}
