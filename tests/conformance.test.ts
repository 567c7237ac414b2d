/**
 * The contract: every fixture agent script prints the same stdout, exits with the same status and
 * writes the same files under `stratum run` as under plain `python script.py`.
 * Data size: STRATUM_CONFORMANCE_ROWS (default 5000) rows per dataset.
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BatchReport, Coordinator } from '../src/exec/coordinator';
import { pythonPath, REPO_ROOT } from '../src/exec/paths';
import { PlainRun, runPlainPython } from '../src/exec/plain';

const ROWS = Number(process.env.STRATUM_CONFORMANCE_ROWS ?? 5000);
const SCRIPT_DIR = path.join(REPO_ROOT, 'fixtures', 'agent-scripts');
const scripts = fs.readdirSync(SCRIPT_DIR).filter((f) => f.endsWith('.py')).sort();

/** Every file under dir except the input data, as relative path -> content. */
function tree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const full = path.join(d, e.name);
      const rel = path.relative(dir, full);
      if (rel === 'data' || rel === 'out') continue;
      if (e.isDirectory()) walk(full);
      else out.set(rel, fs.readFileSync(full, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

describe(`fixture scripts: stratum vs plain python (${ROWS} rows)`, () => {
  let base: string;
  const plain = new Map<string, PlainRun>();
  let report: BatchReport;

  beforeAll(async () => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'conformance-'));
    for (const side of ['plain', 'stratum']) {
      const gen = spawnSync(pythonPath(), [path.join(REPO_ROOT, 'fixtures', 'generate.py'), '--rows', String(ROWS), '--out', path.join(base, side, 'data')]);
      if (gen.status !== 0) throw new Error(`data generation failed: ${gen.stderr}`);
    }
    const queue = [...scripts];
    const worker = async () => {
      for (let s = queue.shift(); s; s = queue.shift()) plain.set(s, await runPlainPython(path.join(SCRIPT_DIR, s), path.join(base, 'plain')));
    };
    await worker(); // one at a time: the reference is `python script.py` alone on the machine
    const coord = await Coordinator.start({ workers: 2 });
    try {
      report = await coord.runScripts(scripts.map((s) => path.join(SCRIPT_DIR, s)), { cwd: path.join(base, 'stratum'), outDir: path.join(base, 'stratum', 'out') });
    } finally {
      await coord.close();
    }
  }, 1_800_000);

  afterAll(() => fs.rmSync(base, { recursive: true, force: true }));

  test('there are at least 40 fixture scripts', () => {
    expect(scripts.length).toBeGreaterThanOrEqual(40);
  });

  test.each(scripts)('%s: same stdout and exit status', (s) => {
    const r = report.scripts.find((x) => x.script.endsWith(`/${s}`))!;
    const p = plain.get(s)!;
    expect(fs.readFileSync(r.stdout_path, 'utf8')).toBe(p.stdout);
    expect(r.exit_code).toBe(p.code);
  });

  test('same files written', () => {
    const a = tree(path.join(base, 'plain'));
    const b = tree(path.join(base, 'stratum'));
    expect([...b.keys()].sort()).toEqual([...a.keys()].sort());
    for (const [k, v] of a) expect(b.get(k)).toBe(v);
    expect(a.size).toBeGreaterThan(0);
  });

  test('the batch shared work: distinct computations fewer than ops, results reused, CSVs parsed in Rust', () => {
    expect(report.batch.ops_unique).toBeLessThan(report.batch.ops_total);
    expect(report.batch.hits).toBeGreaterThan(0);
    expect(report.batch.kernel_runs).toBeGreaterThan(0);
    expect(report.batch.shim_errors).toBe(0);
    // every read_csv of the fixtures (parse_dates included) is one the kernel reproduces
    expect(Object.keys(report.batch.kernel_declined).filter((k) => k.startsWith('read_csv'))).toEqual([]);
    expect(report.batch.kernels.read_csv).toBeGreaterThanOrEqual(5);
  });
});
