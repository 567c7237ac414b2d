/**
 * `npm run bench [-- --rows 20000,200000 --runs 3 --workers N --match REGEX --modes seq,par,stratum
 *                   --what batch,kernels --kernel-rows 200000 --kernels read_csv,impute_median]`
 * Runs the fixture batch three ways in one run — plain python one after another, plain python
 * N at a time (N = cores), and stratum — several times, and prints medians and ratios, plus the
 * batch's limit (every distinct node computed once on all cores, from the merged graph).
 * Then the kernel table: each library call stratum runs on a Rust kernel, timed in plain python
 * and through stratum (shim -> coordinator -> Rust -> back), with the same result checked; for
 * read_parquet also the call of a second script reading the same file (the shared case).
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
  what: Set<string>;
  /** kernel cases to run (all when empty) */
  kernels: Set<string>;
  kernelRows: number;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { rows: [20000], runs: 3, workers: os.cpus().length, match: /./, modes: new Set<Mode>(['seq', 'par', 'stratum']), what: new Set(['batch', 'kernels']), kernelRows: 200000, kernels: new Set() };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === '--rows') a.rows = v.split(',').map(Number);
    else if (argv[i] === '--runs') a.runs = Number(v);
    else if (argv[i] === '--workers') a.workers = Number(v);
    else if (argv[i] === '--match') a.match = new RegExp(v);
    else if (argv[i] === '--modes') a.modes = new Set(v.split(',') as Mode[]);
    else if (argv[i] === '--what') a.what = new Set(v.split(','));
    else if (argv[i] === '--kernel-rows') a.kernelRows = Number(v);
    else if (argv[i] === '--kernels') a.kernels = new Set(v.split(','));
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
  // null: no plain-python mode ran, so nothing to compare stratum's outputs with
  let identical: boolean | null = args.modes.has('seq') || args.modes.has('par') ? true : null;
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

interface KernelRow {
  kernel: string;
  size: string;
  library_s: number[];
  stratum_s: number[];
  identical: boolean;
}

