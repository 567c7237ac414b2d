/** A one-line progress display on a terminal (stderr); silent when stderr is not a terminal. */
export class Progress {
  private done = 0;
  private failed = 0;
  private running = new Set<string>();
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly total: number, private readonly stream: NodeJS.WriteStream = process.stderr) {
    if (this.enabled) this.timer = setInterval(() => this.draw(), 250);
  }

  get enabled(): boolean {
    return Boolean(this.stream.isTTY) && !process.env.CI;
  }

  start(id: string): void {
    this.running.add(id);
  }

  end(id: string, ok: boolean): void {
    this.running.delete(id);
    this.done++;
    if (!ok) this.failed++;
  }

  /** Print a line above the bar. */
  log(text: string, out: NodeJS.WriteStream = process.stdout): void {
    if (this.enabled) this.stream.write('\r\x1b[K');
    out.write(text);
    if (this.enabled) this.draw();
  }

  private draw(): void {
    const width = 24;
    const filled = Math.round((this.done / Math.max(1, this.total)) * width);
    const secs = ((Date.now() - this.t0) / 1000).toFixed(0);
    const now = [...this.running].slice(0, 2).join(', ');
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${this.done}/${this.total}  failed ${this.failed}  ${secs}s  ${now}`;
    this.stream.write(`\r\x1b[K${line.slice(0, (this.stream.columns ?? 100) - 1)}`);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.enabled) this.stream.write('\r\x1b[K');
  }
}
