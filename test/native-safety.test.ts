// Regression tests for the defects of issue 12 in the native layer and the tensor API: memory
// safety of backward passes, worker teardown, handles made from JS, silent acceptance of bad
// arguments. Cases that crashed the process run in a child process, so a regression fails the
// test instead of killing mocha.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';

import {
  arange,
  CausalLM,
  configToJson,
  crossEntropy,
  embedding,
  ForwardContext,
  getDefaultDevice,
  infonce,
  memory,
  models,
  nn,
  presetConfig,
  rand,
  randn,
  scaledDotProductAttention,
  scoreTopk,
  setDefaultDevice,
  synchronize,
  tensor,
  zeros,
} from '../lib/index.js';
import { native } from '../lib/binding.js';
import { describeEachDevice } from './support/devices.js';

const indexUrl = new URL('../lib/index.js', import.meta.url).href;

/** Runs an ES module body in a fresh Node with `m` bound to llmrec; returns how it ended. */
function runIsolated(body: string, timeoutMs = 60_000): { status: number | null; signal: string | null; out: string } {
  const source = `const m = await import(${JSON.stringify(indexUrl)});\n${body}`;
  const result = spawnSync(process.execPath, ['--input-type=module', '-e', source], {
    encoding: 'utf8',
    timeout: timeoutMs * (Number(process.env.LLMREC_TEST_TIME_SCALE) || 1), // test:asan runs slower
    env: { ...process.env, LLMREC_TEST_DEVICE: process.env.LLMREC_TEST_DEVICES?.split(',')[0] ?? 'cpu' },
  });
  return { status: result.status, signal: result.signal, out: `${result.stdout}${result.stderr}` };
}

