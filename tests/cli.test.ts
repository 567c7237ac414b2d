/** The `stratum` command as a user runs it: exit statuses, --out files, help. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { REPO_ROOT } from '../src/exec/paths';

const BIN = path.join(REPO_ROOT, 'bin', 'stratum.js');
const run = (args: string[], cwd: string) => spawnSync(process.execPath, [BIN, ...args], { cwd, encoding: 'utf8', env: { ...process.env, CI: '1' } });

describe('stratum CLI', () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cli-test-'));
    fs.writeFileSync(path.join(dir, 'good.py'), 'print("score: 0.91")\n');
    fs.writeFileSync(path.join(dir, 'bad.py'), 'print("partial")\nraise ValueError("no")\n');
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('usage errors exit 2 with help', () => {
    for (const args of [[], ['run'], ['run', '--workers', '0', 'good.py'], ['frobnicate'], ['run', '--bogus', 'good.py']]) {
      const r = run(args, dir);
      expect(r.status).toBe(2);
      expect(r.stdout + r.stderr).toMatch(/Usage:/);
    }
    expect(run(['help'], dir).status).toBe(0);
  });

  test('run: outputs in script order, summary, report files, exit 0 / 1', () => {
    const ok = run(['run', '--out', 'out', 'good.py'], dir);
    expect(ok.status).toBe(0);
    expect(ok.stdout).toContain('── good.py  [ok');
    expect(ok.stdout).toContain('score: 0.91');
    expect(fs.readFileSync(path.join(dir, 'out', 'good.stdout'), 'utf8')).toBe('score: 0.91\n');
    const both = run(['run', '--out', 'out2', 'bad.py', 'good.py'], dir);
    expect(both.status).toBe(1);
    expect(both.stdout.indexOf('bad.py')).toBeLessThan(both.stdout.indexOf('── good.py'));
    expect(both.stdout).toContain("!! ValueError: no");
    const report = JSON.parse(fs.readFileSync(path.join(dir, 'out2', 'report.json'), 'utf8'));
    expect(report.scripts.map((s: { status: string }) => s.status)).toEqual(['error', 'ok']);
    expect(report.batch).toEqual(expect.objectContaining({ scripts: 2, failed: 1 }));
    for (const k of ['wall_s', 'ops_total', 'ops_unique', 'hits', 'bytes_shared']) expect(typeof report.batch[k]).toBe('number');
  });

  test('a missing script fails alone like python would report it', () => {
    const r = run(['run', '--quiet', 'nope.py', 'good.py'], dir);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/nope\s+error/);
    expect(r.stdout).toMatch(/good\s+ok/);
  });

  test('trace prints the op graph of one script', () => {
    fs.writeFileSync(path.join(dir, 't.py'), 'import pandas as pd\ndf = pd.DataFrame({"a": [1, 2]})\nprint(df["a"].sum())\n');
    const r = run(['trace', 't.py'], dir);
    expect(r.status).toBe(0);
    expect(r.stdout).toBe('3\n');
    expect(r.stderr).toMatch(/DataFrame.__getitem__/);
    expect(r.stderr).toMatch(/Series.sum/);
  });
});
