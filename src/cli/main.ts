/** `stratum` commands: run, trace, explain, help. */
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { BatchReport, Coordinator, ScriptResult } from '../exec/coordinator';
import { pythonPath } from '../exec/paths';
import { explain } from '../rewrite/plan';
import type { OpRecord } from '../trace/types';
import { Progress } from './progress';
import { summaryTable } from './report';

const HELP = `stratum — run a batch of pandas / scikit-learn scripts as one job

Usage:
  stratum run [options] SCRIPT...      run scripts; each prints what \`python SCRIPT\` would print
  stratum explain [options] SCRIPT...  run the batch quietly, then show the merged graph (what is shared)
  stratum trace SCRIPT [ARGS...]       run one script standalone and print its operation graph
  stratum help                         this text

Options (run, explain):
  --out DIR        write DIR/<script>.stdout, DIR/<script>.stderr and DIR/report.json
  --workers N      scripts run at once (default: number of cores, ${os.cpus().length} here)
  --timeout S      kill a script after S seconds (default 0: no limit)
  --quiet          do not print scripts' output, only the summary
  --no-kernels     never use the Rust kernels (pandas and sklearn do all the work)
  --store-mb N     memory budget of the shared result store (default 4096)

Exit status: 0 when every script succeeded, 1 when any failed, 2 on a usage error.
`;

export class UsageError extends Error {}

interface Parsed {
  scripts: string[];
  out?: string;
  workers?: number;
  timeout: number;
  quiet: boolean;
  kernels: boolean;
  storeMb: number;
}

function parseRunArgs(args: string[]): Parsed {
  const p: Parsed = { scripts: [], timeout: 0, quiet: false, kernels: true, storeMb: 4096 };
  const num = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < min) throw new UsageError(`${flag} needs a number >= ${min}`);
    return n;
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--out') {
      p.out = args[++i];
      if (!p.out) throw new UsageError('--out needs a directory');
    } else if (a === '--workers') p.workers = Math.floor(num(a, args[++i], 1));
    else if (a === '--timeout') p.timeout = num(a, args[++i], 0);
    else if (a === '--store-mb') p.storeMb = num(a, args[++i], 1);
    else if (a === '--quiet') p.quiet = true;
    else if (a === '--no-kernels') p.kernels = false;
    else if (a.startsWith('--')) throw new UsageError(`unknown option ${a}`);
    else p.scripts.push(a);
  }
  if (!p.scripts.length) throw new UsageError('no scripts given');
  return p;
}

async function runBatch(p: Parsed, printOutput: boolean): Promise<{ report: BatchReport; coord: Coordinator }> {
  const coord = await Coordinator.start({ workers: p.workers, kernels: p.kernels, storeBudgetBytes: p.storeMb * 1024 * 1024 });
  const stop = () => {
    void coord.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const progress = new Progress(p.scripts.length);
  const finished = new Map<number, ScriptResult>();
  let printed = 0;
  try {
    const report = await coord.runScripts(p.scripts, {
      outDir: p.out,
      timeoutS: p.timeout,
      onEvent: (e) => {
        if (e.type === 'start') return progress.start(e.id);
        progress.end(e.result.id, e.result.status === 'ok');
        finished.set(e.index, e.result);
        // print outputs in script order, as soon as every earlier script is done
        while (finished.has(printed)) {
          const r = finished.get(printed)!;
          if (printOutput) progress.log(scriptBlock(r));
          printed++;
        }
      },
    });
    progress.stop();
    return { report, coord };
  } catch (e) {
    progress.stop();
    await coord.close();
    throw e;
  } finally {
    process.removeListener('SIGINT', stop);
    process.removeListener('SIGTERM', stop);
  }
}

function scriptBlock(r: ScriptResult): string {
  const head = `── ${r.script}  [${r.status}${r.exit_code !== null && r.exit_code !== 0 ? ` ${r.exit_code}` : ''}, ${r.wall_s.toFixed(2)} s]\n`;
  let body = '';
  try {
    body = fs.readFileSync(r.stdout_path, 'utf8');
  } catch {
    /* no output */
  }
  if (r.status !== 'ok' && r.error) body += `${body && !body.endsWith('\n') ? '\n' : ''}!! ${r.error}\n`;
  return head + body + (body.endsWith('\n') || !body ? '' : '\n');
}

async function cmdRun(args: string[]): Promise<number> {
  const p = parseRunArgs(args);
  const { report, coord } = await runBatch(p, !p.quiet);
  try {
    process.stdout.write('\n' + summaryTable(report));
  } finally {
    await coord.close();
  }
  return report.batch.failed ? 1 : 0;
}

async function cmdExplain(args: string[]): Promise<number> {
  const p = parseRunArgs(args);
  const { report, coord } = await runBatch(p, false);
  try {
    process.stdout.write(explain(coord.graph) + '\n\n' + summaryTable(report));
  } finally {
    await coord.close();
  }
  return report.batch.failed ? 1 : 0;
}

function cmdTrace(args: string[]): number {
  if (!args.length) throw new UsageError('trace needs a script');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'stratum-trace-'));
  const tracePath = path.join(dir, 'trace.jsonl');
  try {
    const r = spawnSync(pythonPath(), ['-m', 'stratum_shim.runner', ...args], {
      stdio: ['inherit', 'inherit', 'inherit'],
      env: { ...process.env, STRATUM_TRACE: tracePath },
    });
    const records: OpRecord[] = fs.existsSync(tracePath)
      ? fs.readFileSync(tracePath, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as OpRecord)
      : [];
    process.stderr.write(`\n${formatTrace(records)}`);
    return r.status ?? 1;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function formatTrace(records: OpRecord[]): string {
  const short = (l?: string | null) => (l ? l.slice(0, 8) : '--------');
  const lines = [`${records.length} op records (lid <- inputs):`];
  for (const r of records) {
    if (r.op === 'write_file') lines.push(`  writes ${r.path}`);
    else if (r.op === 'shim_error') lines.push(`  shim error in ${r.where}: ${r.error}`);
    else {
      const site = r.site ? path.basename(r.site) : '';
      lines.push(`  ${short(r.lid)} <- [${(r.inputs ?? []).map(short).join(', ')}]  ${r.op}  ${site}  ${(r.elapsed_ms ?? 0).toFixed(2)} ms${r.opaque ? `  (opaque: ${r.opaque})` : ''}`);
    }
  }
  return lines.join('\n') + '\n';
}

export async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  try {
    switch (cmd) {
      case 'run':
        return await cmdRun(rest);
      case 'explain':
        return await cmdExplain(rest);
      case 'trace':
        return cmdTrace(rest);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        process.stdout.write(HELP);
        return cmd === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command '${cmd}'`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`stratum: ${e.message}\n\n${HELP}`);
      return 2;
    }
    throw e;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`stratum: ${(err as Error).message}\n`);
      process.exit(1);
    },
  );
}
