#!/usr/bin/env node
// Entry point: the compiled control plane lives in dist/ (npm start / npm test
// build it; `npm run build` by hand).
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const main = new URL('../dist/cli/main.js', import.meta.url);
if (!existsSync(fileURLToPath(main))) {
  console.error("ctscope: not built yet (dist/ missing); run 'npm run build' or 'sudo npm start'");
  process.exit(2);
}
const { main: run } = await import(main.href);
process.exitCode = await run(process.argv.slice(2));
