#!/usr/bin/env node
// Usage: node scripts/csv-kernel.js IN.csv OUT.arrow [OPTIONS_JSON]
// Runs the addon's readCsv and prints its JSON result; exit 2 on a usage error, 1 on a rejection.
'use strict';

const path = require('node:path');

const [input, output, options = '{}'] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node scripts/csv-kernel.js IN.csv OUT.arrow [OPTIONS_JSON]');
  process.exit(2);
}
const addon = require(path.resolve(__dirname, '..', 'runtime-rs', 'node', 'stratum_runtime.node'));
addon.readCsv(path.resolve(input), options, path.resolve(output)).then(
  (json) => process.stdout.write(json + '\n'),
  (err) => {
    console.error(`csv-kernel: ${err.message}`);
    process.exit(1);
  },
);
