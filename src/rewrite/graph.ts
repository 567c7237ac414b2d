/**
 * The merged graph of a batch: the union of every script's trace, keyed by LID. Two records with
 * the same LID are the same computation (common-subexpression elimination by lineage); a node
 * used by several scripts is shared. Pure: no I/O.
 */
import type { OpRecord } from '../trace/types';

export interface GraphNode {
  lid: string;
  op: string;
  inputs: string[];
  scripts: Set<string>;
  /** how many records named this LID */
  uses: number;
  /** cheapest measured cost of computing it (ms), from records that computed it */
  costMs: number | null;
  hits: number;
  rows: number;
  bytes: number;
}

export interface GraphStats {
  ops_total: number;
  ops_unique: number;
  shared_nodes: number;
  opaque: number;
  hits: number;
  bytes_shared: number;
  /** Pipeline prefix fits and transforms reused inside scripts, and the time they would have taken */
  prefix_hits: number;
  prefix_saved_s: number;
}

const isLocal = (lid: string) => lid.startsWith('u');

export class MergedGraph {
  readonly nodes = new Map<string, GraphNode>();
  opsTotal = 0;
  /** records without a shareable identity: each one is its own computation */
  opaqueOps = 0;
  opaqueCostMs = 0;
  hits = 0;
  bytesShared = 0;
  prefixHits = 0;
  prefixSavedMs = 0;
  /** per script: total elapsed of its traced ops (ms) */
  readonly tracedMs = new Map<string, number>();
  readonly writes = new Map<string, Set<string>>();

  add(rec: OpRecord): void {
    if (rec.op === 'write_file') {
      if (rec.path) {
        const s = this.writes.get(rec.path) ?? new Set<string>();
        s.add(rec.script);
        this.writes.set(rec.path, s);
      }
      return;
    }
    if (rec.op === 'shim_error') return;
    if (rec.op === 'prefix_share') {  // nested in the script's traced ops: not a node of its own
      this.prefixHits += (rec.fit_hits ?? 0) + (rec.transform_hits ?? 0);
      this.prefixSavedMs += rec.elapsed_ms ?? 0;
      return;
    }
    this.opsTotal++;
    const elapsed = rec.elapsed_ms ?? 0;
    this.tracedMs.set(rec.script, (this.tracedMs.get(rec.script) ?? 0) + elapsed);
    if (rec.status === 'hit') {
      this.hits++;
      this.bytesShared += rec.bytes ?? 0;
    }
    if (!rec.lid) {
      this.opaqueOps++;
      this.opaqueCostMs += elapsed;
      return;
    }
    let n = this.nodes.get(rec.lid);
    if (!n) {
      n = { lid: rec.lid, op: rec.op, inputs: rec.inputs ?? [], scripts: new Set(), uses: 0, costMs: null, hits: 0, rows: rec.rows ?? 0, bytes: 0 };
      this.nodes.set(rec.lid, n);
    }
    n.uses++;
    n.scripts.add(rec.script);
    if (rec.status === 'hit') n.hits++;
    else n.costMs = n.costMs === null ? elapsed : Math.min(n.costMs, elapsed);
    if (rec.bytes) n.bytes = rec.bytes;
  }

  addAll(records: OpRecord[]): void {
    for (const r of records) this.add(r);
  }

  /** Nodes computed once and used by more than one script. */
  shared(): GraphNode[] {
    return [...this.nodes.values()].filter((n) => n.scripts.size > 1 && !isLocal(n.lid));
  }

  stats(): GraphStats {
    return {
      ops_total: this.opsTotal,
      ops_unique: this.nodes.size + this.opaqueOps,
      shared_nodes: this.shared().length,
      opaque: this.opaqueOps,
      hits: this.hits,
      bytes_shared: this.bytesShared,
      prefix_hits: this.prefixHits,
      prefix_saved_s: Math.round(this.prefixSavedMs) / 1000,
    };
  }

  /** Sum of the cost of computing every distinct node once (ms). */
  uniqueCostMs(): number {
    let total = this.opaqueCostMs;
    for (const n of this.nodes.values()) total += n.costMs ?? 0;
    return total;
  }

  /** Files written by more than one script (their final content depends on the order). */
  collisions(): { path: string; scripts: string[] }[] {
    return [...this.writes.entries()].filter(([, s]) => s.size > 1).map(([path, s]) => ({ path, scripts: [...s].sort() }));
  }
}

/** CSE of a batch: merge the traces of many scripts into one graph. */
export function mergeTraces(traces: OpRecord[][]): MergedGraph {
  const g = new MergedGraph();
  for (const t of traces) g.addAll(t);
  return g;
}
