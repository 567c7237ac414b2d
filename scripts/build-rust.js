#!/usr/bin/env node
// Builds the stratum napi addon in release mode and leaves it at
// runtime-rs/node/stratum_runtime.node. Exits non-zero with one clear message on failure.
'use strict';

const { spawnSync } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const crateDir = path.join(root, 'runtime-rs', 'node');
const addon = path.join(crateDir, 'stratum_runtime.node');
const napiBin = path.join(root, 'node_modules', '.bin', process.platform === 'win32' ? 'napi.cmd' : 'napi');

function fail(message) {
  console.error(`[build-rust] FAILED: ${message}`);
  process.exit(1);
}

function main() {
  const t0 = Date.now();
  const cargo = spawnSync('cargo', ['--version'], { encoding: 'utf8' });
  if (cargo.error || cargo.status !== 0) {
    fail('cargo was not found on PATH; install Rust (https://rustup.rs) and run `npm run build` again.');
  }
  if (!fs.existsSync(napiBin)) {
    fail(`${path.relative(root, napiBin)} is missing; run \`npm install --ignore-scripts\` first.`);
  }
  console.log(`[build-rust] ${cargo.stdout.trim()}; building runtime-rs/node (release) ...`);
  const args = [
    'build',
    '--release',
    '--cwd', crateDir,
    '--manifest-path', 'Cargo.toml',
    '--package-json-path', 'package.json',
    '--target-dir', path.join(root, 'runtime-rs', 'target'),
    '--output-dir', '.',
    '--dts', 'index.d.ts',
  ];
  const build = spawnSync(napiBin, args, { cwd: root, stdio: 'inherit' });
  if (build.error) fail(`could not run napi: ${build.error.message}`);
  if (build.status !== 0) fail(`napi build exited with status ${build.status} (see the cargo output above).`);
  if (!fs.existsSync(addon)) fail(`the build finished but ${path.relative(root, addon)} was not produced.`);

  const loaded = require(addon);
  for (const fn of ['readCsv', 'hashFile', 'version']) {
    if (typeof loaded[fn] !== 'function') fail(`the addon does not export ${fn}().`);
  }
  const secs = ((Date.now() - t0) / 1000).toFixed(1);
  console.log(`[build-rust] OK: ${path.relative(root, addon)} (v${loaded.version()}) in ${secs}s`);
}

main();