/** one timed call per process and per batch: a repeated call in the same batch would be a memo hit */
/** `shared`: the timed call is the second script's, after a first script read the same file */
const KERNEL_CASES: { name: string; kernel: string; size: (rows: number) => string; shared?: boolean }[] = [
  { name: 'read_csv', kernel: 'pd.read_csv (transactions)', size: (r) => `${(5 * r).toLocaleString('en')} rows x 6` },
  { name: 'read_parquet', kernel: 'pd.read_parquet (transactions)', size: (r) => `${(5 * r).toLocaleString('en')} rows x 6` },
  { name: 'read_parquet_shared', kernel: 'pd.read_parquet, 2nd script', size: (r) => `${(5 * r).toLocaleString('en')} rows x 6`, shared: true },
  { name: 'roc_auc', kernel: 'roc_auc_score (binary, ties)', size: (r) => `${(5 * r).toLocaleString('en')} samples` },
  { name: 'f1', kernel: 'f1_score (binary)', size: (r) => `${(5 * r).toLocaleString('en')} samples` },
  { name: 'log_loss', kernel: 'log_loss (binary int labels, 1-D probabilities)', size: (r) => `${(5 * r).toLocaleString('en')} samples` },
  { name: 'log_loss_5', kernel: 'log_loss (5 int classes, (n, 5) probabilities)', size: (r) => `${(5 * r).toLocaleString('en')} samples` },
  { name: 'accuracy_str', kernel: 'accuracy_score (5 str classes, object arrays)', size: (r) => `${(5 * r).toLocaleString('en')} samples` },
  { name: 'f1_macro_str', kernel: "f1_score(average='macro') (5 str classes)", size: (r) => `${(5 * r).toLocaleString('en')} samples` },
  { name: 'report_str', kernel: 'classification_report (5 str classes)', size: (r) => `${(5 * r).toLocaleString('en')} samples` },
  { name: 'report_int', kernel: 'classification_report (5 int classes)', size: (r) => `${(5 * r).toLocaleString('en')} samples` },
  { name: 'impute_median', kernel: 'SimpleImputer(median).fit', size: (r) => `${(5 * r).toLocaleString('en')} rows x 4` },
  { name: 'impute_most_frequent', kernel: 'SimpleImputer(most_frequent).fit', size: (r) => `${(5 * r).toLocaleString('en')} rows x 4` },
  { name: 'impute_mean', kernel: 'SimpleImputer(mean).fit', size: (r) => `${(5 * r).toLocaleString('en')} rows x 4` },
  { name: 'robust_scaler', kernel: 'RobustScaler().fit', size: (r) => `${(5 * r).toLocaleString('en')} rows x 4` },
  { name: 'standard_scaler', kernel: 'StandardScaler().fit', size: (r) => `${(5 * r).toLocaleString('en')} rows x 4` },
  { name: 'minmax_scaler', kernel: 'MinMaxScaler().fit_transform (C-ordered array)', size: (r) => `${(5 * r).toLocaleString('en')} rows x 4` },
  { name: 'count_vectorizer', kernel: 'CountVectorizer((1,2)).fit_transform', size: (r) => `${r.toLocaleString('en')} docs` },
  { name: 'tfidf_vectorizer', kernel: 'TfidfVectorizer((1,2), min_df=2).fit_transform', size: (r) => `${r.toLocaleString('en')} docs` },
  { name: 'hashing_vectorizer', kernel: 'HashingVectorizer((1,2), 2**18).fit_transform', size: (r) => `${r.toLocaleString('en')} docs` },
  { name: 'random_forest', kernel: 'RandomForestClassifier(20, max_depth=12).fit', size: (r) => `${r.toLocaleString('en')} rows, one-hot` },
  { name: 'extra_trees', kernel: 'ExtraTreesClassifier(20, max_features=0.4).fit', size: (r) => `${r.toLocaleString('en')} rows, one-hot` },
  { name: 'onehot_encoder', kernel: 'OneHotEncoder().fit_transform (2 str columns)', size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'ordinal_encoder', kernel: 'OrdinalEncoder().fit_transform (2 str columns)', size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'groupby_named', kernel: 'groupby(int key).agg(8 named: float size/sum/mean/std/max, int sum, date max, str nunique)', size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'groupby_sum', kernel: "groupby(int key)['amount'].sum()", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'groupby_str_key', kernel: "groupby(str key)['amount'].agg(['mean', 'count'])", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'groupby_transform', kernel: "groupby(int key)['amount'].transform('mean')", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'groupby_median', kernel: "groupby(int key)['amount'].median()", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'merge_inner', kernel: "merge(on='customer_id') (int key, unsorted x sorted)", size: (r) => `${(5 * r).toLocaleString('en')} x ${r.toLocaleString('en')}` },
  { name: 'merge_left', kernel: "merge(on='customer_id', how='left')", size: (r) => `${(5 * r).toLocaleString('en')} x ${r.toLocaleString('en')}` },
  { name: 'drop_duplicates', kernel: "drop_duplicates(['customer_id', 'category'])", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'duplicated_3', kernel: "duplicated(['customer_id', 'amount', 'channel'])", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'nunique', kernel: 'nunique() (7 columns: 3 int64, float64, datetime, 2 str)', size: (r) => `${(5 * r).toLocaleString('en')} rows x 7` },
  { name: 'value_counts_id', kernel: "['transaction_id'].value_counts() (int64, all distinct)", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'value_counts_customer', kernel: "['customer_id'].value_counts() (int64, ~190k distinct)", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'value_counts_amount', kernel: "['amount'].value_counts() (float64)", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'describe', kernel: 'describe() (read_csv frame: 2 int64 + 1 float64 columns)', size: (r) => `${(5 * r).toLocaleString('en')} rows x 3` },
  { name: 'sort_values_2', kernel: "sort_values(['category', 'amount'], ascending=[True, False])", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'sort_values_id_date', kernel: "sort_values(['customer_id', 'date'])", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'sort_values_stable', kernel: "sort_values('amount', kind='stable')", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'sort_values_tied', kernel: "sort_values('amount', ascending=False) (ties: pandas sorts)", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'stratified_kfold', kernel: "StratifiedKFold(5, shuffle=True).split (6 str classes)", size: (r) => `${(5 * r).toLocaleString('en')} rows` },
  { name: 'train_test_split_stratify', kernel: "train_test_split(frame, stratify=str column)", size: (r) => `${(5 * r).toLocaleString('en')} rows x 6` },
];

