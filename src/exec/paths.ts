/** Where the project's own pieces live (the venv, the addon), overridable by environment. */
import * as fs from 'fs';
import * as path from 'path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');

export function pythonPath(): string {
  const p = process.env.STRATUM_PYTHON ?? path.join(REPO_ROOT, '.venv', 'bin', 'python');
  if (!fs.existsSync(p)) {
    throw new Error(`the project's Python (${p}) is missing: run \`npm install\` in ${REPO_ROOT} (or set STRATUM_PYTHON)`);
  }
  return p;
}

export function addonPath(): string {
  return process.env.STRATUM_ADDON ?? path.join(REPO_ROOT, 'runtime-rs', 'node', 'stratum_runtime.node');
}
