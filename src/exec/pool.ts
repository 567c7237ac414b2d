/**
 * The warm pool: one Python zygote that has imported pandas, scikit-learn and the shim; every
 * script runs in its own process forked from it (~40 ms instead of ~1.5 s of imports).
 * See shim-py/stratum_shim/zygote.py for the line protocol.
 */
import { ChildProcess, spawn } from 'child_process';
import * as readline from 'readline';
import { pythonPath, REPO_ROOT } from './paths';

export interface RunCommand {
  script: string;
  argv: string[];
  cwd: string;
  env: Record<string, string>;
  stdout: string;
  stderr: string;
  socket?: string;
  store?: string;
  script_id: string;
  /** BLAS/OpenMP threads for this script (cores / scripts running at once) */
  threads?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: number | null;
  /** CPU seconds (user + system) of the script's process, system seconds, minor page faults */
  cpu_s?: number | null;
  sys_s?: number | null;
  minflt?: number | null;
}

interface Pending {
  started: (pid: number) => void;
  exited: (e: ExitInfo) => void;
  failed: (err: Error) => void;
}

export class Zygote {
  private proc: ChildProcess | null = null;
  private pending = new Map<string, Pending>();
  private nextId = 1;
  private ready: Promise<number> | null = null;
  preloadS = 0;
  private stderrTail = '';

  /** Start the zygote (idempotent); resolves with the seconds its imports took. */
  start(): Promise<number> {
    if (this.ready) return this.ready;
    // The zygote's own shim stays inactive: each child connects with its own script id.
    const env: NodeJS.ProcessEnv = { ...process.env };
    delete env.STRATUM_SOCKET;
    delete env.STRATUM_TRACE;
    // OpenBLAS (NumPy's and SciPy's, one pool each) busy-waits 2^28 cycles (~0.1 s) before its
    // threads sleep, and every forked script makes both pools anew when cores.limit() sets their
    // size: ~200 ms of CPU spinning at each script's start, which slowed its first work ~4x on 2
    // cores (a store hit of read_parquet: 36 -> 9 ms without it). 2^20 cycles (under 1 ms) still
    // keeps the threads awake between back-to-back calls; loops of threaded gemm / gemv calls
    // timed the same with 20 and 28 here. Scripts get the coordinator's environment, not this one.
    env.OPENBLAS_THREAD_TIMEOUT ??= '20';
    const proc = spawn(pythonPath(), ['-m', 'stratum_shim.zygote'], { cwd: REPO_ROOT, env, stdio: ['pipe', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stderr!.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-4000);
      if (process.env.STRATUM_DEBUG) process.stderr.write(d);
    });
    this.ready = new Promise<number>((resolve, reject) => {
      const rl = readline.createInterface({ input: proc.stdout! });
      rl.on('line', (line) => {
        let ev: Record<string, unknown>;
        try {
          ev = JSON.parse(line);
        } catch {
          return;
        }
        if (ev.event === 'ready') {
          this.preloadS = Number(ev.preload_s);
          resolve(this.preloadS);
        } else this.onEvent(ev);
      });
      proc.on('error', (e) => reject(new Error(`cannot start the Python worker: ${e.message}`)));
      proc.on('exit', (code, signal) => {
        const why = `the Python worker exited (code ${code}, signal ${signal})${this.stderrTail ? `: ${this.stderrTail.trim().split('\n').slice(-3).join(' | ')}` : ''}`;
        reject(new Error(why));
        this.proc = null;
        this.ready = null;
        for (const p of this.pending.values()) p.failed(new Error(why));
        this.pending.clear();
      });
    });
    return this.ready;
  }

  private onEvent(ev: Record<string, unknown>): void {
    const p = this.pending.get(String(ev.id));
    if (!p) return;
    if (ev.event === 'started') p.started(Number(ev.pid));
    else if (ev.event === 'exit') {
      this.pending.delete(String(ev.id));
      p.exited({ code: ev.code as number | null, signal: ev.signal as number | null, cpu_s: (ev.cpu_s as number | undefined) ?? null, sys_s: (ev.sys_s as number | undefined) ?? null, minflt: (ev.minflt as number | undefined) ?? null });
    } else if (ev.event === 'error') {
      this.pending.delete(String(ev.id));
      p.failed(new Error(String(ev.message)));
    }
  }

  /** Fork a script process; `onStart` gets its pid (for timeouts). */
  async run(cmd: RunCommand, onStart: (pid: number) => void): Promise<ExitInfo> {
    await this.start();
    const id = String(this.nextId++);
    return new Promise<ExitInfo>((resolve, reject) => {
      this.pending.set(id, { started: onStart, exited: resolve, failed: reject });
      this.proc!.stdin!.write(JSON.stringify({ cmd: 'run', id, ...cmd }) + '\n');
    });
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    const exited = new Promise<void>((resolve) => proc.once('exit', () => resolve()));
    proc.stdin!.write(JSON.stringify({ cmd: 'exit' }) + '\n');
    const timer = setTimeout(() => proc.kill('SIGKILL'), 2000);
    await exited;
    clearTimeout(timer);
  }
}

/** Kill a script's whole process group (it called setsid, so its children go too). */
export function killGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
}
