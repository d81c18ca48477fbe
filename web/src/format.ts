// Numbers and times as the page shows them (en, grouped digits, UTC).

export const int = (n: number): string => Math.round(n).toLocaleString('en');
export const num = (n: number, digits = 1): string => n.toLocaleString('en', { maximumFractionDigits: digits, minimumFractionDigits: 0 });
export const pct = (ratio: number, digits = 1): string => `${(ratio * 100).toFixed(digits)} %`;

export function duration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return 'not growing';
  if (s < 1) return 'now';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} days`;
}

/** HH:MM:SS UTC of a Unix time in seconds. */
export function hms(unixS: number): string {
  return new Date(unixS * 1000).toISOString().slice(11, 19);
}

/** YYYY-MM-DD HH:MM:SS UTC. */
export function stamp(unixS: number): string {
  const d = new Date(unixS * 1000).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, 19)} UTC`;
}

export function age(s: number): string {
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${(s / 3600).toFixed(1)} h`;
}