function parseKernelOutput(text: string, where: string): { seconds: number[]; check: string } {
  const line = text.trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line) as { seconds: number[]; check: string };
  } catch {
    throw new Error(`kernel bench (${where}) printed no result: ${text.slice(-500)}`);
  }
}

async function kernelTable(args: Args): Promise<KernelRow[]> {
  const base = path.join(os.tmpdir(), `stratum-bench-kernels-${args.kernelRows}`);
  const data = path.join(base, 'data');
  fs.mkdirSync(base, { recursive: true });
  const gen = spawnSync(pythonPath(), [path.join(REPO_ROOT, 'fixtures', 'generate.py'), '--rows', String(args.kernelRows), '--out', data], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (gen.status !== 0) throw new Error('data generation failed');
  const toParquet = spawnSync(pythonPath(), ['-c', 'import pandas as pd, sys; pd.read_csv(sys.argv[1]).to_parquet(sys.argv[2])', path.join(data, 'transactions.csv'), path.join(data, 'transactions.parquet')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (toParquet.status !== 0) throw new Error('writing the Parquet file failed');
  // SimpleImputer's input: 4 float64 columns of different scales, rounded (ties), 10% missing
  const imputeData = [
    'import numpy as np, pandas as pd, sys',
    'n = int(sys.argv[1]); rng = np.random.default_rng(9)',
    'X = np.round(rng.standard_normal((n, 4)) * [1, 10, 100, 1000], 2); X[rng.random(X.shape) < 0.1] = np.nan',
    'pd.DataFrame(X, columns=list("abcd")).to_parquet(sys.argv[2])',
  ].join('\n');
  const toImpute = spawnSync(pythonPath(), ['-c', imputeData, String(5 * args.kernelRows), path.join(data, 'impute.parquet')], { stdio: ['ignore', 'ignore', 'inherit'] });
  if (toImpute.status !== 0) throw new Error('writing the imputer input failed');
  const script = path.join(REPO_ROOT, 'bench', 'kernels.py');
  // the second script of a shared case: the same code under another name
  const second = path.join(base, 'kernels_second.py');
  fs.copyFileSync(script, second);
  const rows: KernelRow[] = [];
  const unknown = [...args.kernels].filter((k) => !KERNEL_CASES.some((c) => c.name === k));
  if (unknown.length) throw new Error(`unknown kernel cases: ${unknown.join(', ')} (known: ${KERNEL_CASES.map((c) => c.name).join(', ')})`);
  for (const c of KERNEL_CASES.filter((k) => !args.kernels.size || args.kernels.has(k.name))) {
    const reps = args.runs;
    const env = { ...process.env, STRATUM_BENCH_DATA: data, STRATUM_BENCH_CASE: c.name, STRATUM_BENCH_KERNEL_ROWS: String(args.kernelRows) };
    const lib = { seconds: [] as number[], check: '' };
    const st = { seconds: [] as number[], check: '' };
    for (let i = 0; i < reps; i++) {
      const p = spawnSync(pythonPath(), [script], { env, cwd: base, encoding: 'utf8', maxBuffer: 1 << 26 });
      if (p.status !== 0) throw new Error(`kernel bench ${c.name} failed under python: ${p.stderr}`);
      const r = parseKernelOutput(p.stdout, `python ${c.name}`);
      lib.seconds.push(...r.seconds);
      lib.check = r.check;
    }
    const saved = { ...process.env };
    Object.assign(process.env, env);
    try {
      for (let i = 0; i < reps; i++) {
        const coord = await Coordinator.start({ workers: 1 });
        try {
          const rep = await coord.runScripts(c.shared ? [script, second] : [script], { cwd: base });
          const timed = rep.scripts[rep.scripts.length - 1];
          const out = fs.readFileSync(timed.stdout_path, 'utf8');
          for (const s of rep.scripts) if (s.status !== 'ok') throw new Error(`kernel bench ${c.name} failed under stratum: ${fs.readFileSync(s.stderr_path, 'utf8')}`);
          if (!rep.batch.kernel_runs) throw new Error(`kernel bench ${c.name}: no Rust kernel ran (${JSON.stringify(rep.batch.kernel_declined)})`);
          const r = parseKernelOutput(out, `stratum ${c.name}`);
          st.seconds.push(...r.seconds);
          st.check = r.check;
        } finally {
          await coord.close();
        }
      }
    } finally {
      for (const k of Object.keys(env)) if (!(k in saved)) delete process.env[k];
      Object.assign(process.env, saved);
    }
    const row = { kernel: c.kernel, size: c.size(args.kernelRows), library_s: lib.seconds, stratum_s: st.seconds, identical: lib.check === st.check };
    process.stderr.write(`  kernel ${c.name}: library ${fx(median(lib.seconds), 3)} s, stratum ${fx(median(st.seconds), 3)} s${row.identical ? '' : ' (RESULTS DIFFER)'}\n`);
    rows.push(row);
  }
  fs.rmSync(base, { recursive: true, force: true });
  return rows;
}

function kernelLines(rows: KernelRow[]): string[] {
  const w = Math.max(...rows.map((r) => r.kernel.length));
  const lines = ['', `${'kernel'.padEnd(w)}  ${'size'.padStart(16)}  ${'library'.padStart(9)}  ${'stratum'.padStart(9)}  ${'speed-up'.padStart(8)}  result`];
  for (const r of rows) {
    const [l, st] = [median(r.library_s), median(r.stratum_s)];
    lines.push(`${r.kernel.padEnd(w)}  ${r.size.padStart(16)}  ${fx(l, 3).padStart(8)}s  ${fx(st, 3).padStart(8)}s  ${fx(l / st, 2).padStart(7)}x  ${r.identical ? 'identical' : 'DIFFER'}`);
  }
  lines.push('(medians; stratum = the same call in a script under the coordinator, round trip included)');
  return lines;
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const dir = path.join(REPO_ROOT, 'fixtures', 'agent-scripts');
  const scripts = fs.readdirSync(dir).filter((f) => f.endsWith('.py') && args.match.test(f)).sort().map((f) => path.join(dir, f));
  process.stderr.write(`stratum bench: ${scripts.length} fixture scripts, ${args.runs} runs per size, ${args.workers} workers\n`);
  const results = [];
  if (args.what.has('batch')) for (const rows of args.rows) results.push(await benchSize(rows, args, scripts));
  const kernels = args.what.has('kernels') ? await kernelTable(args) : [];
  const lines: string[] = [];
  if (results.length) lines.push('', `${'rows'.padStart(8)} ${'sequential'.padStart(11)} ${`${args.workers} at once`.padStart(10)} ${'stratum'.padStart(8)} ${'limit'.padStart(7)}  ${'vs seq'.padStart(7)} ${'vs par'.padStart(7)} ${'of limit'.padStart(9)}  outputs`);
  for (const r of results) {
    const m = r.medians_s;
    lines.push(
      `${String(r.rows).padStart(8)} ${fx(m.seq).padStart(10)}s ${fx(m.par).padStart(9)}s ${fx(m.stratum).padStart(7)}s ${fx(m.limit).padStart(6)}s  ${fx(m.seq / m.stratum, 2).padStart(6)}x ${fx(m.par / m.stratum, 2).padStart(6)}x ${fx((m.limit / m.stratum) * 100, 0).padStart(8)}%  ${r.identical === null ? 'not compared' : r.identical ? 'identical' : 'DIFFER'}`,
    );
  }
  if (results.length) lines.push('(medians of the runs; "of limit": the limit as a share of stratum\'s wall time, 100% = at the limit)');
  if (kernels.length) lines.push(...kernelLines(kernels));
  process.stdout.write(lines.join('\n') + '\n');
  const outDir = path.join(REPO_ROOT, 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  fs.writeFileSync(file, JSON.stringify({ date: new Date().toISOString(), machine: { cores: os.cpus().length, node: process.version }, results, kernels }, null, 2) + '\n');
  process.stdout.write(`results: ${path.relative(process.cwd(), file)}\n`);
  if (results.some((r) => r.identical === false) || kernels.some((k) => !k.identical)) process.exitCode = 1;
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).message}\n`);
  process.exit(1);
});
