/**
 * The coordinator: serves the shim protocol (op records, memo lookups with single-flight),
 * runs read_csv on the Rust runtime, forks scripts from the warm pool, keeps the merged graph.
 */
import * as crypto from 'crypto';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { MergedGraph } from '../rewrite/graph';
import { batchLimitS } from '../rewrite/plan';
import { Connection, MessageHandler, TraceServer } from '../trace/server';
import type { KernelReply, LookupReply, ShimMessage, SourceInfo } from '../trace/types';
import { csvKernelOptions, parquetKernelOptions } from './kernels';
import { Asker, MemoTable } from './memo';
import { killGroup, Zygote } from './pool';
import { binaryScore, countVocab, describe, duplicated, encodeFit, encodeTransform, fillSpares, groupbyAgg, hashFeatures, hashFile, imputeStats, joinIndexers, KernelResult, labelCodes, logLoss, minmaxStats, nunique, readCsv, readParquet, rocAuc, scaleStats, sortIndexer, treeFit, valueCounts } from './runtime';
import { ResultStore } from './store';

export interface CoordinatorOptions {
  /** scripts run at once (default: number of cores) */
  workers?: number;
  /** bytes the result store may hold (default 4 GiB) */
  storeBudgetBytes?: number;
  /** run read_csv on the Rust runtime when it can match pandas (default true) */
  kernels?: boolean;
}

export interface RunOptions {
  /** write <stem>.stdout, <stem>.stderr and report.json here */
  outDir?: string;
  /** per-script time limit in seconds (0: none) */
  timeoutS?: number;
  /** working directory of every script (default: process.cwd()) */
  cwd?: string;
  onEvent?: (e: ProgressEvent) => void;
}

export type ScriptStatus = 'ok' | 'error' | 'timeout';

export interface ScriptResult {
  script: string;
  id: string;
  status: ScriptStatus;
  exit_code: number | null;
  wall_s: number;
  /** CPU seconds of the script's process (user + system), null if unknown */
  cpu_s: number | null;
  error: string | null;
  stdout_path: string;
  stderr_path: string;
}

export interface BatchReport {
  scripts: ScriptResult[];
  batch: {
    wall_s: number;
    scripts: number;
    failed: number;
    ops_total: number;
    ops_unique: number;
    shared_nodes: number;
    hits: number;
    bytes_shared: number;
    /** Pipeline prefix fits / transforms reused inside scripts (GridSearchCV over the last step...) */
    prefix_hits: number;
    prefix_saved_s: number;
    /** Rust kernel runs, in total and by kernel */
    kernel_runs: number;
    kernels: Record<string, number>;
    /** times a script waiting for another's result let the next script start */
    lent_slots: number;
    kernel_declined: Record<string, number>;
    limit_s: number;
    workers: number;
    warm_start_s: number;
    protocol_errors: number;
    shim_errors: number;
  };
  collisions: { path: string; scripts: string[] }[];
}

export type ProgressEvent =
  | { type: 'start'; index: number; id: string; script: string }
  | { type: 'end'; index: number; result: ScriptResult };

export class Coordinator implements MessageHandler {
  readonly graph = new MergedGraph();
  readonly memo: MemoTable;
  private askers = new Map<number, Asker>();
  private hashes = new Map<string, Promise<string>>();
  private closedScripts = new Map<string, () => void>();
  /** scripts started and not yet ended, and how many results each is waiting for */
  private running = new Set<string>();
  private waiting = new Map<string, number>();
  private pump: (() => void) | null = null;
  /** times a waiting script let the next one start */
  lentSlots = 0;
  /** threads each running script may use now (the one-byte file `<store>/cores`, read by the shims) */
  private grant = 0;
  private grantFd: number | null = null;
  /** Rust kernel runs by kernel name, and why kernels declined ("<kernel>: <reason>") */
  kernelRuns: Record<string, number> = {};
  kernelDeclined: Record<string, number> = {};
  private kernelSeq = 0;
  private sparesFill: Promise<unknown> | null = null;
  protocolErrors = 0;
  shimErrors = 0;

  private constructor(
    private readonly tmp: string,
    readonly store: ResultStore,
    private server: TraceServer | null,
    readonly zygote: Zygote,
    readonly workers: number,
    private readonly kernels: boolean,
  ) {
    this.memo = new MemoTable(store);
  }