describeEachDevice('backward passes never index through an unvalidated index', (device) => {
  // Each bad index: far past the end, negative, and exactly the row count (one past the end).
  for (const bad of [99_999_999, -1, 5]) {
    it(`gatherDot and sampledSoftmaxFromTable with index ${bad}, backward before the loss is read`, () => {
      const run = runIsolated(`
        const device = ${JSON.stringify(device)};
        const messages = [];
        for (const variant of ['gatherDot', 'sampledSoftmaxFromTable']) {
          const user = m.randn([2, 4], { seed: 1, device }).requiresGrad_();
          const table = m.randn([5, 4], { seed: 2, device }).requiresGrad_();
          const loss = variant === 'gatherDot'
            ? m.gatherDot(user, table, m.tensor(new Int32Array([0, 1, ${bad}, 2]), { shape: [2, 2], device })).sum()
            : m.sampledSoftmaxFromTable(user, table, m.tensor([1, ${bad}], { dtype: 'i32', device }),
                m.tensor(new Int32Array([2, 3, 4, 0]), { shape: [2, 2], device }));
          try { loss.backward(); } catch (e) { messages.push('backward: ' + e.message); }
          for (const [name, t] of [['loss', loss], ['user.grad', user.grad], ['table.grad', table.grad]]) {
            if (!t) continue;
            try { t.dataSync(); } catch (e) { messages.push(name + ': ' + e.message); }
          }
          try { m.synchronize(device); } catch (e) { messages.push('synchronize: ' + e.message); }
        }
        console.log(JSON.stringify(messages));
      `);
      expect(run.signal, run.out).to.equal(null);
      expect(run.status, run.out).to.equal(0);
      const messages = JSON.parse(run.out.trim().split('\n').pop()!) as string[];
      const outOfRange = new RegExp(`gatherDot: indices \\(flattened\\) \\[\\d+\\] = ${bad} is out of range`);
      // Every read of the loss and of both gradients throws; none returns what the memory held.
      for (const name of ['loss', 'user.grad', 'table.grad'])
        expect(
          messages.filter((m) => m.startsWith(`${name}: `) && outOfRange.test(m)),
          name,
        ).to.have.length(2);
    });
  }

  it('attention refuses keyPadding lengths outside [0, Lk], given as numbers or as a tensor', () => {
    const q = randn([2, 1, 3, 8], { seed: 1, device });
    const k = randn([2, 1, 4, 8], { seed: 2, device });
    for (const lengths of [
      [5, 2],
      [-1, 2],
      [1.5, 2],
    ])
      expect(() => scaledDotProductAttention(q, k, k, { keyPadding: { lengths, side: 'right' } })).to.throw(
        /keyPadding.lengths\[0\] = .* must be an integer in \[0, 4\]/,
      );
    for (const bad of [5, -1]) {
      const out = scaledDotProductAttention(q, k, k, {
        keyPadding: { lengths: tensor([2, bad], { dtype: 'i32', device }), side: 'left' },
      });
      expect(() => out.dataSync()).to.throw(new RegExp(`keyPadding length ${bad} of batch row 1 is out of range`));
    }
    const ok = scaledDotProductAttention(q, k, k, { keyPadding: { lengths: [0, 4], side: 'right' } });
    expect(Array.from(ok.dataSync()).every(Number.isFinite)).to.equal(true);
  });

  it('infonce returns NaN, not -Infinity, for a NaN input', () => {
    for (const normalize of [false, true]) {
      const rowNaN = randn([4, 4], { seed: 3 }).dataSync();
      rowNaN.fill(NaN, 0, 4); // a whole row: every similarity of it is NaN
      const q = tensor(rowNaN, { shape: [4, 4], device });
      const keys = randn([4, 4], { seed: 4, device });
      expect(Number.isNaN(infonce(q, keys, { normalize }).item()), `normalize ${normalize}`).to.equal(true);
      const oneNaN = randn([4, 4], { seed: 5, device }).dataSync();
      oneNaN[5] = NaN;
      expect(Number.isNaN(infonce(tensor(oneNaN, { shape: [4, 4], device }), keys, { normalize }).item())).to.equal(
        true,
      );
    }
  });

  it('crossEntropy refuses labels that are not a Tensor instead of reading them as label 0', () => {
    const logits = randn([2, 3], { seed: 1, device });
    for (const labels of [[1, 2], new Int32Array([1, 2]), null, undefined, 7])
      expect(() => crossEntropy(logits, labels as never)).to.throw(/crossEntropy: 'labels' must be a Tensor/);
  });
});

