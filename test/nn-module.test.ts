import { expect } from 'chai';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { io, manualSeed, nn, randn, tensor, tidy, type Tensor } from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';
import { expectClose, f64 } from './support/reference.js';

class Affine extends nn.Module {
  declare readonly weight: Tensor;
  declare readonly bias: Tensor;
  constructor(n: number, device: string) {
    super();
    this.registerParameter('weight', nn.init.normal([n], 1, 0.5, { device }));
    this.registerParameter('bias', nn.init.zerosInit([n], { device }));
  }
  forward(x: Tensor): Tensor {
    return x.mul(this.weight).add(this.bias);
  }
}

class Net extends nn.Module {
  declare readonly first: Affine;
  declare readonly second: Affine;
  declare readonly shift: Tensor;
  constructor(n: number, device: string) {
    super();
    this.registerModule('first', new Affine(n, device));
    this.registerModule('second', new Affine(n, device));
    this.registerBuffer('shift', tensor(new Float32Array(n).fill(0.5), { device }));
  }
  forward(x: Tensor): Tensor {
    return this.second.forward(this.first.forward(x).tanh()).add(this.shift);
  }
}

describeEachDevice('nn.Module', (device) => {
  it('names parameters, buffers and modules with dotted paths', () => {
    const net = new Net(3, device);
    expect(net.namedParameters().map(([n]) => n)).to.deep.equal([
      'first.weight',
      'first.bias',
      'second.weight',
      'second.bias',
    ]);
    expect(net.namedBuffers().map(([n]) => n)).to.deep.equal(['shift']);
    expect(net.namedModules().map(([n]) => n)).to.deep.equal(['', 'first', 'second']);
    expect(net.numParameters()).to.equal(12);
    expect(net.parameters().every((p) => p.requiresGrad)).to.equal(true);
    expect(() => ((net as unknown as { first: unknown }).first = new Affine(3, device))).to.throw(
      /assign 'first' through/,
    );
    net.dispose();
  });

  it('train() and eval() reach every descendant', () => {
    const net = new Net(2, device).eval();
    expect(net.namedModules().every(([, m]) => !m.training)).to.equal(true);
    net.train();
    expect(net.second.training).to.equal(true);
    net.dispose();
  });

  it('a frozen module still passes gradients to its input, and its weights get none', () => {
    const net = new Net(4, device).freeze();
    const x = randn([4], { seed: 3, device }).requiresGrad_();
    net.forward(x).sum().backward();
    expect(x.grad).to.not.equal(null);
    expect(net.parameters().every((p) => p.grad === null)).to.equal(true);
    // The same gradient as with trainable weights: freezing changes what is stored, not the math.
    const frozenGrad = f64(x.grad!);
    x.zeroGrad();
    net.unfreeze();
    net.forward(x).sum().backward();
    expectClose(f64(x.grad!), frozenGrad, 1e-7, 'input gradient');
    expect(net.first.weight.grad).to.not.equal(null);
    net.dispose();
  });

  it('state dicts round-trip through safetensors and reproduce the outputs', () => {
    manualSeed(7);
    const a = new Net(5, device);
    manualSeed(8);
    const b = new Net(5, device);
    const x = randn([5], { seed: 1, device });
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-nn-'));
    try {
      const file = path.join(dir, 'model.safetensors');
      io.saveSafetensorsSync(file, a.stateDict());
      const result = b.loadStateDict(io.loadSafetensors(file, { device }));
      expect(result).to.deep.equal({ missing: [], unexpected: [] });
      expect([...b.forward(x).dataSync()]).to.deep.equal([...a.forward(x).dataSync()]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    a.dispose();
    b.dispose();
  });

  it('loadStateDict checks everything before changing anything', () => {
    const net = new Net(3, device);
    const before = f64(net.first.weight);
    const good = net.stateDict();
    const bad = new Map(good);
    bad.set('second.bias', tensor([1, 2], { device }));
    expect(() => net.loadStateDict(bad)).to.throw(/'second.bias' has shape \[2\] but the module expects \[3\]/);
    expect([...f64(net.first.weight)]).to.deep.equal([...before]);
    const partial = new Map(good);
    partial.delete('shift');
    partial.set('extra', tensor([1], { device }));
    expect(() => net.loadStateDict(partial)).to.throw(/missing shift; unexpected extra/);
    expect(net.loadStateDict(partial, { strict: false })).to.deep.equal({ missing: ['shift'], unexpected: ['extra'] });
    net.dispose();
  });

  it('to() casts parameters and keeps them trainable; tidy() never frees them', () => {
    const net = new Net(3, device);
    tidy(() => {
      net.to(device, 'bf16');
      net.forward(randn([3], { seed: 2, device, dtype: 'bf16' }));
    });
    expect(net.parameters().map((p) => p.dtype)).to.deep.equal(['bf16', 'bf16', 'bf16', 'bf16']);
    expect(net.parameters().every((p) => p.requiresGrad && !p.isDisposed)).to.equal(true);
    expect(net.shift.dtype).to.equal('bf16');
    net.dispose();
    expect(net.first.weight.isDisposed).to.equal(true);
  });

  it('initialisers draw from the seeded generator with the right spread', () => {
    manualSeed(1);
    const w = nn.init.xavierNormal([200, 300], 1, { device });
    const values = f64(w);
    const std = Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
    expect(std).to.be.closeTo(Math.sqrt(2 / 500), 0.002);
    manualSeed(1);
    expect([...nn.init.xavierNormal([200, 300], 1, { device }).dataSync().slice(0, 8)]).to.deep.equal(
      [...values.slice(0, 8)].map(Math.fround),
    );
    const u = f64(nn.init.linearUniform([50, 40], 40, { device }));
    expect(Math.max(...u.map(Math.abs))).to.be.at.most(1 / Math.sqrt(40));
    expect(() => nn.init.xavierNormal([3])).to.throw(/at least 2 dimensions/);
  });
});