  static async start(opts: CoordinatorOptions = {}): Promise<Coordinator> {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-run-'));
    fs.chmodSync(tmp, 0o700);
    const store = ResultStore.create(opts.storeBudgetBytes ?? 4 * 1024 ** 3);
    const workers = Math.max(1, opts.workers ?? os.cpus().length);
    const c = new Coordinator(tmp, store, null, new Zygote(), workers, opts.kernels ?? true);
    try {
      c.grantFd = fs.openSync(path.join(store.dir, 'cores'), 'w', 0o600);
      c.setGrant(c.threadsPerScript);
      c.refillSpares(); // (on the addon's thread pool, while the warm worker imports)
      c.server = await TraceServer.listen(path.join(tmp, 'coordinator.sock'), c);
      await c.zygote.start();
    } catch (e) {
      await c.close();
      throw e;
    }
    return c;
  }

  /**
   * Scripts running at once share the cores: each gets cores/workers BLAS and OpenMP threads.
   * Full-width pools in every script made waiting threads spin on cores the others needed
   * (4 HistGradientBoosting scripts: 29 s at full width, 9 s at one thread each; results
   * bitwise identical, checked by the conformance suite).
   */
  get threadsPerScript(): number {
    return Math.max(1, Math.floor(os.cpus().length / this.workers));
  }

  /**
   * Cores no script is using go to the running ones: when fewer than `workers` scripts compute
   * (the batch's last scripts), each may use cores/computing threads from its next traced call.
   */
  private updateGrant(): void {
    const n = this.computing();
    this.setGrant(n >= this.workers ? this.threadsPerScript : Math.max(1, Math.floor(os.cpus().length / Math.max(1, n))));
  }

  private setGrant(n: number): void {
    n = Math.min(255, n);
    if (n === this.grant || this.grantFd === null) return;
    fs.writeSync(this.grantFd, Buffer.from([n]), 0, 1, 0);
    this.grant = n;
  }

  get socketPath(): string {
    return path.join(this.tmp, 'coordinator.sock');
  }

  // ---- protocol ----

  onMessage(conn: Connection, msg: ShimMessage): void {
    const asker = this.asker(conn);
    switch (msg.t) {
      case 'hello':
        conn.script = msg.script;
        conn.pid = msg.pid;
        break;
      case 'ops':
        for (const r of msg.records) {
          if (r.op === 'shim_error') this.shimErrors++;
          this.graph.add({ ...r, script: conn.script || r.script });
        }
        break;
      case 'lookup':
        if (msg.source) void this.lookupSource(asker, msg.id, msg.op, msg.source);
        else this.memo.lookup(asker, msg.id, msg.lid);
        break;
      case 'publish':
        try {
          this.store.put(msg.lid, { path: msg.path, format: msg.format, bytes: msg.bytes });
          this.memo.published(msg.lid);
          if (msg.id !== undefined) conn.send({ t: 'ack', id: msg.id });
        } catch (e) {
          if (msg.id !== undefined) conn.send({ t: 'error', id: msg.id, message: (e as Error).message });
          else this.shimErrors++; // nobody waits for this reply: count the failure in the report
          this.memo.abandoned(msg.lid, asker);
        }
        break;
      case 'abandon':
        this.memo.abandoned(msg.lid, asker);
        break;
      case 'kernel':
        void this.runKernel(msg).then((r) => {
          // a script that went away meanwhile will not unlink its result
          if (conn.closed && r.status === 'ok') fs.rmSync(r.path, { force: true });
          else conn.send({ t: 'reply', id: msg.id, ...r });
        });
        break;
      case 'bye':
        break;
    }
  }

  onClose(conn: Connection): void {
    const a = this.askers.get(conn.id);
    if (a) this.memo.disconnected(a);
    this.askers.delete(conn.id);
    this.closedScripts.get(conn.script)?.();
  }

  onProtocolError(_conn: Connection, _err: Error): void {
    this.protocolErrors++;
  }

  private asker(conn: Connection): Asker {
    let a = this.askers.get(conn.id);
    if (!a) {
      a = {
        id: conn.id,
        reply: (requestId: number, r: LookupReply) => conn.send({ t: 'reply', id: requestId, ...r }),
        waiting: (on: boolean) => this.scriptWaiting(conn.script, on),
      };
      this.askers.set(conn.id, a);
    }
    return a;
  }

  private fileHash(s: SourceInfo): Promise<string> {
    const key = `${s.path}\0${s.size}\0${s.mtime_ns}`;
    let h = this.hashes.get(key);
    if (!h) {
      h = hashFile(s.path);
      this.hashes.set(key, h);
      h.catch(() => this.hashes.delete(key));
    }
    return h;
  }

