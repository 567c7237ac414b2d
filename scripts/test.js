#!/usr/bin/env node
// `npm test`: every suite — Rust (cargo test), Python (pytest), TypeScript (jest) — in that order,
// all of them even when one fails; exits non-zero if any failed.
const { spawnSync } = require('child_process');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const suites = [
  ['cargo test', 'cargo', ['test', '--release', '--manifest-path', 'runtime-rs/Cargo.toml']],
  ['pytest', path.join(ROOT, '.venv', 'bin', 'python'), ['-m', 'pytest', '-q', 'shim-py/tests', 'tests/py']],
  ['jest', process.execPath, [path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), '--runInBand']],
];
const only = process.argv.slice(2);
let failed = 0;
let ran = 0;
for (const [name, cmd, args] of suites) {
  if (only.length && !only.some((o) => name.includes(o))) continue;
  process.stderr.write(`\n=== ${name} ===\n`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT });
  ran++;
  if (r.status !== 0) {
    failed++;
    process.stderr.write(`=== ${name} FAILED (exit ${r.status ?? r.signal}) ===\n`);
  }
}
process.stdout.write(`\n${ran - failed} passed, ${failed} failed\n`);
process.exit(failed ? 1 : 0);
