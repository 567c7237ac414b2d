/** Rust kernels reached through the shim's substitutions, checked against the library itself. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Coordinator } from '../src/exec/coordinator';
import { runPlainPython } from '../src/exec/plain';

const ROOT = path.resolve(__dirname, '..');

describe('kernel substitutions under the coordinator', () => {
  let coord: Coordinator;
  let out: string;
  beforeAll(async () => {
    out = fs.mkdtempSync(path.join(os.tmpdir(), 'kernels-test-'));
    coord = await Coordinator.start({ workers: 1 });
  });
  afterAll(async () => {
    await coord?.close();
    fs.rmSync(out, { recursive: true, force: true });
  });

  test('CountVectorizer / TfidfVectorizer / HashingVectorizer: randomised corpora and settings give identical fits and matrices', async () => {
    const r = await coord.runScripts(['tests/py/kernel_text_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stdout = fs.readFileSync(s.stdout_path, 'utf8');
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr: s.status === 'ok' ? '' : stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /text kernel conformance: (\d+) cases identical, (\d+) kernel runs, (\d+) declined/.exec(stdout);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(100);
    // the coordinator also counts runs whose result sklearn then rejects (an empty vocabulary)
    expect(r.batch.kernels.count_vocab + r.batch.kernels.hash_features).toBeGreaterThanOrEqual(Number(m![2]));
    expect(r.batch.kernels.hash_features).toBeGreaterThan(20);
    expect(Number(m![2])).toBeGreaterThan(100);
    // every decline is a document beyond Latin-1 (or none): the reason names the character
    for (const why of Object.keys(r.batch.kernel_declined)) expect(why).toMatch(/^(count_vocab|hash_features): character U\+[0-9A-F]{4,} is outside Latin-1$/);
  }, 300000);

  test('roc_auc_score, f1 / precision / recall: randomised binary problems give bit-identical scores; other calls stay with sklearn', async () => {
    const r = await coord.runScripts(['tests/py/kernel_metrics_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr: s.status === 'ok' ? '' : stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /metrics kernel conformance: (\d+) cases identical, (\d+) kernel runs/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(300);
    expect(r.batch.kernels.roc_auc).toBeGreaterThanOrEqual(300);
    expect(r.batch.kernels.binary_score).toBeGreaterThanOrEqual(200);
    // what reached a kernel and was declined: the cases where sklearn raises or warns
    for (const why of Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('roc_auc'))) expect(why).toMatch(/one class|NaN or infinity/);
    for (const why of Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('binary_score'))) expect(why).toMatch(/zero denominator|pos_label|more than two labels/);
  }, 300000);

  test('log_loss: randomised binary and multiclass problems give bit-identical losses, warnings and errors; other calls stay with sklearn', async () => {
    const r = await coord.runScripts(['tests/py/kernel_logloss_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr: s.status === 'ok' ? '' : stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /logloss kernel conformance: (\d+) cases identical, (\d+) kernel runs, (\d+) declined/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(440);
    expect(Number(m![2])).toBeGreaterThanOrEqual(250);
    expect(r.batch.kernels.log_loss).toBeGreaterThanOrEqual(Number(m![2]));
    // what reached the kernel and was declined: the cases where sklearn raises or warns
    for (const why of Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('log_loss'))) {
      expect(why).toMatch(/one label|labels in y_true|outside \[0, 1\]|may not sum to 1|sum to zero|non-finite sample_weight|overflow/);
    }
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('classification metrics: randomised labels of every kind give identical results through the label_codes kernel; other inputs stay with sklearn', async () => {
    const r = await coord.runScripts(['tests/py/kernel_classify_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /classify kernel conformance: (\d+) cases identical, (\d+) kernel runs, (\d+) declined, (\d+) confusion matrices reused/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![4])).toBeGreaterThanOrEqual(100);
    expect(Number(m![1])).toBeGreaterThanOrEqual(1200);
    expect(Number(m![2])).toBeGreaterThanOrEqual(500);
    expect(r.batch.kernels.label_codes).toBeGreaterThanOrEqual(Number(m![2]));
    // the shim checks what the kernel supports: nothing reaches it that it declines
    expect(Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('label_codes'))).toEqual([]);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('row takes of many-block frames on both cores: sort_values, drop_duplicates, masks, take, reindex, merge, sample and train_test_split give identical frames and blocks', async () => {
    const r = await coord.runScripts(['tests/py/kernel_take_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /take conformance: (\d+) cases identical, (\d+) parallel takes/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(1000);
    expect(Number(m![2])).toBeGreaterThanOrEqual(500);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('splitters and type_of_target: np.unique of str / int labels through label_codes and radix stable argsorts give the same folds as scikit-learn', async () => {
    const r = await coord.runScripts(['tests/py/kernel_splits_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /splits conformance: (\d+) cases identical; kernel runs (\d+), declines (\d+), radix argsorts (\d+)/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBe(1050);
    expect(Number(m![2])).toBeGreaterThanOrEqual(400);
    expect(Number(m![4])).toBeGreaterThanOrEqual(100);
    expect(r.batch.kernels.label_codes).toBeGreaterThanOrEqual(Number(m![2]));
    expect(Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('label_codes'))).toEqual([]);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('SimpleImputer median / most_frequent / mean: randomised arrays give bit-identical statistics; other calls stay with sklearn', async () => {
    const r = await coord.runScripts(['tests/py/kernel_impute_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /impute kernel conformance: (\d+) cases identical, (\d+) kernel runs/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(200);
    expect(r.batch.kernels.impute_stats).toBe(Number(m![2]));
    // what reached the kernel and was declined: NumPy warns (overflow) or its sort decides (signed zeros)
    for (const why of Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('impute_stats'))) expect(why).toMatch(/^impute_stats: (a sum overflows|the mode is a zero)/);
    expect(r.batch.shim_errors).toBe(0); // empty arrays among the cases: their LIDs are computed too
  }, 300000);

  test('RobustScaler: randomised arrays and parameters give bit-identical center_ / scale_ and transforms; other calls stay with NumPy', async () => {
    const r = await coord.runScripts(['tests/py/kernel_scale_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /scale kernel conformance: (\d+) cases identical, (\d+) kernel runs/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(250);
    expect(Number(m![2])).toBeGreaterThanOrEqual(150);
    expect(r.batch.kernels.scale_stats).toBe(Number(m![2]));
    // what reached the kernel and was declined: NumPy warns (All-NaN slice, overflow) or its partition decides (signed zeros)
    for (const why of Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('scale_stats'))) {
      expect(why).toMatch(/^scale_stats: (column \d+ has no values|the median of column \d+ overflows|a percentile of column \d+ overflows|the (median|percentile) of column \d+ depends on the order of 0.0 and -0.0)/);
    }
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('StandardScaler fit / fit_transform / partial_fit: randomised arrays and parameters give bit-identical mean_ / var_ / scale_ and transforms; other calls stay with NumPy', async () => {
    // the coordinator's counters add up over the tests of this file (the RobustScaler case runs the same kernel)
    const before = { ...coord.kernelRuns };
    const declinedBefore = new Set(Object.keys(coord.kernelDeclined));
    const r = await coord.runScripts(['tests/py/kernel_standard_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /standard kernel conformance: (\d+) cases identical, (\d+) kernel runs/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(300);
    expect(Number(m![2])).toBeGreaterThanOrEqual(200);
    expect(r.batch.kernels.scale_stats - (before.scale_stats ?? 0)).toBe(Number(m![2]));
    // what reached the kernel and was declined: NumPy warns (a column without values, an overflow)
    for (const why of Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('scale_stats') && !declinedBefore.has(k))) {
      expect(why).toMatch(/^scale_stats: (column \d+ has no values|a sum of column \d+ overflows)/);
    }
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('MinMaxScaler fit / fit_transform / partial_fit: randomised arrays and parameters give bit-identical data_min_ / data_max_ / scale_ / min_, transforms and warnings; other calls stay with NumPy', async () => {
    const before = { ...coord.kernelRuns };
    const declinedBefore = { ...coord.kernelDeclined };
    const r = await coord.runScripts(['tests/py/kernel_minmax_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /minmax kernel conformance: (\d+) cases identical, (\d+) kernel runs, (\d+) declined/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(450);
    expect(Number(m![2])).toBeGreaterThanOrEqual(350);
    expect(r.batch.kernels.minmax_stats - (before.minmax_stats ?? 0)).toBe(Number(m![2]));
    // every decline is one the script predicted, for one of the kernel's two reasons
    let declined = 0;
    for (const why of Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('minmax_stats'))) {
      expect(why).toMatch(/^minmax_stats: (the (min|max) of column \d+ depends on the order of 0.0 and -0.0|column \d+ has no values and NaN of several bit patterns)$/);
      declined += r.batch.kernel_declined[why] - (declinedBefore[why] ?? 0);
    }
    expect(declined).toBe(Number(m![3]));
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('classification trees (alone and in forests): randomised fits give identical trees; unsupported fits stay with sklearn', async () => {
    const r = await coord.runScripts(['tests/py/kernel_tree_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, error: s.error }).toEqual({ status: 'ok', error: null });
    expect(stderr).not.toMatch(/Traceback|Error/);
    const m = /tree kernel conformance: (\d+) cases identical, (\d+) kernel runs/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(260);
    expect(Number(m![2])).toBeGreaterThanOrEqual(400);
    // one kernel call per forest (its trees built together) or per lone tree
    expect(r.batch.kernels.tree_fit).toBeGreaterThanOrEqual(100);
    expect(r.batch.kernels.tree_fit).toBeLessThan(Number(m![2]));
    expect(Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('tree_fit'))).toEqual([]);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('OneHotEncoder / OrdinalEncoder on string columns: randomised fits and transforms identical; missing values and other inputs stay with sklearn', async () => {
    const r = await coord.runScripts(['tests/py/kernel_encode_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /encode kernel conformance: (\d+) cases identical, (\d+) kernel runs/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![2])).toBeGreaterThanOrEqual(300);
    expect(r.batch.kernels.encode_fit).toBeGreaterThanOrEqual(150);
    expect(Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('encode'))).toEqual([]);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('groupby aggregations on one int64 or str key: randomised frames and call forms give identical results; other calls stay with pandas', async () => {
    const r = await coord.runScripts(['tests/py/kernel_groupby_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /groupby kernel conformance: (\d+) cases identical, (\d+) kernel runs, (\d+) declined/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(1100);
    // the script counts a run per substituted call; each sends at least one request to the kernel
    expect(Number(m![2])).toBeGreaterThanOrEqual(1000);
    expect(r.batch.kernels.groupby_agg).toBeGreaterThanOrEqual(Number(m![2]));
    // the kernel's only declines: medians whose sign pandas' quickselect decides
    const declines = Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('groupby_agg'));
    expect(declines).toEqual([expect.stringMatching(/^groupby_agg: a median between 0\.0 and -0\.0/)]);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('kernel requests are checked: unknown kernels and inputs outside the store are declined', async () => {
    const bad = path.join(out, 'x.arrow');
    fs.writeFileSync(bad, 'not arrow');
    const run = (coord as unknown as { runKernel(m: object): Promise<{ status: string; reason?: string }> }).runKernel.bind(coord);
    expect(await run({ kernel: 'nope', input: bad, options: {} })).toMatchObject({ status: 'declined', reason: expect.stringMatching(/unknown kernel/) });
    fs.writeFileSync(bad, 'not arrow');
    expect(await run({ kernel: 'count_vocab', input: bad, options: {} })).toMatchObject({ status: 'declined', reason: expect.stringMatching(/outside the store/) });
    const inStore = path.join(coord.store.dir, 'in-test.arrow');
    fs.writeFileSync(inStore, 'not arrow');
    expect(await run({ kernel: 'count_vocab', input: inStore, options: {} })).toMatchObject({ status: 'declined', reason: expect.stringMatching(/kernel error: .*in-test\.arrow/) });
    expect(fs.existsSync(inStore)).toBe(false);
    // a column passed by reference must be a store result too (the kernel would map it)
    for (const refPath of ['/etc/passwd', undefined]) {
      fs.writeFileSync(inStore, 'not arrow');
      const refs = { key: { path: refPath, ino: 1, type: 'int64', len: 1, offset: 0, null_count: 0, buffers: [null, [0, 8]] } };
      expect(await run({ kernel: 'groupby_agg', input: inStore, options: { aggs: [], refs } })).toMatchObject({ status: 'declined', reason: expect.stringMatching(/outside the store/) });
      expect(fs.existsSync(inStore)).toBe(false);
    }
  });

  test('read_parquet: scripts reading one file share one Rust read and print what pandas prints', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'parquet-test-'));
    try {
      const make = [
        'import numpy as np, pandas as pd',
        'rng = np.random.default_rng(0)',
        'n = 20000',
        'df = pd.DataFrame({"id": np.arange(n), "x": rng.standard_normal(n), "s": pd.array(rng.choice(["a", "b", None], n), dtype="str"),',
        '                   "c": pd.Categorical(rng.choice(["lo", "hi"], n)), "t": pd.date_range("2020-01-01", periods=n, freq="min")})',
        'df.index = pd.Index(np.arange(n) * 3, name="k")',
        'df.to_parquet("data.parquet", row_group_size=6000)',
      ].join('\n');
      fs.writeFileSync(path.join(dir, 'make.py'), make);
      expect((await runPlainPython(path.join(dir, 'make.py'), dir)).code).toBe(0);
      const body = [
        'print(df.shape, list(df.columns), df.index.name)',
        'print(df.dtypes.to_string())',
        'print(df.head(3).to_string())',
        'print(pd.util.hash_pandas_object(df).sum())',
      ];
      const scripts: Record<string, string> = {
        'all.py': 'import stratum_shim\nimport pandas as pd\ndf = pd.read_parquet("data.parquet")\n',
        'all_again.py': 'import stratum_shim\nimport pandas as pd\ndf = pd.read_parquet("data.parquet")\ndf["x"] = df["x"] * 2\n',
        'columns.py': 'import stratum_shim\nimport pandas as pd\ndf = pd.read_parquet("data.parquet", columns=["s", "x"])\n',
        'filtered.py': 'import stratum_shim\nimport pandas as pd\ndf = pd.read_parquet("data.parquet", filters=[("id", "<", 100)])\n',
        'missing.py': 'import stratum_shim\nimport pandas as pd\ndf = pd.read_parquet("nope.parquet")\n',
        'corrupt.py': 'import stratum_shim\nimport pandas as pd\ndf = pd.read_parquet("make.py")\n',
      };
      for (const [name, src] of Object.entries(scripts)) fs.writeFileSync(path.join(dir, name), src + body.join('\n') + '\n');
      const files = Object.keys(scripts).map((n) => path.join(dir, n));
      const before = coord.kernelRuns.read_parquet ?? 0; // the RobustScaler case reads a Parquet file too
      const r = await coord.runScripts(files, { cwd: dir, outDir: path.join(dir, 'out') });
      for (const s of r.scripts) {
        const plain = await runPlainPython(s.script, dir);
        expect({ script: path.basename(s.script), out: fs.readFileSync(s.stdout_path, 'utf8'), code: s.exit_code }).toEqual({ script: path.basename(s.script), out: plain.stdout, code: plain.code });
      }
      for (const bad of ['missing.py', 'corrupt.py']) expect(r.scripts.find((s) => s.script.endsWith(bad))!.status).not.toBe('ok');
      // one Rust read per distinct call (all + all_again share one; filters stay with pandas);
      // the counters are the coordinator's, shared with the tests above
      expect(r.batch.kernels.read_parquet - before).toBe(2);
      // the one decline is the file that is not Parquet (pandas then raises, as without stratum)
      expect(Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('read_parquet'))).toEqual([expect.stringMatching(/^read_parquet: cannot read the Parquet footer/)]);
      expect(r.batch.hits).toBeGreaterThanOrEqual(1); // all_again.py loads all.py's table
      expect(r.batch.shim_errors).toBe(0);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300000);

  test('merge join indexers: randomised frames, keys and merge forms give identical results through the join_indexers kernel; other calls stay with pandas', async () => {
    const r = await coord.runScripts(['tests/py/kernel_merge_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /merge kernel conformance: (\d+) cases identical, (\d+) kernel runs, (\d+) declined/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(1600);
    // the script counts one run per call of get_join_indexers the contract covers, each one kernel request
    expect(Number(m![2])).toBeGreaterThanOrEqual(850);
    // no other test of this file merges
    expect(r.batch.kernels.join_indexers).toBe(Number(m![2]));
    // the kernel's declines: one key sorted on both sides and unique on one (pandas' merge-join
    // path), and two corners where pandas does something else than its definition
    const declines = Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('join_indexers'));
    expect(declines.sort()).toEqual([
      'join_indexers: a str key holds NUL: pandas sorts such keys as C strings',
      'join_indexers: as many inner-join rows as left rows, not one per left row: pandas\' inner_join short-cut reorders them',
      "join_indexers: sorted keys: pandas' merge-join path",
    ]);
    expect(declines.reduce((sum, k) => sum + r.batch.kernel_declined[k], 0)).toBe(Number(m![3]));
    expect(r.batch.kernel_declined["join_indexers: sorted keys: pandas' merge-join path"]).toBeGreaterThanOrEqual(50);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('DataFrame.duplicated / drop_duplicates over several columns: randomised frames and call forms give identical results through the duplicated kernel; other calls stay with pandas', async () => {
    const r = await coord.runScripts(['tests/py/kernel_dedup_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /dedup kernel conformance: (\d+) cases identical, (\d+) kernel runs/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(350);
    expect(Number(m![2])).toBeGreaterThanOrEqual(180);
    expect(r.batch.kernels.duplicated).toBe(Number(m![2]));
    // the shim checks what the kernel supports: nothing reaches it that it declines
    expect(Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('duplicated'))).toEqual([]);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('DataFrame.describe / Series.describe of int64 / float64 columns: randomised frames and call forms give bit-identical results through the describe kernel; what NumPy warns about and unsupported calls stay with pandas', async () => {
    const r = await coord.runScripts(['tests/py/kernel_describe_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /describe kernel conformance: (\d+) cases identical, (\d+) kernel runs, (\d+) declined/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(500);
    expect(Number(m![2])).toBeGreaterThanOrEqual(300);
    expect(r.batch.kernels.describe).toBe(Number(m![2]));
    // the kernel declines only what NumPy warns about (pandas must warn itself) and statistics
    // that depend on which of 0.0 and -0.0 NumPy reads; the script predicted each of them
    const declines = Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('describe'));
    for (const why of declines) {
      expect(why).toMatch(/^describe: column \d+: (an infinite value|the sum overflows|a square overflows|the sum of squares overflows|a quantile overflows|the min or max is a zero|a quantile depends on the order of 0\.0 and -0\.0)/);
    }
    expect(declines.reduce((sum, k) => sum + r.batch.kernel_declined[k], 0)).toBe(Number(m![3]));
    expect(Number(m![3])).toBeGreaterThanOrEqual(20);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('DataFrame.nunique / Series.nunique: randomised frames, Series and call forms give identical results through the nunique kernel; other calls stay with pandas', async () => {
    const r = await coord.runScripts(['tests/py/kernel_nunique_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /nunique kernel conformance: (\d+) cases identical, (\d+) kernel runs/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(550);
    expect(Number(m![2])).toBeGreaterThanOrEqual(300);
    expect(r.batch.kernels.nunique).toBe(Number(m![2]));
    // the shim checks what the kernel supports: nothing reaches it that it declines
    expect(Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('nunique'))).toEqual([]);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  test('sort_values (DataFrame and Series): randomised keys and call forms give identical results through the sort_indexer kernel or radix sorts of narrowed int keys; unstable sorts of tied keys are declined; other calls stay with pandas', async () => {
    const r = await coord.runScripts(['tests/py/kernel_sort_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /sort kernel conformance: (\d+) cases identical, (\d+) kernel runs, (\d+) declined, (\d+) radix sorts of narrowed keys/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(500);
    expect(Number(m![2])).toBeGreaterThanOrEqual(150);
    expect(Number(m![3])).toBeGreaterThanOrEqual(10);
    expect(Number(m![4])).toBeGreaterThanOrEqual(100);
    expect(r.batch.kernels.sort_indexer).toBe(Number(m![2]));
    // the only decline: an unstable sort of a key with equal values
    const declines = Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('sort_indexer'));
    expect(declines).toEqual(['sort_indexer: equal values in an unstable sort']);
    expect(r.batch.kernel_declined[declines[0]]).toBe(Number(m![3]));
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);

  // after sort_values: value_counts' large results are sorted by the sort_indexer kernel, and the
  // coordinator's kernel counts add up over the scripts it ran
  test('Series.value_counts: randomised Series, dtypes and parameters give identical results through the value_counts kernel; other calls stay with pandas', async () => {
    const r = await coord.runScripts(['tests/py/kernel_value_counts_conformance.py'], { cwd: ROOT, outDir: out });
    const s = r.scripts[0];
    const stderr = fs.readFileSync(s.stderr_path, 'utf8');
    expect({ status: s.status, stderr }).toEqual({ status: 'ok', stderr: '' });
    const m = /value_counts kernel conformance: (\d+) cases identical, (\d+) kernel runs/.exec(fs.readFileSync(s.stdout_path, 'utf8'));
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThanOrEqual(400);
    expect(Number(m![2])).toBeGreaterThanOrEqual(200);
    expect(r.batch.kernels.value_counts).toBe(Number(m![2]));
    // the shim checks what the kernel supports: nothing reaches it that it declines
    expect(Object.keys(r.batch.kernel_declined).filter((k) => k.startsWith('value_counts'))).toEqual([]);
    expect(r.batch.shim_errors).toBe(0);
  }, 300000);
});
