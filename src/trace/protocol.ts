/** Framing: 4-byte big-endian length + one msgpack map. Plain maps only (Python reads them). */
import { Packr, Unpackr } from 'msgpackr';
import type { ShimMessage } from './types';

export const MAX_FRAME = 64 * 1024 * 1024;

const packr = new Packr({ useRecords: false, moreTypes: false });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true });

export class ProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProtocolError';
  }
}

export function encodeFrame(msg: object): Buffer {
  const body = packr.pack(msg);
  const head = Buffer.allocUnsafe(4);
  head.writeUInt32BE(body.length, 0);
  return Buffer.concat([head, body]);
}

/** Accumulates bytes from a stream and yields whole decoded frames. */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): unknown[] {
    this.buf = this.buf.length ? Buffer.concat([this.buf, chunk]) : chunk;
    const out: unknown[] = [];
    while (this.buf.length >= 4) {
      const n = this.buf.readUInt32BE(0);
      if (n > MAX_FRAME) throw new ProtocolError(`frame of ${n} bytes exceeds the ${MAX_FRAME}-byte limit`);
      if (this.buf.length < 4 + n) break;
      const body = this.buf.subarray(4, 4 + n);
      this.buf = this.buf.subarray(4 + n);
      try {
        out.push(unpackr.unpack(body));
      } catch (e) {
        throw new ProtocolError(`undecodable frame: ${(e as Error).message}`);
      }
    }
    return out;
  }
}

const KINDS = new Set(['hello', 'ops', 'lookup', 'publish', 'abandon', 'kernel', 'bye']);

/** Checks the shape of a decoded frame; throws ProtocolError naming what is wrong. */
export function validateMessage(m: unknown): ShimMessage {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new ProtocolError('frame is not a map');
  const t = (m as { t?: unknown }).t;
  if (typeof t !== 'string' || !KINDS.has(t)) throw new ProtocolError(`unknown message type ${JSON.stringify(t)}`);
  const o = m as Record<string, unknown>;
  const need = (k: string, type: string) => {
    if (typeof o[k] !== type) throw new ProtocolError(`'${t}' message needs ${type} field '${k}'`);
  };
  switch (t) {
    case 'hello':
      need('script', 'string');
      break;
    case 'ops':
      if (!Array.isArray(o.records)) throw new ProtocolError("'ops' message needs an array 'records'");
      break;
    case 'lookup':
      need('id', 'number');
      need('op', 'string');
      if (o.source === undefined || o.source === null) need('lid', 'string');
      break;
    case 'publish':
      // without an id the shim expects no reply (its background writer announces results)
      if (o.id !== undefined) need('id', 'number');
      need('lid', 'string');
      need('path', 'string');
      need('format', 'string');
      break;
    case 'abandon':
      need('lid', 'string');
      break;
    case 'kernel':
      need('id', 'number');
      need('kernel', 'string');
      need('input', 'string');
      need('options', 'object');
      break;
  }
  return m as ShimMessage;
}
