/** The reference: a script run by plain `python script.py` (no shim), for conformance and benchmarks. */
import { spawn } from 'child_process';
import { pythonPath } from './paths';

export interface PlainRun {
  stdout: string;
  code: number | null;
}

export function runPlainPython(script: string, cwd: string): Promise<PlainRun> {
  return new Promise((resolve, reject) => {
    const p = spawn(pythonPath(), [script], { cwd, stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    p.stdout.on('data', (d: Buffer) => chunks.push(d));
    p.on('error', reject);
    p.on('close', (code) => resolve({ stdout: Buffer.concat(chunks).toString(), code }));
  });
}
