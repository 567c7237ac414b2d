/**
 * `npm run bench [-- --rows 20000,200000 --runs 3 --workers N --match REGEX --modes seq,par,stratum]`
 * Runs the fixture batch three ways in one run — plain python one after another, plain python
 * N at a time (N = cores), and stratum — several times, and prints medians and ratios, plus the
 * batch's limit (every distinct node computed once on all cores, from the merged graph).
 */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BatchReport, Coordinator } from '../src/exec/coordinator';
import { pythonPath, REPO_ROOT } from '../src/exec/paths';
import { runPlainPython } from '../src/exec/plain';

type Mode = 'seq' | 'par' | 'stratum';

interface Args {
  rows: number[];
  runs: number;
  workers: number;
  match: RegExp;
  modes: Set<Mode>;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rows: [20000], runs: 3, workers: os.cpus().length, match: /./, modes: new Set<Mode>(['seq', 'par', 'stratum']) };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--rows') a.rows = v.split(',').map(Number);
    else if (argv[i] === '--runs') a.runs = Number(v);
    else if (argv[i] === '--workers') a.workers = Number(v);
    else if (argv[i] === '--match') a.match = new RegExp(v);
    else if (argv[i] === '--modes') a.modes = new Set(v.split(',') as Mode[]);
    else throw new Error(`unknown argument ${argv[i]}`);
    i++;
  }
  return a;
}

const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
/** n.toFixed(d), or '-' for a mode that did not run */
const fx = (n: number, d = 1) => (Number.isFinite(n) ? n.toFixed(d) : '-');

async function plainBatch(scripts: string[], cwd: string, n: number): Promise<{ wall: number; outputs: Map<string, string> }> {
  const outputs = new Map<string, string>();
  const queue = [...scripts];
  const t0 = performance.now();
  await Promise.all(Array.from({ length: n }, async () => {
    for (let s = queue.shift(); s; s = queue.shift()) outputs.set(s, (await runPlainPython(s, cwd)).stdout);
  }));
  return { wall: (performance.now() - t0) / 1000, outputs };
}

async function stratumBatch(scripts: string[], cwd: string, workers: number): Promise<{ wall: number; report: BatchReport; outputs: Map<string, string> }> {
  const t0 = performance.now();
  const coord = await Coordinator.start({ workers });
  let report: BatchReport;
  const outputs = new Map<string, string>();
  try {
    report = await coord.runScripts(scripts, { cwd });
    for (const r of report.scripts) outputs.set(r.script, fs.readFileSync(r.stdout_path, 'utf8'));
  } finally {
    await coord.close();
  }
  return { wall: (performance.now() - t0) / 1000, report, outputs };
}

function freshDir(base: string, name: string): string {
  const dir = path.join(base, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  fs.cpSync(path.join(base, 'data'), path.join(dir, 'data'), { recursive: true });
  return dir;
}

async function benchSize(rows: number, args: Args, scripts: string[]) {
  const base = path.join(os.tmpdir(), `stratum-bench-${rows}`);
  fs.mkdirSync(base, { recursive: true });
  const gen = spawnSync(pythonPath(), [path.join(REPO_ROOT, 'fixtures', 'generate.py'), '--rows', String(rows), '--out', path.join(base, 'data')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (gen.status !== 0) throw new Error('data generation failed');
  const times = { seq: [] as number[], par: [] as number[], stratum: [] as number[], limit: [] as number[] };
  let identical = true;
  let last: BatchReport | null = null;
  for (let run = 1; run <= args.runs; run++) {
    const skipped = { wall: NaN, outputs: new Map<string, string>() };
    const seq = args.modes.has('seq') ? await plainBatch(scripts, freshDir(base, 'seq'), 1) : skipped;
    const par = args.modes.has('par') ? await plainBatch(scripts, freshDir(base, 'par'), args.workers) : skipped;
    const st = await stratumBatch(scripts, freshDir(base, 'stratum'), args.workers);
    const reference = args.modes.has('seq') ? seq.outputs : par.outputs;
    for (const s of scripts) if (reference.size && reference.get(s) !== st.outputs.get(s)) {
      identical = false;
      process.stderr.write(`  output differs: ${path.basename(s)}\n`);
    }
    times.seq.push(seq.wall);
    times.par.push(par.wall);
    times.stratum.push(st.wall);
    times.limit.push(st.report.batch.limit_s + st.report.batch.warm_start_s); // stratum's wall includes the warm start
    last = st.report;
    process.stderr.write(`  run ${run}/${args.runs} at ${rows} rows: sequential ${seq.wall.toFixed(1)} s, ${args.workers} at a time ${par.wall.toFixed(1)} s, stratum ${st.wall.toFixed(1)} s (limit ${times.limit[times.limit.length - 1].toFixed(1)} s)\n`);
  }
  fs.rmSync(base, { recursive: true, force: true });
  const m = { seq: median(times.seq), par: median(times.par), stratum: median(times.stratum), limit: median(times.limit) };
  return { rows, scripts: scripts.length, runs: args.runs, workers: args.workers, medians_s: m, all_s: times, identical, batch: last!.batch };
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const dir = path.join(REPO_ROOT, 'fixtures', 'agent-scripts');
  const scripts = fs.readdirSync(dir).filter((f) => f.endsWith('.py') && args.match.test(f)).sort().map((f) => path.join(dir, f));
  process.stderr.write(`stratum bench: ${scripts.length} fixture scripts, ${args.runs} runs per size, ${args.workers} workers\n`);
  const results = [];
  for (const rows of args.rows) results.push(await benchSize(rows, args, scripts));
  const lines = ['', `${'rows'.padStart(8)} ${'sequential'.padStart(11)} ${`${args.workers} at once`.padStart(10)} ${'stratum'.padStart(8)} ${'limit'.padStart(7)}  ${'vs seq'.padStart(7)} ${'vs par'.padStart(7)} ${'of limit'.padStart(9)}  outputs`];
  for (const r of results) {
    const m = r.medians_s;
    lines.push(
      `${String(r.rows).padStart(8)} ${fx(m.seq).padStart(10)}s ${fx(m.par).padStart(9)}s ${fx(m.stratum).padStart(7)}s ${fx(m.limit).padStart(6)}s  ${fx(m.seq / m.stratum, 2).padStart(6)}x ${fx(m.par / m.stratum, 2).padStart(6)}x ${fx((m.limit / m.stratum) * 100, 0).padStart(8)}%  ${r.identical ? 'identical' : 'DIFFER'}`,
    );
  }
  lines.push('(medians of the runs; "of limit": the limit as a share of stratum\'s wall time, 100% = at the limit)');
  process.stdout.write(lines.join('\n') + '\n');
  const outDir = path.join(REPO_ROOT, 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: { cores: os.cpus().length, node: process.version }, results }, null, 2) + '\n');
  process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
  if (results.some((r) => !r.identical)) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
