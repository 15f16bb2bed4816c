import { expect } from 'chai';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

import { buildInfo, devices, randn, tensor } from '../lib/index.js';

describe('build and devices', () => {
  it('reports the compiled backends', () => {
    const info = buildInfo();
    expect(info.backends.cpu).to.equal(true);
    expect(info.version).to.match(/^\d+\.\d+\.\d+/);
    expect(['cmake-js', 'node-gyp']).to.include(info.buildSystem);
    if (process.env.LLMREC_CUDA === 'on') {
      expect(info.backends.cuda, 'LLMREC_CUDA=on must compile the CUDA backend').to.equal(true);
      // The three of LLMREC_CUDA=on, unless LLMREC_CUDA_ARCH narrowed them (e.g. 90: sm_90).
      const narrowed = process.env.LLMREC_CUDA_ARCH?.split(/[,;\s]+/).filter((a) => a !== '');
      const expected = narrowed?.length ? narrowed.map((a) => `sm_${a}`).join(',') : 'sm_80,sm_90,compute_90';
      expect(info.cudaArchitectures).to.equal(expected);
    }
  });

  it('reports the CPU threads and, for CUDA, devices or the reason there are none', () => {
    const report = devices();
    const expectedThreads = Number(process.env.LLMREC_NUM_THREADS) || os.availableParallelism();
    expect(report.cpu.threads).to.equal(expectedThreads);
    if (report.cuda.available) {
      expect(report.cuda.devices.length).to.be.greaterThan(0);
      for (const d of report.cuda.devices) {
        expect(d.name).to.be.a('string').and.not.equal('');
        expect(d.totalMemory).to.be.greaterThan(0);
        expect(d.computeCapability).to.match(/^\d+\.\d+$/);
      }
    } else {
      expect(report.cuda.reason).to.be.a('string').and.match(/CUDA/);
      if (!buildInfo().backends.cuda) expect(report.cuda.reason).to.match(/not compiled in/);
    }
  });
});

describe('asynchronous execution', () => {
  it('reads back without blocking, in queue order', async () => {
    const x = randn([1 << 20], { seed: 1 });
    const y = x.mul(2).add(1);
    const pending = y.data();
    const [values, again] = await Promise.all([pending, y.sum().data()]);
    const xs = x.dataSync();
    expect(values[12345]).to.be.closeTo(2 * xs[12345]! + 1, 1e-6);
    expect(again.length).to.equal(1);
  });

  it('keeps many concurrent reads apart', async () => {
    const tensors = Array.from({ length: 32 }, (_, i) => tensor([i, i + 1]));
    const results = await Promise.all(tensors.map((t) => t.data()));
    results.forEach((r, i) => expect(Array.from(r)).to.deep.equal([i, i + 1]));
  });
});

describe('worker_threads', () => {
  it('runs the addon in several threads at once, each with its own state', async () => {
    const indexUrl = new URL('../lib/index.js', import.meta.url).href;
    const source = `
      const { parentPort, workerData } = await import('node:worker_threads');
      const m = await import(${JSON.stringify(indexUrl)});
      const x = m.randn([1000], { seed: workerData.seed });
      const total = await x.mul(2).sum().data();
      parentPort.postMessage({ total: total[0], threads: m.devices().cpu.threads });
    `;
    const run = (seed: number) =>
      new Promise<{ total: number; threads: number }>((resolve, reject) => {
        const worker = new Worker(new URL(`data:text/javascript,${encodeURIComponent(source)}`), {
          workerData: { seed },
        });
        worker.once('message', resolve);
        worker.once('error', reject);
      });
    const [a, b] = await Promise.all([run(1), run(2)]);
    const expected = (seed: number) => 2 * randn([1000], { seed }).sum().item();
    expect(a.total).to.be.closeTo(expected(1), 1e-3);
    expect(b.total).to.be.closeTo(expected(2), 1e-3);
    expect(fileURLToPath(indexUrl)).to.match(/index\.js$/);
  });
});
