import { encodeFrame, FrameDecoder, ProtocolError, validateMessage } from '../src/trace/protocol';

describe('frame protocol', () => {
  test('round-trips frames split at every byte boundary', () => {
    const msgs = [{ t: 'hello', script: 'a', pid: 1 }, { t: 'lookup', id: 7, lid: 'x'.repeat(32), op: 'fit' }, { t: 'bye' }];
    const bytes = Buffer.concat(msgs.map(encodeFrame));
    for (let cut = 0; cut <= bytes.length; cut++) {
      const d = new FrameDecoder();
      const out = [...d.push(bytes.subarray(0, cut)), ...d.push(bytes.subarray(cut))];
      expect(out).toEqual(msgs);
    }
  });

  test('binary payloads travel as bytes (Buffer), not typed arrays', () => {
    const d = new FrameDecoder();
    const [m] = d.push(encodeFrame({ t: 'ops', records: [], blob: Buffer.from([1, 2, 3, 255]) })) as { blob: Uint8Array }[];
    expect([...m.blob]).toEqual([1, 2, 3, 255]);
  });

  test('rejects oversized and undecodable frames with a clear error', () => {
    const big = Buffer.alloc(4);
    big.writeUInt32BE(0xffffffff, 0);
    expect(() => new FrameDecoder().push(big)).toThrow(/exceeds/);
    const junk = Buffer.from([0, 0, 0, 2, 0x82, 0xa1]); // a map cut short
    expect(() => new FrameDecoder().push(junk)).toThrow(ProtocolError);
  });

  test('validates message shapes', () => {
    expect(() => validateMessage([1, 2])).toThrow(/not a map/);
    expect(() => validateMessage({ t: 'nope' })).toThrow(/unknown message type/);
    expect(() => validateMessage({ t: 'lookup', id: 1, op: 'x' })).toThrow(/lid/);
    expect(() => validateMessage({ t: 'publish', id: 1, lid: 'a', path: 3, format: 'pickle' })).toThrow(/path/);
    expect(validateMessage({ t: 'lookup', id: 1, op: 'pd.read_csv', source: { path: '/x' } })).toMatchObject({ t: 'lookup' });
    // the shim's background writer announces results one way: no id, no reply
    expect(validateMessage({ t: 'publish', lid: 'a', path: '/s/a.arrow', format: 'arrow', bytes: 1 })).toMatchObject({ t: 'publish' });
    expect(() => validateMessage({ t: 'publish', id: 'x', lid: 'a', path: '/s/a.arrow', format: 'arrow' })).toThrow(/id/);
  });
});
