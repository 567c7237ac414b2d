#!/usr/bin/env node
// Project set-up, run by `npm install` (postinstall): the Python virtualenv with pinned packages
// and the shim, the Rust addon (release), the default fixture data, the `stratum` command.
// `node scripts/setup.js --only python|rust|fixtures|bin` runs one step.
const { spawnSync } = require('child_process');
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');

const ROOT = path.resolve(__dirname, '..');
const VENV = path.join(ROOT, '.venv');
const PY = path.join(VENV, 'bin', 'python');

function step(name) {
  process.stderr.write(`\n[stratum setup] ${name}\n`);
}

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: 'inherit', cwd: ROOT, ...opts });
  if (r.error) fail(`cannot run ${cmd}: ${r.error.message}`);
  if (r.status !== 0) fail(`\`${cmd} ${args.join(' ')}\` failed with exit status ${r.status}`);
}

function fail(msg) {
  process.stderr.write(`[stratum setup] error: ${msg}\n`);
  process.exit(1);
}

function findPython() {
  for (const cand of [process.env.STRATUM_BASE_PYTHON, 'python3.11', 'python3'].filter(Boolean)) {
    const r = spawnSync(cand, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
    if (r.status === 0) {
      const [maj, min] = r.stdout.trim().split('.').map(Number);
      if (maj === 3 && min >= 11) return cand;
    }
  }
  fail('Python >= 3.11 is needed (set STRATUM_BASE_PYTHON to its path)');
}

function python() {
  step('Python virtualenv (.venv) with pinned packages');
  if (!fs.existsSync(PY)) run(findPython(), ['-m', 'venv', VENV]);
  const req = path.join(ROOT, 'shim-py', 'requirements.txt');
  const want = crypto.createHash('sha256').update(fs.readFileSync(req)).update(fs.readFileSync(path.join(ROOT, 'shim-py', 'pyproject.toml'))).digest('hex');
  const stamp = path.join(VENV, '.stratum-installed');
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8') === want) {
    process.stderr.write('  up to date\n');
    return;
  }
  run(PY, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', req]);
  run(PY, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '--no-deps', '-e', path.join(ROOT, 'shim-py')]);
  fs.writeFileSync(stamp, want);
}

function rust() {
  step('Rust runtime (napi addon, release build)');
  run(process.execPath, [path.join(ROOT, 'scripts', 'build-rust.js')]);
}

function fixtures() {
  step('fixture data (data/: 20k-row datasets)');
  const out = path.join(ROOT, 'data');
  if (['houses.csv', 'customers.csv', 'transactions.csv'].every((f) => fs.existsSync(path.join(out, f)))) {
    process.stderr.write('  present\n');
    return;
  }
  run(PY, [path.join(ROOT, 'fixtures', 'generate.py'), '--rows', '20000', '--out', out]);
}

function bin() {
  // `npx stratum` inside this project: link the project's own command into node_modules/.bin.
  const dir = path.join(ROOT, 'node_modules', '.bin');
  const link = path.join(dir, 'stratum');
  fs.mkdirSync(dir, { recursive: true });
  try {
    fs.unlinkSync(link);
  } catch {
    /* not there */
  }
  fs.symlinkSync(path.relative(dir, path.join(ROOT, 'bin', 'stratum.js')), link);
}

const steps = { python, rust, fixtures, bin };
const only = process.argv.indexOf('--only');
if (only >= 0) {
  const name = process.argv[only + 1];
  if (!steps[name]) fail(`unknown step ${name}; steps: ${Object.keys(steps).join(', ')}`);
  steps[name]();
} else {
  for (const s of Object.values(steps)) s();
  process.stderr.write('\n[stratum setup] done. Try: npx stratum run fixtures/agent-scripts/*.py\n');
}
