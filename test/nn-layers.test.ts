import { expect } from 'chai';

import {
  activationName,
  crossEntropy,
  manualSeed,
  nn,
  optim,
  randn,
  tensor,
  training,
  type Tensor,
} from '../lib/index.js';
import { describeEachDevice } from './support/devices.js';
import {
  attentionRef,
  gelu64,
  layerNormRef,
  linearRef,
  moduleGradCheck,
  relu64,
  sigmoid64,
  type Params,
} from './support/module-check.js';
import { f64 } from './support/reference.js';

const input = (shape: number[], seed: number) => ({
  values: f64(randn(shape, { seed })),
  shape,
});

/** Multi-head self-attention reference over x [B, L, D] with the module's q/k/v/out parameters. */
function mhaRef(
  p: Params,
  x: Float64Array,
  b: number,
  l: number,
  dim: number,
  heads: number,
  causal: boolean,
  prefix = '',
): Float64Array {
  const hd = dim / heads;
  const q = linearRef(x, p[`${prefix}q.weight`]!, p[`${prefix}q.bias`], dim, dim);
  const k = linearRef(x, p[`${prefix}k.weight`]!, p[`${prefix}k.bias`], dim, dim);
  const v = linearRef(x, p[`${prefix}v.weight`]!, p[`${prefix}v.bias`], dim, dim);
  const merged = new Float64Array(b * l * dim);
  const head = (t: Float64Array, bi: number, h: number): Float64Array =>
    Float64Array.from({ length: l * hd }, (_, n) => t[(bi * l + Math.floor(n / hd)) * dim + h * hd + (n % hd)]!);
  for (let bi = 0; bi < b; bi++)
    for (let h = 0; h < heads; h++) {
      const o = attentionRef(head(q, bi, h), head(k, bi, h), head(v, bi, h), l, l, hd, (i, j) => !causal || j <= i);
      for (let i = 0; i < l; i++) for (let e = 0; e < hd; e++) merged[(bi * l + i) * dim + h * hd + e] = o[i * hd + e]!;
    }
  return linearRef(merged, p[`${prefix}out.weight`]!, p[`${prefix}out.bias`], dim, dim);
}

