/** Which read_csv calls the Rust kernel takes: only arguments it reproduces exactly. */
import type { SourceInfo } from '../trace/types';

const DTYPES = new Set(['int64', 'float64', 'bool', 'str']);

/** Options for the kernel, or null when pandas must do the work. */
export function csvKernelOptions(s: SourceInfo): Record<string, unknown> | null {
  if (s.nargs !== 1 || s.kwargs === null) return null;
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.kwargs)) {
    if (k === 'sep' || k === 'delimiter') {
      if (typeof v !== 'string' || v.length !== 1 || v === '"' || v === '\n' || v === '\r') return null;
      opts.sep = v;
    } else if (k === 'usecols') {
      if (!Array.isArray(v) || !v.every((c) => typeof c === 'string') || new Set(v).size !== v.length) return null;
      opts.usecols = v;
    } else if (k === 'dtype') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
      if (!Object.values(v).every((t) => typeof t === 'string' && DTYPES.has(t))) return null;
      opts.dtype = v;
    } else {
      return null;
    }
  }
  return opts;
}
