/** The end-of-batch summary: a leaderboard of scripts and the batch's sharing numbers. */
import * as fs from 'fs';
import type { BatchReport } from '../exec/coordinator';

/** The last non-empty stdout line of a script: usually its score. */
function lastOutputLine(file: string): string {
  try {
    const lines = fs.readFileSync(file, 'utf8').trimEnd().split('\n');
    return (lines[lines.length - 1] ?? '').trim();
  } catch {
    return '';
  }
}

export function summaryTable(r: BatchReport): string {
  const w = Math.min(40, Math.max(6, ...r.scripts.map((s) => s.id.length)));
  const rows = [`${'script'.padEnd(w)}  ${'status'.padEnd(7)} ${'wall s'.padStart(7)}  last line / error`];
  for (const s of r.scripts) {
    const tail = s.status === 'ok' ? lastOutputLine(s.stdout_path) : (s.error ?? '');
    rows.push(`${s.id.slice(0, w).padEnd(w)}  ${s.status.padEnd(7)} ${s.wall_s.toFixed(2).padStart(7)}  ${tail.slice(0, 70)}`);
  }
  const b = r.batch;
  rows.push('');
  rows.push(
    `${b.scripts} scripts, ${b.failed} failed, ${b.wall_s.toFixed(2)} s on ${b.workers} workers (limit ${b.limit_s.toFixed(2)} s)` +
      ` | ops ${b.ops_total}, distinct ${b.ops_unique}, shared nodes ${b.shared_nodes}, results reused ${b.hits} (${(b.bytes_shared / 1e6).toFixed(1)} MB)` +
      (b.prefix_hits ? `, pipeline prefixes reused ${b.prefix_hits} (${b.prefix_saved_s.toFixed(1)} s saved)` : '') +
      ` | Rust kernels: ${Object.entries(b.kernels).map(([k, v]) => `${k} ${v}`).join(', ') || 'none'}`,
  );
  const declined = Object.entries(b.kernel_declined);
  if (declined.length) rows.push(`left to pandas/sklearn: ${declined.map(([k, v]) => `${v}x ${k}`).join('; ')}`);
  for (const c of r.collisions) rows.push(`warning: ${c.path} was written by ${c.scripts.join(', ')} (run one by one, the last in order wins)`);
  return rows.join('\n') + '\n';
}