describeEachDevice('a failed op poisons its outputs and what is computed from them', (device) => {
  it('every read of them throws the original error; unrelated tensors read normally', async () => {
    const table = randn([4, 3], { seed: 1, device });
    const rows = embedding(tensor([1, 9, 2], { dtype: 'i32', device }), table);
    const total = rows.sum().mul(2);
    const unrelated = randn([3], { seed: 2, device }).add(1);
    const message = /embedding: index 9 is out of range for a table of 4 rows/;
    expect(() => rows.dataSync()).to.throw(message);
    expect(() => rows.dataSync(), 'a second read').to.throw(message);
    expect(() => total.item(), 'a tensor computed from it').to.throw(message);
    await expectRejection(total.data(), message);
    expect(() => rows.add(1).max().item(), 'work queued after the failure was read').to.throw(message);
    expect(Array.from(unrelated.dataSync()).every(Number.isFinite)).to.equal(true);
    expect(() => table.dataSync(), 'the op only read its table').to.not.throw();
    synchronize(device); // the error was reported with the tensors it spoiled
  });

  it('an error is not reported on an unrelated tensor read first, nor after many more ops', () => {
    const table = randn([4, 3], { seed: 1, device });
    const rows = embedding(tensor([0, 7], { dtype: 'i32', device }), table);
    const unrelated = randn([3], { seed: 2, device }).mul(3);
    const downstream = rows.add(1);
    // More ops than a CUDA error window holds (256), so the failure and its consequences are
    // settled across several windows.
    let chain = randn([8], { seed: 3, device });
    for (let i = 0; i < 600; i++) chain = chain.mul(0.5).add(1);
    const late = downstream.mul(chain.sum());
    const message = /embedding: index 7 is out of range for a table of 4 rows/;
    expect(Array.from(unrelated.dataSync()).every(Number.isFinite), 'read before the failed output').to.equal(true);
    expect(chain.max().item()).to.be.closeTo(2, 1e-3);
    expect(() => late.dataSync(), 'computed from it in a later window').to.throw(message);
    expect(() => downstream.dataSync()).to.throw(message);
    expect(() => rows.dataSync()).to.throw(message);
    expect(() => rows.to('cpu').dataSync(), 'a copy of it').to.throw(message);
    synchronize(device);
  });

  it('an error no read has reported is thrown by synchronize(), once', () => {
    const table = randn([4, 3], { seed: 1, device });
    embedding(tensor([5], { dtype: 'i32', device }), table).sum();
    expect(() => synchronize(device)).to.throw(/embedding: index 5 is out of range/);
    synchronize(device);
  });

  it('scoreTopk values stay poisoned after the indices read threw', () => {
    const result = scoreTopk(randn([2, 4], { seed: 1, device }), randn([6, 4], { seed: 2, device }), 2, {
      exclude: { offsets: [0, 1, 2], ids: [1, 60] },
    });
    expect(() => result.indices.dataSync()).to.throw(/scoreTopk: excluded item id/);
    expect(() => result.values.dataSync()).to.throw(/scoreTopk: excluded item id/);
  });
});

describe('kernel error tracking for asynchronous devices (simulated device)', () => {
  // native.errorWindowsProbe runs the tracking CUDA uses (core/poison.h: ErrorWindows) on real CPU
  // tensors, with a simulated device whose ops write their own error record slot.
  const failed = (op: number): string => `errorWindowsProbe: op ${op} failed`;

  it('poisons the failed op and what is computed from it, not unrelated outputs', () => {
    // 0 = input, 1 = failed output, 2 = unrelated, 3 = from 1, 4 = from 3 and 2.
    const r = native.errorWindowsProbe(8, [
      { touch: [0] },
      { touch: [0, 1], fails: true },
      { touch: [0, 2] },
      { touch: [1, 3] },
      { touch: [3, 2, 4] },
    ]);
    expect(r.errors).to.deep.equal([null, failed(1), null, failed(1), failed(1)]);
    expect(r.deferred).to.equal(failed(1));
    expect(r.skipped).to.deep.equal([]);
  });

  it('ties each error to its own op when several fail in one window', () => {
    const r = native.errorWindowsProbe(8, [{ touch: [0], fails: true }, { touch: [1], fails: true }, { touch: [2] }]);
    expect(r.errors).to.deep.equal([failed(0), failed(1), null]);
    expect(r.deferred, 'the first error, for synchronize()').to.equal(failed(0));
  });

  it('carries the error across windows: overflowing ones and those closed before settling', () => {
    const steps: ({ touch: number[]; fails?: boolean } | 'check' | 'close')[] = [{ touch: [0], fails: true }];
    for (let i = 0; i < 7; i++) steps.push({ touch: [100 + i] }); // fills 2-slot windows
    steps.push({ touch: [0, 1] }, 'close', { touch: [1, 2] }, 'close', { touch: [3] });
    const r = native.errorWindowsProbe(2, steps);
    expect(r.errors[0]).to.equal(failed(0));
    expect(r.errors[1]).to.equal(failed(0));
    expect(r.errors[2]).to.equal(failed(0));
    expect(r.errors[3]).to.equal(null);
    for (let i = 0; i < 7; i++) expect(r.errors[100 + i], `op ${i + 1}`).to.equal(null);
  });

  it('skips work that reads a storage known to be poisoned, and poisons its outputs', () => {
    const r = native.errorWindowsProbe(4, [{ touch: [0], fails: true }, 'check', { touch: [0, 1] }, { touch: [2] }]);
    expect(r.skipped).to.deep.equal([2]);
    expect(r.errors).to.deep.equal([failed(0), failed(0), null]);
  });

  it('settles windows whose records have arrived when the next one closes, without a read', () => {
    // 2-slot windows: op 2 closes the first window; on a device that has finished it, the failure
    // of op 0 is known before op 2 runs, so op 2 is skipped. On a busy device it runs and is
    // poisoned when a read settles the windows. Either way the same tensors end poisoned.
    const steps = [{ touch: [0], fails: true }, { touch: [1] }, { touch: [0, 2] }, { touch: [3] }];
    const finished = native.errorWindowsProbe(2, steps, true);
    const busy = native.errorWindowsProbe(2, steps, false);
    expect(finished.skipped).to.deep.equal([2]);
    expect(busy.skipped).to.deep.equal([]);
    for (const r of [finished, busy]) expect(r.errors).to.deep.equal([failed(0), null, failed(0), null]);
  });

  it('in-place work that fails poisons what it touched; a clean window poisons nothing', () => {
    const r = native.errorWindowsProbe(4, [
      { touch: [0] },
      { touch: [1] },
      'check',
      { touch: [0, 1], fails: true },
      { touch: [2] },
    ]);
    expect(r.errors).to.deep.equal([failed(3), failed(3), null]);
    const clean = native.errorWindowsProbe(4, [{ touch: [0] }, { touch: [0, 1] }, 'check', { touch: [1, 2] }]);
    expect(clean.errors).to.deep.equal([null, null, null]);
    expect(clean.deferred).to.equal(null);
  });
});

