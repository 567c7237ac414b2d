import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { Asker, MemoTable } from '../src/exec/memo';
import { ResultStore } from '../src/exec/store';
import type { LookupReply } from '../src/trace/types';

function asker(id: number) {
  const replies: [number, LookupReply][] = [];
  const waits: boolean[] = [];
  const a: Asker & { replies: typeof replies; waits: boolean[] } = {
    id,
    replies,
    waits,
    reply: (rid, r) => replies.push([rid, r]),
    waiting: (on) => waits.push(on),
  };
  return a;
}

describe('single-flight memo table and result store', () => {
  let base: string;
  let store: ResultStore;
  beforeEach(() => {
    base = fs.mkdtempSync(path.join(os.tmpdir(), 'memo-test-'));
    store = ResultStore.create(1000, base);
  });
  afterEach(() => fs.rmSync(base, { recursive: true, force: true }));

  const publish = (lid: string, bytes: number) => {
    const p = store.pathFor(lid, 'pkl');
    fs.writeFileSync(p, Buffer.alloc(bytes));
    store.put(lid, { path: p, format: 'pickle', bytes });
  };

  test('first asker computes, concurrent askers wait, all get the published result', () => {
    const m = new MemoTable(store);
    const [a, b, c] = [asker(1), asker(2), asker(3)];
    m.lookup(a, 1, 'X');
    m.lookup(b, 1, 'X');
    m.lookup(c, 5, 'X');
    expect(a.replies).toEqual([[1, { status: 'compute', lid: 'X' }]]);
    expect(b.replies).toEqual([]);
    publish('X', 10);
    m.published('X');
    expect(b.replies[0][1]).toMatchObject({ status: 'hit', format: 'pickle', bytes: 10 });
    expect(c.replies[0][0]).toBe(5);
    m.lookup(asker(4), 1, 'X');
    expect(m.hits).toBe(3);
  });

  test('a failed or vanished owner hands the computation to the next waiter', () => {
    const m = new MemoTable(store);
    const [a, b, c] = [asker(1), asker(2), asker(3)];
    m.lookup(a, 1, 'X');
    m.lookup(b, 2, 'X');
    m.lookup(c, 3, 'X');
    m.abandoned('X', b); // not the owner: ignored
    expect(b.replies).toEqual([]);
    m.disconnected(a);
    expect(b.replies).toEqual([[2, { status: 'compute', lid: 'X' }]]);
    m.abandoned('X', b);
    expect(c.replies).toEqual([[3, { status: 'compute', lid: 'X' }]]);
    m.abandoned('X', c);
    expect(m.inFlight).toBe(0);
  });

  test('kernel claims make the asker wait; a declined kernel hands over to it', () => {
    const m = new MemoTable(store);
    const a = asker(1);
    expect(m.claimForKernel('K', a, 9)).toBe(true);
    expect(m.claimForKernel('K', asker(2), 1)).toBe(false);
    m.abandoned('K', 'kernel');
    expect(a.replies).toEqual([[9, { status: 'compute', lid: 'K' }]]);
  });

  test('askers are told when they wait for another script, and when that ends', () => {
    const m = new MemoTable(store);
    const [a, b, c, d] = [asker(1), asker(2), asker(3), asker(4)];
    m.lookup(a, 1, 'X');
    m.lookup(b, 1, 'X');
    m.lookup(c, 1, 'X');
    expect([a.waits, b.waits, c.waits]).toEqual([[], [true], [true]]);
    m.abandoned('X', a); // b takes over: it no longer waits, c still does
    expect([b.waits, c.waits]).toEqual([[true, false], [true]]);
    publish('X', 10);
    m.published('X');
    expect(c.waits).toEqual([true, false]);
    // waiting for a Rust kernel is not waiting for a script, until the kernel declines
    expect(m.claimForKernel('K', d, 7)).toBe(true);
    m.lookup(a, 2, 'K');
    expect([d.waits, a.waits]).toEqual([[], []]);
    m.abandoned('K', 'kernel'); // d computes; a now waits for d
    expect([d.waits, a.waits]).toEqual([[], [true]]);
    m.disconnected(a);
    expect(a.waits).toEqual([true, false]);
  });

  test('the store keeps to its budget, dropping least recently used results', () => {
    publish('A', 400);
    publish('B', 400);
    store.get('A');
    publish('C', 400);
    expect(store.get('B')).toBeUndefined();
    expect(store.get('A')).toBeDefined();
    expect(store.bytes).toBe(800);
    expect(fs.existsSync(store.pathFor('B', 'pkl'))).toBe(false);
  });

  test('the store refuses results outside its directory and sweeps stale stores', () => {
    expect(() => store.put('Z', { path: '/etc/passwd', format: 'pickle', bytes: 1 })).toThrow(/outside the store/);
    const stale = path.join(base, 'stratum-999999999-abc');
    fs.mkdirSync(stale);
    expect(ResultStore.sweepStale(base)).toBe(1);
    expect(fs.existsSync(stale)).toBe(false);
    expect(fs.existsSync(store.dir)).toBe(true);
  });
});
