#!/usr/bin/env node
// Entry point of `npx stratum`: runs the TypeScript CLI through tsx.
const path = require('path');
require('tsx/cjs');
require(path.join(__dirname, '..', 'src', 'cli', 'main.ts')).main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`stratum: ${err && err.message ? err.message : err}\n`);
    process.exit(1);
  },
);
