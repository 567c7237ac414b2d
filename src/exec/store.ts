/**
 * Result store: one private directory in shared memory (/dev/shm when present), results addressed
 * by LID. Writers publish by write-then-rename, so a reader never maps a partial file. A memory
 * budget bounds it: least recently used results are dropped (readers that mapped them keep their
 * mapping; unlink does not take memory away from a live mapping).
 */
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';

export interface StoredResult {
  path: string;
  format: string;
  bytes: number;
}

const PREFIX = 'stratum-';

export class ResultStore {
  private entries = new Map<string, StoredResult>();
  private total = 0;
  evictions = 0;

  private constructor(readonly dir: string, readonly budgetBytes: number) {}

  static create(budgetBytes: number, base = defaultBase()): ResultStore {
    ResultStore.sweepStale(base);
    const dir = fs.mkdtempSync(path.join(base, `${PREFIX}${process.pid}-`));
    fs.chmodSync(dir, 0o700);
    return new ResultStore(dir, budgetBytes);
  }

  /** Remove store directories left by coordinators that died without cleaning up. */
  static sweepStale(base = defaultBase()): number {
    let removed = 0;
    let names: string[] = [];
    try {
      names = fs.readdirSync(base);
    } catch {
      return 0;
    }
    for (const name of names) {
      const m = /^stratum-(\d+)-/.exec(name);
      if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
      try {
        const full = path.join(base, name);
        if (fs.statSync(full).uid !== process.getuid?.()) continue;
        fs.rmSync(full, { recursive: true, force: true });
        removed++;
      } catch {
        /* another sweeper got there first */
      }
    }
    return removed;
  }

  get(lid: string): StoredResult | undefined {
    const e = this.entries.get(lid);
    if (e) {
      this.entries.delete(lid);
      this.entries.set(lid, e); // most recently used last
    }
    return e;
  }

  pathFor(lid: string, ext: string): string {
    return path.join(this.dir, `${lid}.${ext}`);
  }

  /** Is file directly inside the store directory? (kernel inputs written by scripts must be) */
  holds(file: string): boolean {
    return path.dirname(path.resolve(file)) === this.dir;
  }

  /** Accept a published result; the file must be inside the store and complete (renamed). */
  put(lid: string, r: StoredResult): void {
    const resolved = path.resolve(r.path);
    if (!this.holds(resolved)) throw new Error(`result for ${lid} is outside the store: ${r.path}`);
    const bytes = fs.statSync(resolved).size;
    const old = this.entries.get(lid);
    if (old) this.total -= old.bytes;
    this.entries.set(lid, { ...r, path: resolved, bytes });
    this.total += bytes;
    this.evict(lid);
  }

  private evict(keep: string): void {
    for (const [lid, e] of this.entries) {
      if (this.total <= this.budgetBytes) break;
      if (lid === keep) continue;
      this.entries.delete(lid);
      this.total -= e.bytes;
      this.evictions++;
      fs.rmSync(e.path, { force: true });
    }
  }

  get bytes(): number {
    return this.total;
  }

  get size(): number {
    return this.entries.size;
  }

  cleanup(): void {
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.entries.clear();
    this.total = 0;
  }
}

function defaultBase(): string {
  try {
    fs.accessSync('/dev/shm', fs.constants.W_OK);
    return '/dev/shm';
  } catch {
    return os.tmpdir();
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}
