import { defineConfig } from 'vitest/config';

// Tiers (see docs/ARCHITECTURE.md, "Tests"): unit tests run in parallel and
// need no privilege; kernel and guest tests run one file at a time (they share
// the machine's conntrack settings) and scripts/run-tests.mjs runs them after
// the unit tier.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