async function expectRejection(promise: Promise<unknown>, message: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    expect((error as Error).message).to.match(message);
    return;
  }
  expect.fail('the read resolved');
}

describe('native handles and device specs', () => {
  it('refuses a native tensor handle constructed from JS', () => {
    const Handle = zeros([1]).native.constructor as new () => unknown;
    expect(() => new Handle()).to.throw(/NativeTensor cannot be constructed from JS/);
  });

  it('memory() and setDefaultDevice() refuse devices that do not exist', () => {
    expect(() => memory('cuda:7')).to.throw(/cuda:7/);
    expect(() => memory('gpu')).to.throw(/memory: /);
    for (const spec of ['cuda:7', 'gpu', 42, null])
      expect(() => setDefaultDevice(spec as string)).to.throw(/^setDefaultDevice: /);
    expect(getDefaultDevice()).to.equal('cpu');
    setDefaultDevice('cpu');
    expect(memory('cpu').bytesInUse).to.be.a('number');
  });
});

describe('tensor factories and layers refuse bad arguments', () => {
  it('tensor() refuses i32 values that would wrap or truncate', () => {
    for (const values of [[3e9], [-(2 ** 31) - 1], [1.5]])
      expect(() => tensor(values, { dtype: 'i32' })).to.throw(/i32 values must be integers in \[-2\^31, 2\^31\)/);
    expect(() => tensor(new Float32Array([3e9]), { dtype: 'i32' })).to.throw(/i32 values/);
    expect(Array.from(tensor([2 ** 31 - 1, -(2 ** 31)], { dtype: 'i32' }).dataSync())).to.deep.equal([
      2 ** 31 - 1,
      -(2 ** 31),
    ]);
  });

  it('arange, MLP and Dropout refuse arguments of the wrong kind', () => {
    expect(() => arange('x' as never)).to.throw(/arange: 'start' must be a finite number, got x/);
    expect(() => arange(0, NaN)).to.throw(/'end' must be a finite number/);
    expect(() => new nn.MLP({} as never)).to.throw(/MLP: 'sizes' must be an array/);
    expect(() => new nn.MLP([2, 3], { activation: 'explode' as never })).to.throw(/MLP: 'activation' must be one of/);
    expect(() => new nn.Dropout(null as never)).to.throw(/Dropout: 'p' must be in \[0, 1\), got null/);
  });

  it('model configs and shapes with NaN, Infinity or fractional sizes name the field', () => {
    const base = presetConfig('tiny');
    const sizes = [
      'vocabSize',
      'hiddenSize',
      'intermediateSize',
      'numHiddenLayers',
      'numAttentionHeads',
      'numKeyValueHeads',
      'headDim',
      'maxPositionEmbeddings',
    ] as const;
    for (const field of sizes)
      for (const bad of [NaN, Infinity, 1.5, 0]) {
        const message = new RegExp(`^new CausalLM: 'config\\.${field}' must be a positive integer, got number ${bad}$`);
        expect(() => new CausalLM({ ...base, [field]: bad }), `${field} ${bad}`).to.throw(message);
      }
    expect(() => new CausalLM({ ...base, rmsNormEps: NaN })).to.throw(/'config\.rmsNormEps' must be a finite positive/);
    expect(() => configToJson({ ...base, headDim: NaN })).to.throw(/^configToJson: 'config\.headDim'/);
    for (const make of [randn, rand])
      expect(() => make([2, NaN], { seed: 1 })).to.throw(/^randn?: 'shape'\[1\] = NaN is not a non-negative integer/);
    expect(() => zeros([Infinity])).to.throw(/^full: 'shape'\[0\] = Infinity is not/);
    const gru = models.gru4recConfig(20, 'demo', { externalDim: 0 });
    expect(() => new models.GRU4Rec({ ...gru, maxlen: NaN })).to.throw(
      /^GRU4Rec: 'maxlen' must be a positive integer, got NaN/,
    );
    expect(() => new nn.LayerNorm(4, NaN)).to.throw(/^LayerNorm: 'eps' must be a finite number >= 0, got NaN/);
    expect(() => new nn.MLP([4, 1.5])).to.throw(/^MLP: 'sizes\[1\]' must be a positive integer, got 1.5/);
  });

  it('ForwardContext refuses sizes that would make it loop forever', () => {
    const run = runIsolated(
      `
      try { new m.ForwardContext(42, -1, 1e308); console.log('accepted'); }
      catch (e) { console.log(e.message); }
    `,
      20_000,
    );
    expect(run.signal, 'ForwardContext hung').to.equal(null);
    expect(run.out).to.match(/ForwardContext: 'batch' must be a non-negative integer/);
    expect(ForwardContext).to.be.a('function');
  });
});

