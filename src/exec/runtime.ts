/** The Rust runtime (napi addon): typed wrappers, errors that name the file and the cause. */
import * as fs from 'fs';
import { addonPath } from './paths';

interface Addon {
  readCsv(path: string, optionsJson: string, outPath: string): Promise<string>;
  readParquet(path: string, optionsJson: string, outPath: string): Promise<string>;
  countVocab(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  hashFeatures(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  rocAuc(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  binaryScore(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  logLoss(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  imputeStats(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  encodeFit(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  encodeTransform(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  treeFit(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  groupbyAgg(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  labelCodes(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  scaleStats(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  minmaxStats(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  joinIndexers(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  duplicated(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  nunique(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  valueCounts(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  describe(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  sortIndexer(inPath: string, optionsJson: string, outPath: string): Promise<string>;
  hashFile(path: string): Promise<string>;
  trimMemory(): boolean;
  fillSpares(dir: string, count: number, megabytes: number): Promise<number>;
  version(): string;
}

/** what a kernel did: rows in, columns out (features for text kernels) */
export type KernelResult =
  | { status: 'ok'; rows: number; cols: number; bytes: number; elapsed_ms: number }
  | { status: 'declined'; reason: string };

export class RuntimeError extends Error {
  constructor(message: string, readonly cause?: unknown) {
    super(message);
    this.name = 'RuntimeError';
  }
}

let addon: Addon | null = null;

export function loadRuntime(): Addon {
  if (addon) return addon;
  const p = addonPath();
  if (!fs.existsSync(p)) throw new RuntimeError(`the Rust runtime is not built (${p} is missing): run \`npm run build\``);
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(p) as Addon;
  } catch (e) {
    throw new RuntimeError(`cannot load the Rust runtime ${p}: ${(e as Error).message}`, e);
  }
  return addon;
}

/**
 * The addon keeps the kernels' freed buffers in its heap for the next call (fresh pages cost more
 * than decoding into them: memory.rs); once no kernel has run for this long they go back to the
 * system, so an idle coordinator holds no more than its own needs.
 */
const TRIM_IDLE_MS = Number(process.env.STRATUM_TRIM_IDLE_MS ?? 10000);
let running = 0;
let trimTimer: NodeJS.Timeout | null = null;

function kernelStarted(): void {
  running++;
  if (trimTimer) clearTimeout(trimTimer);
  trimTimer = null;
}

function kernelEnded(): void {
  if (--running > 0) return;
  trimTimer = setTimeout(() => {
    trimTimer = null;
    if (running === 0) loadRuntime().trimMemory();
  }, TRIM_IDLE_MS);
  trimTimer.unref();
}

/**
 * Keeps `count` store files of `megabytes` each in `dir` with their pages allocated, which large
 * kernel outputs write over instead of allocating pages on their way (ipc.rs: on tmpfs, as long
 * as the copy itself); resolves with how many the folder holds.
 */
export const fillSpares = (dir: string, count: number, megabytes: number): Promise<number> => loadRuntime().fillSpares(dir, count, megabytes);

/** Runs a file-to-file kernel of the addon; failures name the kernel and its input. */
async function runKernel(name: Exclude<keyof Addon, 'hashFile' | 'trimMemory' | 'fillSpares' | 'version'>, label: string, input: string, options: Record<string, unknown>, outPath: string): Promise<KernelResult> {
  const addon = loadRuntime();
  kernelStarted();
  try {
    return JSON.parse(await addon[name](input, JSON.stringify(options), outPath)) as KernelResult;
  } catch (e) {
    throw new RuntimeError(`${label} kernel failed on ${input}: ${(e as Error).message}`, e);
  } finally {
    kernelEnded();
  }
}

/** pandas.read_csv of a file, as Arrow IPC at outPath. */
export const readCsv = (file: string, options: Record<string, unknown>, outPath: string) => runKernel('readCsv', 'read_csv', file, options, outPath);

/** pandas.read_parquet of a file: the Arrow table pyarrow reads, as Arrow IPC at outPath. */
export const readParquet = (file: string, options: Record<string, unknown>, outPath: string) => runKernel('readParquet', 'read_parquet', file, options, outPath);

/** scikit-learn's CountVectorizer._count_vocab on the documents of an Arrow IPC file. */
export const countVocab = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('countVocab', 'count_vocab', input, options, outPath);

/** scikit-learn's HashingVectorizer hashing (murmurhash3 of each feature) on an Arrow IPC file. */
export const hashFeatures = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('hashFeatures', 'hash_features', input, options, outPath);

/** scikit-learn's roc_auc_score on the labels and scores of an Arrow IPC file. */
export const rocAuc = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('rocAuc', 'roc_auc', input, options, outPath);

/** scikit-learn's binary f1 / precision / recall on the labels and predictions of an Arrow IPC file. */
export const binaryScore = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('binaryScore', 'binary_score', input, options, outPath);

/** scikit-learn's log_loss on the labels, probabilities and weights of an Arrow IPC file. */
export const logLoss = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('logLoss', 'log_loss', input, options, outPath);

/** RobustScaler's statistics (median and percentiles) of float64 columns. */
export const scaleStats = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('scaleStats', 'scale_stats', input, options, outPath);
/** MinMaxScaler's statistics (per-column nanmin and nanmax) of a float64 array. */
export const minmaxStats = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('minmaxStats', 'minmax_stats', input, options, outPath);

/** pandas' merge join indexers: for each output row its left and right row (-1 for none). */
export const joinIndexers = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('joinIndexers', 'join_indexers', input, options, outPath);
/** pandas' DataFrame.duplicated over several columns: the mask (uint8). */
export const duplicated = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('duplicated', 'duplicated', input, options, outPath);
/** pandas' nunique of columns: per column the distinct values that are not missing and whether one is missing. */
export const nunique = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('nunique', 'nunique', input, options, outPath);
/** pandas' value_count of a column: every distinct value's first row and count, in the order of first appearance. */
export const valueCounts = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('valueCounts', 'value_counts', input, options, outPath);
/** pandas' describe() of int64 / float64 columns: count, mean, std, min, quantiles, max per column. */
export const describe = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('describe', 'describe', input, options, outPath);
/** pandas' sort indexers (lexsort_indexer / nargsort): the order of the rows (int64). */
export const sortIndexer = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('sortIndexer', 'sort_indexer', input, options, outPath);

/** SimpleImputer's statistics (mean / median / most_frequent) of float64 columns, one per column. */
export const imputeStats = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('imputeStats', 'impute_stats', input, options, outPath);

/** scikit-learn's encoders (OneHot / Ordinal / Target): the sorted categories of string columns. */
export const encodeFit = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('encodeFit', 'encode_fit', input, options, outPath);

/** scikit-learn's encoders: category codes and known-value mask of string columns. */
export const encodeTransform = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('encodeTransform', 'encode_transform', input, options, outPath);

/** scikit-learn's depth-first classification tree builder: a forest's trees (or one) on one training matrix. */
export const treeFit = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('treeFit', 'tree_fit', input, options, outPath);

/** pandas' groupby aggregations on one key column: the sorted keys and one column per aggregation. */
export const groupbyAgg = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('groupbyAgg', 'groupby_agg', input, options, outPath);

/** scikit-learn's classification metrics: the sorted union of two label columns and each sample's position in it. */
export const labelCodes = (input: string, options: Record<string, unknown>, outPath: string) => runKernel('labelCodes', 'label_codes', input, options, outPath);

export async function hashFile(file: string): Promise<string> {
  try {
    return await loadRuntime().hashFile(file);
  } catch (e) {
    if (e instanceof RuntimeError) throw e;
    throw new RuntimeError(`cannot hash ${file}: ${(e as Error).message}`, e);
  }
}
