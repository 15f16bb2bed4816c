import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { io, randn, tensor } from '../lib/index.js';
import { f64 } from './support/reference.js';

function spec(header: object, data: Uint8Array, pad = true): Uint8Array {
  let json = JSON.stringify(header);
  if (pad) json += ' '.repeat((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(Buffer.from(json), 8);
  out.set(data, 8 + json.length);
  return out;
}

describe('safetensors', () => {
  let dir: string;
  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-st-'));
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('round-trips f32, bf16 and i32 tensors with metadata, bit for bit', async () => {
    const tensors = {
      weight: randn([3, 5], { seed: 1 }),
      half: randn([7], { seed: 2, dtype: 'bf16' }),
      ids: tensor(new Int32Array([4, -2, 2147483647])),
      empty: tensor(new Float32Array(0), { shape: [0, 4] }),
    };
    const file = path.join(dir, 'round.safetensors');
    await io.saveSafetensors(file, tensors, { format: 'pt', note: 'llmrec' });
    const loaded = io.loadSafetensors(file);
    expect([...loaded.keys()]).to.deep.equal(['weight', 'half', 'ids', 'empty']);
    for (const [name, t] of Object.entries(tensors)) {
      const back = loaded.get(name)!;
      expect(back.dtype, name).to.equal(t.dtype);
      expect(back.shape, name).to.deep.equal(t.shape);
      expect([...back.rawDataSync()], name).to.deep.equal([...t.rawDataSync()]);
    }
    expect(io.readSafetensorsMetadata(file)).to.deep.equal({ format: 'pt', note: 'llmrec' });
  });

  it('writes the layout of the specification: u64 length, space-padded JSON, packed data', () => {
    const file = path.join(dir, 'layout.safetensors');
    io.saveSafetensorsSync(file, { a: tensor([1, 2]), b: tensor(new Int32Array([7])) });
    const bytes = fs.readFileSync(file);
    const n = Number(bytes.readBigUInt64LE(0));
    expect(n % 8).to.equal(0);
    const header = JSON.parse(bytes.subarray(8, 8 + n).toString('utf-8'));
    expect(header).to.deep.equal({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'I32', shape: [1], data_offsets: [8, 12] },
    });
    expect(bytes.length).to.equal(8 + n + 12);
    expect(bytes.readFloatLE(8 + n + 4)).to.equal(2);
    expect(bytes.readInt32LE(8 + n + 8)).to.equal(7);
  });

  it('reads the dtypes transformers writes (F16, F64, I64, BOOL) and converts on request', () => {
    const data = new Uint8Array(2 * 2 + 8 * 2 + 8 * 2 + 2);
    const view = new DataView(data.buffer);
    view.setUint16(0, 0x3c00, true); // 1.0 in f16
    view.setUint16(2, 0xc500, true); // -5.0
    view.setFloat64(4, 0.25, true);
    view.setFloat64(12, -3.5, true);
    view.setBigInt64(20, 123456789n, true);
    view.setBigInt64(28, -1n, true);
    data[36] = 1;
    data[37] = 0;
    const file = path.join(dir, 'hf.safetensors');
    fs.writeFileSync(
      file,
      spec(
        {
          h: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
          d: { dtype: 'F64', shape: [2], data_offsets: [4, 20] },
          l: { dtype: 'I64', shape: [2], data_offsets: [20, 36] },
          m: { dtype: 'BOOL', shape: [2], data_offsets: [36, 38] },
        },
        data,
        false, // unpadded headers are legal
      ),
    );
    const t = io.loadSafetensors(file, { dtype: 'bf16' });
    expect(t.get('h')!.dtype).to.equal('bf16');
    expect([...t.get('h')!.dataSync()]).to.deep.equal([1, -5]);
    expect([...t.get('d')!.dataSync()]).to.deep.equal([0.25, -3.5]);
    expect(t.get('l')!.dtype).to.equal('i32');
    expect([...t.get('l')!.dataSync()]).to.deep.equal([123456789, -1]);
    expect([...t.get('m')!.dataSync()]).to.deep.equal([1, 0]);
  });

  it('reads single tensors lazily from an open file', () => {
    const file = path.join(dir, 'lazy.safetensors');
    io.saveSafetensorsSync(file, { x: randn([4, 4], { seed: 3 }), y: randn([2], { seed: 4 }) });
    const opened = io.SafetensorsFile.open(file);
    try {
      expect(opened.names).to.deep.equal(['x', 'y']);
      expect(opened.info('x')).to.deep.equal({ dtype: 'F32', shape: [4, 4], dataOffsets: [0, 64] });
      expect(f64(opened.read('y'))).to.deep.equal(f64(randn([2], { seed: 4 })));
      expect(() => opened.read('z')).to.throw(/has no tensor 'z'/);
    } finally {
      opened.close();
    }
  });

  describe('rejects corrupt files with a clear error', () => {
    const cases: [string, () => Uint8Array, RegExp][] = [
      ['a file shorter than 8 bytes', () => new Uint8Array(5), /fewer than the 8-byte header length/],
      [
        'a header length beyond the file',
        () => {
          const b = spec({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4));
          return b.subarray(0, 20);
        },
        /truncated\?/,
      ],
      [
        'an absurd header length',
        () => {
          const b = new Uint8Array(16);
          new DataView(b.buffer).setBigUint64(0, 1n << 40n, true);
          return b;
        },
        /above the 100000000-byte limit/,
      ],
      ['a header that is not JSON', () => spec({}, new Uint8Array(0)).fill(0x7b, 8), /not UTF-8 JSON/],
      [
        'truncated tensor data',
        () => spec({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(8)),
        /ends at byte 16 of a 8-byte data section/,
      ],
      [
        'offsets that disagree with the shape',
        () => spec({ a: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, new Uint8Array(8)),
        /needs 12 bytes but its offsets span 8/,
      ],
      [
        'overlapping tensors',
        () =>
          spec(
            {
              a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
              b: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
            },
            new Uint8Array(8),
          ),
        /overlap or hole/,
      ],
      [
        'an unknown dtype',
        () => spec({ a: { dtype: 'C64', shape: [1], data_offsets: [0, 8] } }, new Uint8Array(8)),
        /dtype "C64"/,
      ],
    ];
    for (const [what, bytes, message] of cases)
      it(what, () => {
        const file = path.join(dir, 'corrupt.safetensors');
        fs.writeFileSync(file, bytes());
        expect(() => io.loadSafetensors(file)).to.throw(message);
      });
  });

  it('a process killed mid-save leaves the previous checkpoint intact', () => {
    const file = path.join(dir, 'crash.safetensors');
    io.saveSafetensorsSync(file, { a: tensor([1, 2, 3]) });
    const before = fs.readFileSync(file);
    // The child dies after writing the new bytes but before the rename: a crash mid-save.
    const script = `
      import fs from 'node:fs';
      import { syncBuiltinESMExports } from 'node:module';
      fs.fsyncSync = () => process.exit(3);
      syncBuiltinESMExports();
      const { io, randn } = await import(${JSON.stringify(new URL('../lib/index.js', import.meta.url).href)});
      io.saveSafetensorsSync(${JSON.stringify(file)}, { a: randn([1000], { seed: 1 }) });`;
    const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf-8' });
    expect(child.status, child.stderr).to.equal(3);
    expect(fs.readFileSync(file).equals(before)).to.equal(true);
    expect([...io.loadSafetensors(file).get('a')!.dataSync()]).to.deep.equal([1, 2, 3]);
  });

  it('a failed save leaves the previous file intact and no temporary behind', () => {
    const file = path.join(dir, 'keep.safetensors');
    io.saveSafetensorsSync(file, { a: tensor([1, 2, 3]) });
    const before = fs.readFileSync(file);
    const disposed = tensor([4]);
    disposed.dispose();
    expect(() => io.saveSafetensorsSync(file, { a: tensor([9]), b: disposed })).to.throw(/disposed/);
    expect(fs.readFileSync(file).equals(before)).to.equal(true);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('.keep.'))).to.deep.equal([]);
  });
});