describeEachDevice('nn layers', (device) => {
  it('Linear with a fused GELU: values and gradients of weight, bias and input', () => {
    manualSeed(1);
    const layer = new nn.Linear(5, 4, { device });
    moduleGradCheck({
      device,
      module: layer,
      inputs: [input([3, 5], 2)],
      forward: ([x]) => layer.forward(x!, 'gelu'),
      reference: (p, [x]) => linearRef(x!, p.weight!, p.bias, 5, 4).map(gelu64),
    });
  });

  it('LayerNorm and RMSNorm', () => {
    manualSeed(2);
    const ln = new nn.LayerNorm(6, 1e-5, { device });
    const rms = new nn.RMSNorm(6, 1e-6, { device });
    // Perturb the unit weights so their gradients are not trivially symmetric.
    ln.loadStateDict({ weight: randn([6], { seed: 5, mean: 1, std: 0.3 }), bias: randn([6], { seed: 6 }) });
    rms.loadStateDict({ weight: randn([6], { seed: 7, mean: 1, std: 0.3 }) });
    moduleGradCheck({
      device,
      module: ln,
      inputs: [input([4, 6], 3)],
      forward: ([x]) => ln.forward(x!),
      reference: (p, [x]) => layerNormRef(x!, p.weight!, p.bias, 6, 1e-5),
    });
    moduleGradCheck({
      device,
      module: rms,
      inputs: [input([4, 6], 4)],
      forward: ([x]) => rms.forward(x!),
      reference: (p, [x]) => {
        const out = new Float64Array(x!.length);
        for (let r = 0; r < 4; r++) {
          const row = x!.subarray(r * 6, r * 6 + 6);
          const inv = 1 / Math.sqrt(row.reduce((a, v) => a + v * v, 0) / 6 + 1e-6);
          for (let i = 0; i < 6; i++) out[r * 6 + i] = row[i]! * inv * p.weight![i]!;
        }
        return out;
      },
    });
  });

  it("takes one spelling of activation names, and Hugging Face's (gelu_pytorch_tanh, swish...) as aliases", () => {
    const x = randn([3, 8], { seed: 4, device });
    const pairs: [string, nn.ActivationName][] = [
      ['gelu_pytorch_tanh', 'gelu_tanh'],
      ['gelu_new', 'gelu_tanh'],
      ['geluTanh', 'gelu_tanh'],
      ['leakyRelu', 'leaky_relu'],
      ['swish', 'silu'],
      ['identity', 'none'],
    ];
    for (const [alias, name] of pairs) {
      expect(activationName(alias, 'test'), alias).to.equal(name);
      expect(Array.from(nn.activate(x, alias as nn.ActivationName).dataSync()), alias).to.deep.equal(
        Array.from(nn.activate(x, name).dataSync()),
      );
    }
    const linear = new nn.Linear(8, 4, { device });
    expect(Array.from(linear.forward(x, 'gelu_pytorch_tanh' as nn.ActivationName).dataSync())).to.deep.equal(
      Array.from(linear.forward(x, 'gelu_tanh').dataSync()),
    );
    expect(new nn.MLP([8, 4], { device, activation: 'swish' as nn.ActivationName }).activation).to.equal('silu');
    expect(() => nn.activate(x, 'gelu_fast' as nn.ActivationName)).to.throw(
      /activate: 'name' must be one of relu, gelu, gelu_tanh, silu, leaky_relu, sigmoid, tanh, none \(or gelu_pytorch_tanh/,
    );
  });

  it('MLP with LayerNorm and GELU between its layers', () => {
    manualSeed(3);
    const mlp = new nn.MLP([5, 7, 3], { device, layerNorm: true, activation: 'gelu' });
    moduleGradCheck({
      device,
      module: mlp,
      inputs: [input([2, 5], 8)],
      forward: ([x]) => mlp.forward(x!),
      reference: (p, [x]) => {
        const h = linearRef(x!, p['fc0.weight']!, p['fc0.bias'], 5, 7);
        const n = layerNormRef(h, p['norm0.weight']!, p['norm0.bias'], 7, 1e-5).map(gelu64);
        return linearRef(n, p['fc1.weight']!, p['fc1.bias'], 7, 3);
      },
    });
  });

  it('Embedding gathers rows, keeps the padding row at zero, and can be frozen', () => {
    manualSeed(4);
    const emb = new nn.Embedding(6, 3, { device, paddingIdx: 0 });
    const ids = tensor(new Int32Array([2, 0, 5, 2]), { dtype: 'i32', device });
    moduleGradCheck({
      device,
      module: emb,
      inputs: [],
      forward: () => emb.forward(ids, { scale: 2 }),
      reference: (p) =>
        Float64Array.from({ length: 12 }, (_, n) => {
          const id = [2, 0, 5, 2][Math.floor(n / 3)]!;
          return id === 0 ? 0 : 2 * p.weight![id * 3 + (n % 3)]!;
        }),
    });
    expect([...emb.weight.dataSync().slice(0, 3)]).to.deep.equal([0, 0, 0]);
    const table = randn([6, 3], { seed: 1, device });
    const frozen = new nn.Embedding(6, 3, { weight: table, frozen: true });
    expect(frozen.trainableParameters()).to.have.length(0);
    expect(() => new nn.Embedding(5, 3, { weight: table })).to.throw(
      /'weight' has shape \[6, 3\] but the layer is \[5, 3\]/,
    );
  });

  for (const heads of [1, 2])
    it(`MultiHeadAttention (${heads} head${heads > 1 ? 's' : ''}, causal) matches a float64 reference`, () => {
      manualSeed(5);
      const mha = new nn.MultiHeadAttention(8, heads, { device });
      moduleGradCheck({
        device,
        module: mha,
        inputs: [input([2, 4, 8], 9)],
        forward: ([x]) => mha.forward(x!, x!, x!, { causal: true }),
        reference: (p, [x]) => mhaRef(p, x!, 2, 4, 8, heads, true),
      });
    });

  it('TransformerBlock (pre-LN, ReLU feed-forward) matches a float64 reference', () => {
    manualSeed(6);
    const block = new nn.TransformerBlock(8, 2, { device, ffnDim: 12, activation: 'relu' });
    moduleGradCheck({
      device,
      module: block,
      inputs: [input([1, 3, 8], 10)],
      forward: ([x]) => block.forward(x!, { causal: true }),
      reference: (p, [x]) => {
        const n1 = layerNormRef(x!, p['norm1.weight']!, p['norm1.bias'], 8, 1e-5);
        const h = mhaRef(p, n1, 1, 3, 8, 2, true, 'attention.').map((v, i) => v + x![i]!);
        const n2 = layerNormRef(h, p['norm2.weight']!, p['norm2.bias'], 8, 1e-5);
        const f = linearRef(
          linearRef(n2, p['ffn.fc0.weight']!, p['ffn.fc0.bias'], 8, 12).map(relu64),
          p['ffn.fc1.weight']!,
          p['ffn.fc1.bias'],
          12,
          8,
        );
        return f.map((v, i) => v + h[i]!);
      },
    });
  });

  it('GRU follows torch.nn.GRU equations over a sequence', () => {
    manualSeed(7);
    const gru = new nn.GRU(3, 4, 1, { device });
    const [b, l, hsz] = [2, 3, 4];
    moduleGradCheck({
      device,
      module: gru,
      inputs: [input([b, l, 3], 11)],
      forward: ([x]) => gru.forward(x!).output,
      reference: (p, [x]) => {
        const out = new Float64Array(b * l * hsz);
        for (let bi = 0; bi < b; bi++) {
          let h = new Float64Array(hsz);
          for (let t = 0; t < l; t++) {
            const gx = linearRef(
              x!.subarray((bi * l + t) * 3, (bi * l + t + 1) * 3),
              p['ih0.weight']!,
              p['ih0.bias'],
              3,
              12,
            );
            const gh = linearRef(h, p['hh0.weight']!, p['hh0.bias'], hsz, 12);
            const next = new Float64Array(hsz);
            for (let j = 0; j < hsz; j++) {
              const r = sigmoid64(gx[j]! + gh[j]!);
              const z = sigmoid64(gx[hsz + j]! + gh[hsz + j]!);
              const n = Math.tanh(gx[2 * hsz + j]! + r * gh[2 * hsz + j]!);
              next[j] = (1 - z) * n + z * h[j]!;
            }
            h = next;
            out.set(h, (bi * l + t) * hsz);
          }
        }
        return out;
      },
    });
  });

  it('Dropout drops in training and passes through in eval', () => {
    const drop = new nn.Dropout(0.5);
    const x = randn([1000], { seed: 1, device }).abs().add(1);
    const trained = drop.forward(x).dataSync();
    const zeros = trained.filter((v) => v === 0).length;
    expect(zeros).to.be.within(400, 600);
    drop.eval();
    expect([...drop.forward(x).dataSync()]).to.deep.equal([...x.dataSync()]);
  });

  it('a 2-layer transformer overfits a tiny next-token batch, and so does an MLP', async () => {
    manualSeed(8);
    const vocab = 11;
    const dim = 16;
    class TinyLm extends nn.Module {
      declare readonly tokens: nn.Embedding;
      declare readonly positions: nn.Embedding;
      declare readonly block0: nn.TransformerBlock;
      declare readonly block1: nn.TransformerBlock;
      declare readonly head: nn.Linear;
      constructor() {
        super();
        this.registerModule('tokens', new nn.Embedding(vocab, dim, { device, std: 0.3 }));
        this.registerModule('positions', new nn.Embedding(6, dim, { device, std: 0.3 }));
        this.registerModule('block0', new nn.TransformerBlock(dim, 2, { device }));
        this.registerModule('block1', new nn.TransformerBlock(dim, 2, { device }));
        this.registerModule('head', new nn.Linear(dim, vocab, { device }));
      }
      forward(ids: Tensor): Tensor {
        let h = this.tokens.forward(ids, { positions: this.positions.weight });
        h = this.block1.forward(this.block0.forward(h, { causal: true }), { causal: true });
        return this.head.forward(h);
      }
    }
    const model = new TinyLm();
    const seqs = [
      [1, 2, 3, 4, 5, 6],
      [7, 3, 9, 1, 10, 2],
    ];
    const inputs = tensor(Int32Array.from(seqs.flatMap((s) => s.slice(0, 5))), { shape: [2, 5], dtype: 'i32', device });
    const labels = tensor(Int32Array.from(seqs.flatMap((s) => s.slice(1))), { dtype: 'i32', device });
    const optimizer = new optim.AdamW(model.parameters(), { lr: 0.01 });
    const result = await training.train({
      model,
      optimizer,
      batches: () => [0],
      loss: () => crossEntropy(model.forward(inputs).reshape(10, vocab), labels),
      epochs: 150,
    });
    expect(result.history[0]!.loss).to.be.greaterThan(1.5);
    expect(result.history.at(-1)!.loss).to.be.lessThan(0.05);

    const mlp = new nn.MLP([4, 32, 3], { device, activation: 'gelu' });
    const x = randn([6, 4], { seed: 3, device });
    const y = tensor(new Int32Array([0, 1, 2, 0, 1, 2]), { dtype: 'i32', device });
    const mlpResult = await training.train({
      model: mlp,
      optimizer: new optim.AdamW(mlp.parameters(), { lr: 0.02 }),
      batches: () => [0],
      loss: () => crossEntropy(mlp.forward(x), y),
      epochs: 200,
    });
    expect(mlpResult.history.at(-1)!.loss).to.be.lessThan(0.02);
  });
});
