/**
 * What the merged graph says about the batch: its limit (every distinct node computed once at
 * full machine speed) and a readable explanation of what is shared. Pure.
 */
import type { GraphNode, MergedGraph } from './graph';

export interface ScriptTiming {
  script: string;
  wall_s: number;
}

/**
 * Lower bound of the batch's wall time: the distinct work (each node once, plus each script's
 * untraced Python glue, which cannot be shared) spread over all cores, plus the warm start
 * (pass 0 to compare with a wall time measured once the warm worker is up).
 */
export function batchLimitS(g: MergedGraph, scripts: ScriptTiming[], cores: number, warmStartS: number): number {
  let residualMs = 0;
  for (const s of scripts) residualMs += Math.max(0, s.wall_s * 1000 - (g.tracedMs.get(s.script) ?? 0));
  return (g.uniqueCostMs() + residualMs) / 1000 / Math.max(1, cores) + warmStartS;
}

export function explain(g: MergedGraph, top = 25): string {
  const st = g.stats();
  const lines = [
    `ops recorded: ${st.ops_total}   distinct computations: ${st.ops_unique}   shared nodes: ${st.shared_nodes}   opaque: ${st.opaque}`,
    `results served from the store: ${st.hits} (${(st.bytes_shared / 1e6).toFixed(1)} MB)`,
  ];
  const shared = g.shared().sort((a, b) => saved(b) - saved(a)).slice(0, top);
  if (shared.length) {
    lines.push('', 'most valuable shared nodes (cost x extra uses):');
    lines.push(`  ${'op'.padEnd(36)} ${'scripts'.padStart(7)} ${'cost ms'.padStart(9)}  lid`);
    for (const n of shared) {
      lines.push(`  ${n.op.slice(0, 36).padEnd(36)} ${String(n.scripts.size).padStart(7)} ${(n.costMs ?? 0).toFixed(1).padStart(9)}  ${n.lid.slice(0, 12)}`);
    }
  }
  const col = g.collisions();
  if (col.length) {
    lines.push('', 'files written by more than one script (last in script order wins when run one by one):');
    for (const c of col) lines.push(`  ${c.path}: ${c.scripts.join(', ')}`);
  }
  return lines.join('\n');
}

function saved(n: GraphNode): number {
  return (n.costMs ?? 0) * (n.scripts.size - 1);
}
