// Numbers and durations as the advice's titles print them.

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

export const pct = (x: number): string => `${(x * 100).toFixed(x >= 0.995 && x < 1 ? 1 : 0)} %`;

export function duration(s: number): string {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} days`;
}

export const round3 = (x: number): number => Math.round(x * 1000) / 1000;

/** A table as an operator knows it: its name, and the inode where that is not the name. */
export function tableName(t: { name: string; netns: number }): string {
  return t.name === String(t.netns) ? `netns ${t.netns}` : `${t.name} (netns ${t.netns})`;
}
