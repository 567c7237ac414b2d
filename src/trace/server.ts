/** Unix-socket server for shim connections: one connection per script process. */
import * as fs from 'fs';
import * as net from 'net';
import { encodeFrame, FrameDecoder, ProtocolError, validateMessage } from './protocol';
import type { ShimMessage } from './types';

export class Connection {
  script = '';
  pid = 0;
  closed = false;
  constructor(readonly id: number, private readonly socket: net.Socket) {}

  send(msg: object): void {
    if (!this.closed) this.socket.write(encodeFrame(msg));
  }

  close(): void {
    this.socket.destroy();
  }
}

export interface MessageHandler {
  onMessage(conn: Connection, msg: ShimMessage): void;
  onClose(conn: Connection): void;
  onProtocolError(conn: Connection, err: Error): void;
}

export class TraceServer {
  private server: net.Server;
  private conns = new Set<net.Socket>();
  private nextId = 1;

  private constructor(readonly path: string, handler: MessageHandler) {
    this.server = net.createServer((socket) => {
      const conn = new Connection(this.nextId++, socket);
      const decoder = new FrameDecoder();
      this.conns.add(socket);
      socket.on('data', (chunk: Buffer) => {
        let msgs: unknown[];
        try {
          msgs = decoder.push(chunk);
          for (const m of msgs) handler.onMessage(conn, validateMessage(m));
        } catch (e) {
          const err = e instanceof Error ? e : new Error(String(e));
          handler.onProtocolError(conn, err);
          if (err instanceof ProtocolError) {
            conn.send({ t: 'error', id: -1, message: err.message });
            socket.end();
          }
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        conn.closed = true;
        this.conns.delete(socket);
        handler.onClose(conn);
      });
    });
  }

  static async listen(path: string, handler: MessageHandler): Promise<TraceServer> {
    const s = new TraceServer(path, handler);
    await new Promise<void>((resolve, reject) => {
      s.server.once('error', reject);
      s.server.listen(path, () => resolve());
    });
    fs.chmodSync(path, 0o600);
    return s;
  }

  async close(): Promise<void> {
    for (const c of this.conns) c.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
