// Numbers as the answers print them.

/** x to six decimals (answers carry seconds and shares, not float noise). */
export function round(x: number): number {
  return Math.round(x * 1e6) / 1e6;
}