  /**
   * read_csv and read_parquet: keyed by file content; read in Rust when the kernel can match
   * pandas (a Parquet result is the Arrow table pyarrow reads, converted by pandas in the shim).
   */
  private async lookupSource(asker: Asker, requestId: number, op: string, s: SourceInfo): Promise<void> {
    const src = SOURCES[op];
    if (!src) {
      asker.reply(requestId, { status: 'local', reason: `no file source ${JSON.stringify(op)}` });
      return;
    }
    let lid: string;
    try {
      lid = lidOf(src.name, await this.fileHash(s), s.kw_lid);
    } catch (e) {
      asker.reply(requestId, { status: 'local', reason: (e as Error).message });
      return;
    }
    const opts = this.kernels ? src.options(s) : null;
    if (!opts || !this.memo.claimForKernel(lid, asker, requestId)) {
      this.memo.lookup(asker, requestId, lid);
      return;
    }
    const out = this.store.pathFor(lid, 'arrow');
    try {
      const r = await src.kernel(s.path, opts, out);
      if (r.status === 'ok') {
        this.store.put(lid, { path: out, format: src.format, bytes: r.bytes });
        this.kernelDone(src.name, r);
        this.memo.published(lid);
        return;
      }
      this.kernelDone(src.name, r);
    } catch (e) {
      this.kernelDone(src.name, { status: 'declined', reason: `kernel error: ${(e as Error).message}` });
    }
    this.memo.abandoned(lid, 'kernel');
  }

  /**
   * Spare store files with their pages allocated for large kernel outputs (runtime.fillSpares),
   * made again after each kernel: their allocation happens between kernels instead of on a
   * result's path (read_parquet's 72 MB kernel, medians of 7: 56.9 ms without, 48.1 with spares
   * of 96 MB; 64 MB ones left 8 MB to allocate and gained less).
   */
  private refillSpares(): void {
    if (!this.kernels || SPARE_FILES <= 0 || this.sparesFill) return;
    this.sparesFill = fillSpares(this.store.dir, SPARE_FILES, SPARE_MB)
      .catch((e) => {
        if (process.env.STRATUM_DEBUG) process.stderr.write(`stratum: spare store files: ${(e as Error).message}\n`);
      })
      .finally(() => {
        this.sparesFill = null;
      });
  }

  private kernelDone(name: string, r: KernelResult): void {
    this.refillSpares();
    if (r.status === 'ok') this.kernelRuns[name] = (this.kernelRuns[name] ?? 0) + 1;
    else {
      const why = `${name}: ${r.reason}`;
      this.kernelDeclined[why] = (this.kernelDeclined[why] ?? 0) + 1;
    }
  }

  /**
   * A kernel a script asks for directly (its input written by the script into the store):
   * the result goes to a fresh file in the store, which the script unlinks once loaded.
   */
  private async runKernel(msg: { kernel: string; input: string; options: Record<string, unknown> }): Promise<KernelReply> {
    const fn = KERNELS[msg.kernel];
    try {
      if (!fn) return { status: 'declined', reason: `unknown kernel ${JSON.stringify(msg.kernel)}` };
      if (!this.kernels) return { status: 'declined', reason: 'kernels are disabled (--no-kernels)' };
      if (!this.store.holds(msg.input)) return { status: 'declined', reason: `kernel input outside the store: ${msg.input}` };
      // columns passed by reference (bridge.column_ref) must be store results too
      const refs = Object.values((msg.options?.refs ?? {}) as Record<string, { path?: unknown }>);
      const outside = refs.find((r) => typeof r?.path !== 'string' || !this.store.holds(r.path));
      if (outside) return { status: 'declined', reason: `kernel input outside the store: ${String(outside?.path)}` };
      const out = path.join(this.store.dir, `kernel-${++this.kernelSeq}.arrow`);
      let r: KernelResult;
      const t0 = performance.now();
      try {
        r = await fn(msg.input, msg.options ?? {}, out);
      } catch (e) {
        r = { status: 'declined', reason: `kernel error: ${(e as Error).message}` };
      }
      if (process.env.STRATUM_DEBUG) {
        const inRust = r.status === 'ok' ? ` (${r.elapsed_ms.toFixed(1)} ms in Rust)` : `: ${r.status}`;
        process.stderr.write(`stratum: kernel ${msg.kernel} ${(performance.now() - t0).toFixed(1)} ms${inRust}\n`);
      }
      this.kernelDone(msg.kernel, r);
      return r.status === 'ok' ? { status: 'ok', path: out, bytes: r.bytes } : r;
    } finally {
      fs.rmSync(msg.input, { force: true });
    }
  }

