/** What the shim sends: op records and memo requests (see shim-py/stratum_shim/client.py). */

export interface OpRecord {
  op: string;
  lid?: string | null;
  inputs?: string[];
  script: string;
  site?: string;
  rows?: number;
  elapsed_ms?: number;
  status?: 'local' | 'computed' | 'hit';
  opaque?: string;
  bytes?: number;
  path?: string;
  where?: string;
  error?: string;
  /** 'prefix_share' (one per script, at its end): Pipeline prefix fits / transforms reused in
   * the script, and their measured cost (elapsed_ms) */
  fit_hits?: number;
  transform_hits?: number;
}

export interface SourceInfo {
  path: string;
  size: number;
  mtime_ns: number;
  kw_lid: string;
  nargs: number;
  kwargs: Record<string, unknown> | null;
}

export type ShimMessage =
  | { t: 'hello'; script: string; pid: number }
  | { t: 'ops'; records: OpRecord[] }
  | { t: 'lookup'; id: number; lid: string; op: string; source?: SourceInfo }
  | { t: 'publish'; id?: number; lid: string; path: string; format: string; bytes: number; elapsed_ms: number }
  | { t: 'abandon'; lid: string; reason?: string }
  | { t: 'kernel'; id: number; kernel: string; input: string; options: Record<string, unknown> }
  | { t: 'bye' };

/** answer to a 'kernel' request: the result file (the shim unlinks it once loaded) or why not */
export type KernelReply = { status: 'ok'; path: string; bytes: number } | { status: 'declined'; reason: string };

export type LookupReply =
  | { status: 'hit'; path: string; format: string; bytes: number; lid?: string }
  | { status: 'compute'; lid?: string }
  | { status: 'local'; lid?: string; reason?: string };
