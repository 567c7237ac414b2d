/** Rust kernels reached through the shim's substitutions, checked against the library itself. */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Coordinator } from '../src/exec/coordinator';

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
  });
});