  // ---- running scripts ----

  /**
   * Runs every script; at most `workers` of them compute at once. A script waiting for another
   * script's result (single-flight) lends its core: the next script starts meanwhile, and the
   * waiter resumes alongside when its result is published.
   */
  async runScripts(scripts: string[], opts: RunOptions = {}): Promise<BatchReport> {
    const cwd = path.resolve(opts.cwd ?? process.cwd());
    const outDir = opts.outDir ? path.resolve(opts.outDir) : path.join(this.tmp, 'out');
    fs.mkdirSync(outDir, { recursive: true });
    const ids = scriptIds(scripts);
    const results: ScriptResult[] = new Array(scripts.length);
    const t0 = performance.now();
    await new Promise<void>((done, fail) => {
      let next = 0;
      let finished = 0;
      const pump = () => {
        while (next < scripts.length && this.computing() < this.workers) {
          const i = next++;
          this.running.add(ids[i]);
          opts.onEvent?.({ type: 'start', index: i, id: ids[i], script: scripts[i] });
          void this.runOne(scripts[i], ids[i], cwd, outDir, opts.timeoutS ?? 0)
            .then((r) => {
              results[i] = r;
              this.running.delete(ids[i]);
              this.waiting.delete(ids[i]);
              opts.onEvent?.({ type: 'end', index: i, result: r });
              if (++finished === scripts.length) done();
              else pump();
            })
            .catch(fail);
        }
        this.updateGrant();
      };
      this.pump = pump;
      if (scripts.length === 0) done();
      else pump();
    }).finally(() => {
      this.pump = null;
    });
    const wall = (performance.now() - t0) / 1000;
    const report = this.report(results, wall);
    if (opts.outDir) fs.writeFileSync(path.join(outDir, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    return report;
  }

  /** running scripts that are not waiting for another script's result */
  private computing(): number {
    let n = 0;
    for (const id of this.running) if (!this.waiting.get(id)) n++;
    return n;
  }

  private scriptWaiting(script: string, on: boolean): void {
    if (!this.running.has(script)) return;
    const n = (this.waiting.get(script) ?? 0) + (on ? 1 : -1);
    if (n > 0) this.waiting.set(script, n);
    else this.waiting.delete(script);
    if (on) {
      this.lentSlots++;
      this.pump?.();
    } else this.updateGrant();
  }

  private async runOne(script: string, id: string, cwd: string, outDir: string, timeoutS: number): Promise<ScriptResult> {
    const stdoutPath = path.join(outDir, `${id}.stdout`);
    const stderrPath = path.join(outDir, `${id}.stderr`);
    const abs = path.resolve(cwd, script);
    const base: ScriptResult = { script, id, status: 'error', exit_code: null, wall_s: 0, cpu_s: null, error: null, stdout_path: stdoutPath, stderr_path: stderrPath };
    if (!fs.existsSync(abs)) {
      fs.writeFileSync(stdoutPath, '');
      fs.writeFileSync(stderrPath, `python: can't open file '${abs}': [Errno 2] No such file or directory\n`);
      return { ...base, exit_code: 2, error: `no such file: ${abs}` };
    }
    const closed = new Promise<void>((resolve) => this.closedScripts.set(id, resolve));
    const t0 = performance.now();
    let timedOut = false;
    let timer: NodeJS.Timeout | undefined;
    try {
      const exit = await this.zygote.run(
        { script: abs, argv: [script], cwd, env: stringEnv(process.env), stdout: stdoutPath, stderr: stderrPath, socket: this.socketPath, store: this.store.dir, script_id: id, threads: this.threadsPerScript },
        (pid) => {
          if (timeoutS > 0) {
            timer = setTimeout(() => {
              timedOut = true;
              killGroup(pid);
            }, timeoutS * 1000);
          }
        },
      );
      const wall = (performance.now() - t0) / 1000;
      await Promise.race([closed, sleep(2000)]);
      const status: ScriptStatus = timedOut ? 'timeout' : exit.code === 0 ? 'ok' : 'error';
      let error: string | null = null;
      if (timedOut) error = `timed out after ${timeoutS} s`;
      else if (exit.signal !== null) error = `killed by signal ${exit.signal}`;
      else if (exit.code !== 0) error = lastLine(stderrPath) ?? `exit status ${exit.code}`;
      return { ...base, status, exit_code: exit.signal !== null ? null : exit.code, wall_s: round3(wall), cpu_s: exit.cpu_s ?? null, error };
    } catch (e) {
      return { ...base, wall_s: round3((performance.now() - t0) / 1000), error: (e as Error).message };
    } finally {
      if (timer) clearTimeout(timer);
      this.closedScripts.delete(id);
    }
  }

  report(results: ScriptResult[], wallS: number): BatchReport {
    const st = this.graph.stats();
    // comparable with wall_s, which starts once the warm worker is up
    const limit = batchLimitS(this.graph, results.map((r) => ({ script: r.id, wall_s: r.wall_s })), this.workers, 0);
    return {
      scripts: results,
      batch: {
        wall_s: round3(wallS),
        scripts: results.length,
        failed: results.filter((r) => r.status !== 'ok').length,
        ops_total: st.ops_total,
        ops_unique: st.ops_unique,
        shared_nodes: st.shared_nodes,
        hits: st.hits,
        bytes_shared: st.bytes_shared,
        prefix_hits: st.prefix_hits,
        prefix_saved_s: st.prefix_saved_s,
        kernel_runs: Object.values(this.kernelRuns).reduce((a, b) => a + b, 0),
        kernels: { ...this.kernelRuns },
        lent_slots: this.lentSlots,
        kernel_declined: this.kernelDeclined,
        limit_s: round3(limit),
        workers: this.workers,
        warm_start_s: this.zygote.preloadS,
        protocol_errors: this.protocolErrors,
        shim_errors: this.shimErrors,
      },
      collisions: this.graph.collisions(),
    };
  }

  async close(): Promise<void> {
    if (this.grantFd !== null) fs.closeSync(this.grantFd);
    this.grantFd = null;
    await this.zygote.stop().catch(() => undefined);
    await this.server?.close().catch(() => undefined);
    await this.sparesFill; // (it writes into the store's folder)
    this.store.cleanup();
    fs.rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** spare store files kept for large kernel outputs, and their size (STRATUM_STORE_SPARES=0: none) */
const SPARE_FILES = Number(process.env.STRATUM_STORE_SPARES ?? 2);
const SPARE_MB = 96;

/** kernels scripts may ask for by name (see shim-py/stratum_shim/kernels.py) */
/** The file sources: lid name, kernel options (null: pandas does the work), kernel, result format. */
const SOURCES: Record<string, { name: string; options: (s: SourceInfo) => Record<string, unknown> | null; kernel: typeof readCsv; format: string }> = {
  'pd.read_csv': { name: 'read_csv', options: csvKernelOptions, kernel: readCsv, format: 'arrow' },
  // an Arrow table that the shim converts with pandas' own read_parquet code
  'pd.read_parquet': { name: 'read_parquet', options: parquetKernelOptions, kernel: readParquet, format: 'arrow-table' },
};

const KERNELS: Record<string, (input: string, options: Record<string, unknown>, out: string) => Promise<KernelResult>> = {
  count_vocab: countVocab,
  hash_features: hashFeatures,
  roc_auc: rocAuc,
  binary_score: binaryScore,
  log_loss: logLoss,
  impute_stats: imputeStats,
  encode_fit: encodeFit,
  encode_transform: encodeTransform,
  tree_fit: treeFit,
  groupby_agg: groupbyAgg,
  label_codes: labelCodes,
  scale_stats: scaleStats,
  minmax_stats: minmaxStats,
  join_indexers: joinIndexers,
  duplicated,
  nunique,
  value_counts: valueCounts,
  describe,
  sort_indexer: sortIndexer,
};

export function lidOf(...parts: string[]): string {
  return crypto.createHash('blake2b512').update(parts.join('\0')).digest('hex').slice(0, 32);
}

/** Unique, readable ids: the file stem, with a numeric suffix for repeated stems. */
export function scriptIds(scripts: string[]): string[] {
  const seen = new Map<string, number>();
  return scripts.map((s) => {
    const stem = path.basename(s).replace(/\.py$/, '');
    const n = seen.get(stem) ?? 0;
    seen.set(stem, n + 1);
    return n === 0 ? stem : `${stem}-${n + 1}`;
  });
}

function stringEnv(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

function lastLine(file: string): string | null {
  try {
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    const last = lines[lines.length - 1]?.trim();
    return last ? last.slice(0, 500) : null;
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
const round3 = (x: number) => Math.round(x * 1000) / 1000;
