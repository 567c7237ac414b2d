/** The coordinator end to end with agent scripts that misbehave: each fails alone, clearly. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as net from 'net';
import * as os from 'os';
import * as path from 'path';
import { BatchReport, Coordinator } from '../src/exec/coordinator';
import { pythonPath } from '../src/exec/paths';
import { encodeFrame, FrameDecoder } from '../src/trace/protocol';

const SCRIPTS: Record<string, string> = {
  ok_main: `import sys, os\nprint(__name__, os.path.isabs(__file__), sys.argv)\nprint(os.getcwd() == ${JSON.stringify('CWD')})\n`,
  raises: `import pandas as pd\nprint("before")\ndf = pd.DataFrame({"a": [1, 2]})\ndf["missing"]\n`,
  hangs: `import time\nprint("sleeping", flush=True)\nwhile True:\n    time.sleep(1)\n`,
  loud: `for i in range(200000):\n    print(i, "x" * 20)\n`,
  writes: `import os\nos.makedirs("working", exist_ok=True)\nwith open("working/out.txt", "w") as f:\n    f.write("hello\\n")\nimport pandas as pd\npd.DataFrame({"a": [1.5, 2.5]}).to_csv("working/frame.csv", index=False)\nprint(open("working/out.txt").read().strip())\n`,
  writes_too: `import os\nos.makedirs("working", exist_ok=True)\nopen("working/out.txt", "w").write("hello\\n")\n`,
  odd_import: `import this_module_does_not_exist\n`,
  segfault: `import ctypes\nprint("about to crash", flush=True)\nctypes.string_at(0)\n`,
  exits: `import os, sys\nprint("bye")\nsys.stdout.flush()\nos._exit(3)\n`,
  sysexit_msg: `import sys\nsys.exit("fatal: bad config")\n`,
  stdin: `import sys\nprint(repr(sys.stdin.read()))\n`,
  // lazy one-time work done by the warm worker before the fork (zygote._warm), not per script
  warm: `import narwhals.plugins as p\nprint(p._discover_entrypoints.cache_info().currsize)\n`,
  // native thread pools made for the script (cores.limit) must not spin on its cores meanwhile
  idle_start: `import os, resource, time\nimport numpy\nr0 = resource.getrusage(resource.RUSAGE_SELF)\ntime.sleep(0.3)\nr1 = resource.getrusage(resource.RUSAGE_SELF)\ncpu = r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime\nprint("idle" if cpu < 0.05 else f"busy: {cpu:.3f} s of CPU while sleeping 0.3 s")\nprint(os.environ.get("OPENBLAS_THREAD_TIMEOUT"))\n`,
  syntax: `def broken(:\n    pass\n`,
  cv_a: `import numpy as np, pandas as pd\nfrom sklearn.model_selection import cross_val_score\nfrom sklearn.ensemble import RandomForestRegressor\nrng = np.random.default_rng(0)\nX = pd.DataFrame(rng.normal(size=(3000, 6)), columns=list("abcdef"))\ny = X["a"] * 3 + rng.normal(size=3000)\ns = cross_val_score(RandomForestRegressor(n_estimators=30, random_state=1), X, y, cv=3)\nprint(np.round(s, 10))\n`,
};
SCRIPTS.cv_b = SCRIPTS.cv_a + 'print("variant b")\n';
// a shared merge result is written to the store by a background thread while its script goes on
// writing to it: the other script must get the result as it was computed
// (frames read from files: results of frames built in a script are not shared)
const MERGE = 'import pandas as pd\na = pd.read_csv("a.csv")\nb = pd.read_csv("b.csv")\nm = a.merge(b, on="k")\n';
const MERGE_DATA: Record<string, string> = {
  'a.csv': 'k,v,s\n' + Array.from({ length: 400000 }, (_, i) => `${(i * 7919) % 100000},${((i * 37) % 1000) / 7},${['x', 'yy', 'zzz'][i % 3]}\n`).join(''),
  'b.csv': 'k,w,t\n' + Array.from({ length: 100000 }, (_, i) => `${i},${i / 3},${['p', 'q'][i % 2]}\n`).join(''),
};
const DIGEST = 'print(m.shape, pd.util.hash_pandas_object(m).sum())\n';
SCRIPTS.merge_writes = MERGE + 'm.loc[0, "v"] = -1.0\nm.iloc[1, 0] = 7\nm["w"] *= 2\n' + DIGEST;
// (the other two start their merge later: merge_writes computes and publishes it)
SCRIPTS.merge_reads = 'import time\ntime.sleep(1.5)\n' + MERGE + DIGEST;
SCRIPTS.merge_twice = 'import time\ntime.sleep(1.5)\n' + MERGE + DIGEST + 'm = a.merge(b, on="k")\n' + DIGEST;
SCRIPTS.warns = [
  'import warnings',
  'import numpy as np, pandas as pd',
  'from sklearn.linear_model import LogisticRegression',
  'df = pd.DataFrame({"a": ["x", "y"], "b": [1, 2]})',
  'print(df.select_dtypes(include="object").columns.tolist())',
  'X = np.random.default_rng(0).normal(size=(200, 3))',
  'LogisticRegression(max_iter=1).fit(X, (X[:, 0] > 0).astype(int))',
  'warnings.warn("mine")',
].join('\n') + '\n';

describe('coordinator with misbehaving scripts', () => {
  let dir: string;
  let coord: Coordinator;
  let report: BatchReport;
  const byId = (id: string) => report.scripts.find((s) => s.id === id)!;
  const out = (id: string) => fs.readFileSync(path.join(dir, 'out', `${id}.stdout`), 'utf8');
  const err = (id: string) => fs.readFileSync(path.join(dir, 'out', `${id}.stderr`), 'utf8');

  beforeAll(async () => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'coord-test-')));
    for (const [name, src] of Object.entries(SCRIPTS)) fs.writeFileSync(path.join(dir, `${name}.py`), src.replace('CWD', dir));
    for (const [name, text] of Object.entries(MERGE_DATA)) fs.writeFileSync(path.join(dir, name), text);
    coord = await Coordinator.start({ workers: 2 });
    report = await coord.runScripts(Object.keys(SCRIPTS).map((n) => `${n}.py`), { cwd: dir, outDir: path.join(dir, 'out'), timeoutS: 20 });
  }, 180000);

  afterAll(async () => {
    await coord?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a well-behaved script sees __main__, an absolute __file__, argv as given and the cwd', () => {
    expect(byId('ok_main')).toMatchObject({ status: 'ok', exit_code: 0 });
    expect(out('ok_main')).toBe("__main__ True ['ok_main.py']\nTrue\n");
  });

  test("a script starts with sklearn's lazy validation caches already warm", () => {
    expect(byId('warm')).toMatchObject({ status: 'ok' });
    expect(out('warm')).toBe('1\n');
  });

  test("a script's first moments are its own: no thread pool spins on its cores, its environment is untouched", () => {
    expect(byId('idle_start')).toMatchObject({ status: 'ok' });
    expect(out('idle_start')).toBe(`idle\n${process.env.OPENBLAS_THREAD_TIMEOUT ?? 'None'}\n`);
  });

  test('a script that raises fails alone, with the traceback python would print', () => {
    const r = byId('raises');
    expect(r).toMatchObject({ status: 'error', exit_code: 1, error: "KeyError: 'missing'" });
    expect(out('raises')).toBe('before\n');
    const plain = spawnSync(pythonPath(), ['raises.py'], { cwd: dir });
    expect(err('raises')).toBe(plain.stderr.toString());
    expect(err('raises')).not.toMatch(/stratum_shim/);
  });

  test('library warnings point at the script line and pass the same filters as under python', () => {
    const plain = spawnSync(pythonPath(), ['warns.py'], { cwd: dir });
    expect(byId('warns').status).toBe('ok');
    expect(err('warns')).toBe(plain.stderr.toString());
    expect(err('warns')).toMatch(/warns\.py:5: Pandas4Warning/);
  });

  test('a hanging script is killed at the time limit; the batch goes on', () => {
    expect(byId('hangs')).toMatchObject({ status: 'timeout', error: 'timed out after 20 s' });
    expect(out('hangs')).toBe('sleeping\n');
  });

  test('a script that prints a lot keeps every byte', () => {
    const plain = spawnSync(pythonPath(), ['loud.py'], { cwd: dir, maxBuffer: 1 << 28 });
    expect(byId('loud').status).toBe('ok');
    expect(out('loud')).toBe(plain.stdout.toString());
  });

  test('files written by scripts land where python would put them; collisions are reported', () => {
    expect(byId('writes')).toMatchObject({ status: 'ok' });
    expect(out('writes')).toBe('hello\n');
    expect(fs.readFileSync(path.join(dir, 'working', 'frame.csv'), 'utf8')).toBe('a\n1.5\n2.5\n');
    expect(report.collisions).toEqual([{ path: path.join(dir, 'working', 'out.txt'), scripts: ['writes', 'writes_too'] }]);
  });

  test('odd imports, crashes, os._exit, sys.exit(msg), stdin and syntax errors behave as under python', () => {
    expect(byId('odd_import')).toMatchObject({ status: 'error', exit_code: 1, error: "ModuleNotFoundError: No module named 'this_module_does_not_exist'" });
    expect(byId('segfault')).toMatchObject({ status: 'error', exit_code: null, error: 'killed by signal 11' });
    expect(out('segfault')).toBe('about to crash\n');
    expect(byId('exits')).toMatchObject({ status: 'error', exit_code: 3 });
    expect(out('exits')).toBe('bye\n');
    expect(byId('sysexit_msg')).toMatchObject({ status: 'error', exit_code: 1, error: 'fatal: bad config' });
    expect(out('stdin')).toBe("''\n");
    expect(byId('syntax')).toMatchObject({ status: 'error', exit_code: 1 });
    expect(err('syntax')).toMatch(/SyntaxError/);
  });

  test('the same expensive computation in two scripts runs once and both print the same', () => {
    expect(byId('cv_a').status).toBe('ok');
    expect(out('cv_b')).toBe(out('cv_a') + 'variant b\n');
    const plain = spawnSync(pythonPath(), ['cv_a.py'], { cwd: dir });
    expect(out('cv_a')).toBe(plain.stdout.toString());
    expect(report.batch.hits).toBeGreaterThanOrEqual(1);
    expect(report.batch.shared_nodes).toBeGreaterThanOrEqual(1);
  });

  test('a result written to the store in the background is the result as computed, whatever its script does next', () => {
    for (const id of ['merge_writes', 'merge_reads', 'merge_twice']) {
      const plain = spawnSync(pythonPath(), [`${id}.py`], { cwd: dir });
      expect(byId(id).status).toBe('ok');
      expect(out(id)).toBe(plain.stdout.toString());
    }
    expect(out('merge_twice')).toBe(out('merge_reads').repeat(2));
    // the merge result was published as Arrow (the only frame result these scripts share)
    expect(fs.readdirSync(coord.store.dir).filter((f) => /^[0-9a-f]+\.arrow$/.test(f)).length).toBeGreaterThanOrEqual(1);
  });

  test('report counts every script and writes report.json', () => {
    expect(report.batch.scripts).toBe(Object.keys(SCRIPTS).length);
    expect(report.batch.failed).toBe(7);
    const onDisk = JSON.parse(fs.readFileSync(path.join(dir, 'out', 'report.json'), 'utf8'));
    expect(onDisk.batch.ops_total).toBe(report.batch.ops_total);
    expect(report.batch.ops_unique).toBeLessThan(report.batch.ops_total);
  });

  test('malformed frames get an error and a closed connection, never a crash', async () => {
    const before = coord.protocolErrors;
    for (const bad of [Buffer.from([0, 0, 0, 3, 1, 2, 3]), encodeFrame({ t: 'launch_missiles' }), encodeFrame([1, 2]), Buffer.from([0xff, 0xff, 0xff, 0xff])]) {
      await new Promise<void>((resolve) => {
        const s = net.createConnection(coord.socketPath);
        s.on('error', () => resolve());
        s.on('end', () => resolve());
        s.resume();
        s.write(bad);
      });
    }
    expect(coord.protocolErrors).toBe(before + 4);
    const again = await coord.runScripts(['ok_main.py'], { cwd: dir });
    expect(again.scripts[0].status).toBe('ok');
  });

  test('a one-way publish the store refuses hands the computation to the next asker', async () => {
    // a raw client: hello, lookup (it owns the LID), then a one-way publish of a file outside the store
    const replies: Record<string, unknown>[] = [];
    const decoder = new FrameDecoder();
    const owner = net.createConnection(coord.socketPath);
    owner.on('data', (chunk) => replies.push(...(decoder.push(chunk) as Record<string, unknown>[])));
    const lid = 'ab'.repeat(16);
    const until = async (n: number) => {
      for (let i = 0; i < 200 && replies.length < n; i++) await new Promise((r) => setTimeout(r, 10));
    };
    owner.write(encodeFrame({ t: 'hello', script: 'raw', pid: 1 }));
    owner.write(encodeFrame({ t: 'lookup', id: 1, op: 'x', lid }));
    await until(1);
    expect(replies[0]).toMatchObject({ id: 1, status: 'compute' });
    const errors = coord.shimErrors;
    owner.write(encodeFrame({ t: 'publish', lid, path: '/etc/passwd', format: 'pickle', bytes: 1, elapsed_ms: 30 }));
    owner.write(encodeFrame({ t: 'lookup', id: 2, op: 'x', lid }));
    await until(2);
    expect(replies[1]).toMatchObject({ id: 2, status: 'compute' }); // not a hit on /etc/passwd
    expect(replies).toHaveLength(2); // no reply to the one-way publish
    expect(coord.shimErrors).toBe(errors + 1);
    owner.destroy();
  });
});

describe('scheduling', () => {
  test('a script waiting for another script\'s result lends its core to the next script', async () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'coord-sched-')));
    const coord = await Coordinator.start({ workers: 2 });
    try {
      fs.writeFileSync(path.join(dir, 'a.py'), SCRIPTS.cv_a);
      fs.writeFileSync(path.join(dir, 'b.py'), SCRIPTS.cv_a);
      fs.writeFileSync(path.join(dir, 'c.py'), 'print("third")\n');
      const starts: string[] = [];
      const r = await coord.runScripts(['a.py', 'b.py', 'c.py'], {
        cwd: dir,
        onEvent: (e) => {
          if (e.type === 'start') starts.push(e.id);
          else starts.push(`end ${e.result.id}`);
        },
      });
      expect(r.scripts.map((s) => s.status)).toEqual(['ok', 'ok', 'ok']);
      // a and b start together, one computes the CV while the other waits: c starts before either ends
      expect(r.batch.lent_slots).toBe(1);
      expect(starts.slice(0, 3)).toEqual(['a', 'b', 'c']);
      expect(r.batch.hits).toBeGreaterThanOrEqual(1);
    } finally {
      await coord.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120000);

  test('cores no script uses go to the running ones from their next traced call', async () => {
    const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'coord-grant-')));
    const coord = await Coordinator.start({ workers: 2 });
    try {
      fs.writeFileSync(
        path.join(dir, 'alone.py'),
        'from stratum_shim import cores\nprint(cores._LIMIT)\nimport pandas as pd\npd.DataFrame({"a": [1]}).sum()\nprint(cores._LIMIT)\n',
      );
      const r = await coord.runScripts(['alone.py'], { cwd: dir });
      // started with its share (2 cores / 2 workers), then alone in the batch: both cores
      expect(fs.readFileSync(r.scripts[0].stdout_path, 'utf8')).toBe('1\n2\n');
      expect(r.scripts[0].cpu_s).toBeGreaterThan(0);
    } finally {
      await coord.close();
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 60000);
});