describe('worker teardown', () => {
  it('terminating workers with llmrec work in flight does not abort the process', () => {
    const run = runIsolated(`
      const { Worker } = await import('node:worker_threads');
      const source = \`
        const { parentPort } = await import('node:worker_threads');
        const m = await import(\${JSON.stringify(${JSON.stringify(indexUrl)})});
        const big = m.randn([1 << 20], { seed: 1 });
        parentPort.postMessage('started');
        // Read-backs and queued kernels always in flight, so termination lands in the middle of them.
        for (let i = 0; ; i++) {
          const a = m.randn([128, 128], { seed: i });
          const reads = [big.mul(2).data(), m.relu(m.matmul(a, a)).data()];
          if (i % 2 === 0) await Promise.all(reads);
        }
      \`;
      for (let round = 0; round < 5; round++) {
        const worker = new Worker(new URL('data:text/javascript,' + encodeURIComponent(source)));
        await new Promise((resolve, reject) => { worker.once('message', resolve); worker.once('error', reject); });
        await new Promise((resolve) => setTimeout(resolve, 20 + 15 * round));
        await worker.terminate();
      }
      console.log('survived');
    `);
    expect(run.signal, run.out).to.equal(null);
    expect(run.status, run.out).to.equal(0);
    expect(run.out).to.match(/survived/);
  });
});
