#!/usr/bin/env node
// Usage: node scripts/kernel.js readCsv|readParquet IN OUT.arrow [OPTIONS_JSON]
// Runs one of the addon's source kernels and prints its JSON result; exit 2 on a usage error,
// 1 on a rejection. Used by the Python conformance tests.
'use strict';

const path = require('node:path');

const KERNELS = ['readCsv', 'readParquet'];
const [name, input, output, options = '{}'] = process.argv.slice(2);
if (!KERNELS.includes(name) || !input || !output) {
  console.error(`usage: node scripts/kernel.js ${KERNELS.join('|')} IN OUT.arrow [OPTIONS_JSON]`);
  process.exit(2);
}
const addon = require(path.resolve(__dirname, '..', 'runtime-rs', 'node', 'stratum_runtime.node'));
addon[name](path.resolve(input), options, path.resolve(output)).then(
  (json) => process.stdout.write(json + '\n'),
  (err) => {
    console.error(`${name}: ${err.message}`);
    process.exit(1);
  },
);
