/**
 * Which read_csv and read_parquet calls go to the Rust kernels, with which options. Only the argument shapes the
 * kernel knows are passed on; the kernel itself checks the values and declines (with a reason,
 * counted in the report) whatever it cannot reproduce exactly.
 */
import type { SourceInfo } from '../trace/types';

const DTYPES = new Set(['int64', 'float64', 'bool', 'str']);

const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((c) => typeof c === 'string');
const isCount = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;

/** Options for the kernel, or null when pandas must do the work. */
export function csvKernelOptions(s: SourceInfo): Record<string, unknown> | null {
  if (s.nargs !== 1 || s.kwargs === null) return null;
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.kwargs)) {
    if (k === 'sep' || k === 'delimiter') {
      if (typeof v !== 'string' || v.length !== 1 || v === '"' || v === '\n' || v === '\r') return null;
      opts.sep = v;
    } else if (k === 'usecols' || k === 'names' || k === 'parse_dates') {
      if (!isStrings(v)) return null;
      opts[k] = v;
    } else if (k === 'dtype') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
      if (!Object.values(v).every((t) => typeof t === 'string' && DTYPES.has(t))) return null;
      opts.dtype = v;
    } else if (k === 'nrows' || k === 'skiprows') {
      if (!isCount(v)) return null;
      opts[k] = v;
    } else if (k === 'header') {
      if (v !== null && v !== 0 && v !== 'infer') return null;
      opts.header = v;
    } else if (k === 'na_values') {
      if (typeof v !== 'string' && !isStrings(v)) return null;
      opts.na_values = v;
    } else {
      return null;
    }
  }
  return opts;
}

/**
 * Options for the Parquet kernel, or null: `columns` (names) and the default engine only. The
 * kernel returns pyarrow's table; filters, dtype_backend, storage and engine options stay with
 * pandas.
 */
export function parquetKernelOptions(s: SourceInfo): Record<string, unknown> | null {
  if (s.nargs !== 1 || s.kwargs === null) return null;
  const opts: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(s.kwargs)) {
    if (k === 'columns') {
      if (v === null) continue;
      if (!isStrings(v)) return null;
      opts.columns = v;
    } else if (k === 'engine') {
      if (v !== 'auto' && v !== 'pyarrow') return null;
    } else {
      return null;
    }
  }
  return opts;
}
