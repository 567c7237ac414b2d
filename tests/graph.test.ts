import { mergeTraces } from '../src/rewrite/graph';
import { batchLimitS, explain } from '../src/rewrite/plan';
import type { OpRecord } from '../src/trace/types';

const rec = (script: string, op: string, lid: string | null, elapsed: number, extra: Partial<OpRecord> = {}): OpRecord => ({ script, op, lid, elapsed_ms: elapsed, inputs: [], status: 'local', ...extra });

describe('merged graph (CSE by LID)', () => {
  const a = [rec('a', 'pd.read_csv', 'L1', 100), rec('a', 'DataFrame.dropna', 'L2', 10), rec('a', 'Ridge.fit', 'L3', 50)];
  const b = [rec('b', 'pd.read_csv', 'L1', 2, { status: 'hit', bytes: 1000 }), rec('b', 'DataFrame.dropna', 'L2', 9), rec('b', 'Lasso.fit', 'L4', 70)];
  const c = [rec('c', 'pd.read_csv', 'L1', 1, { status: 'hit', bytes: 1000 }), rec('c', 'print', null, 5), rec('c', 'DataFrame.x', 'u123', 1)];

  test('before: 9 records; after: one node per distinct computation', () => {
    const g = mergeTraces([a, b, c]);
    expect(g.stats()).toEqual({ ops_total: 9, ops_unique: 6, shared_nodes: 2, opaque: 1, hits: 2, bytes_shared: 2000, prefix_hits: 0, prefix_saved_s: 0 });
    expect(g.nodes.get('L1')!.scripts).toEqual(new Set(['a', 'b', 'c']));
    expect(g.nodes.get('L1')!.costMs).toBe(100); // hits do not count as the cost of computing it
    expect(g.nodes.get('L2')!.costMs).toBe(9); // cheapest measured computation
  });

  test('local LIDs are never reported as shared', () => {
    const g = mergeTraces([[rec('a', 'op', 'u1', 1)], [rec('b', 'op', 'u1', 1)]]);
    expect(g.shared()).toHaveLength(0);
  });

  test('limit: distinct work plus unshareable glue, over the cores, plus one warm start', () => {
    const g = mergeTraces([a, b, c]);
    // unique cost: 100 + 9 + 50 + 70 + 1 (u123) + 5 (opaque) = 235 ms; glue: a 1000-160, b 1000-81, c 500-7
    const limit = batchLimitS(g, [{ script: 'a', wall_s: 1 }, { script: 'b', wall_s: 1 }, { script: 'c', wall_s: 0.5 }], 2, 0.5);
    expect(limit).toBeCloseTo((235 + 840 + 919 + 493) / 1000 / 2 + 0.5, 6);
  });

  test('prefix sharing summaries are counted, not merged as ops (their time is inside the traced ops)', () => {
    const share = (script: string, fit: number, tr: number, ms: number): OpRecord => ({ script, op: 'prefix_share', fit_hits: fit, transform_hits: tr, elapsed_ms: ms });
    const g = mergeTraces([[...a, share('a', 30, 30, 2500)], [share('b', 4, 2, 120.5)]]);
    expect(g.stats()).toMatchObject({ ops_total: 3, ops_unique: 3, prefix_hits: 66, prefix_saved_s: 2.621 });
    expect(g.uniqueCostMs()).toBe(160);
  });

  test('reports files written by several scripts', () => {
    const g = mergeTraces([[{ script: 'a', op: 'write_file', path: '/w/sub.csv' }], [{ script: 'b', op: 'write_file', path: '/w/sub.csv' }], [{ script: 'b', op: 'write_file', path: '/w/b.csv' }]]);
    expect(g.collisions()).toEqual([{ path: '/w/sub.csv', scripts: ['a', 'b'] }]);
    expect(explain(g)).toContain('/w/sub.csv: a, b');
  });
});
