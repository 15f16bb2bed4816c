import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import {
  applyRepetitionPenalty,
  CausalLM,
  concat,
  configToJson,
  generate,
  loadCausalLM,
  manualSeed,
  memory,
  narrow,
  noGrad,
  parseConfig,
  poolHidden,
  presetConfig,
  randn,
  resizeTokenEmbeddings,
  ropeInverseFrequencies,
  saveCausalLM,
  synchronize,
  type Tensor,
} from '../lib/index.js';
import { saveSafetensorsSync } from '../lib/io/safetensors.js';
import { describeEachDevice, onGpu } from './support/devices.js';
import { expectClose, f64, gradCheck, relativeError } from './support/reference.js';
import { embedIds, hostParams, llamaConfig, qwenConfig, randomModel, reference } from './support/llm-reference.js';

/** Mean CE of shifted labels (-100 ignored) from logits [B, L, V]. */
function lmLoss(logits: Float64Array, labels: number[][], v: number): number {
  let total = 0;
  let count = 0;
  labels.forEach((row, r) =>
    row.forEach((label, j) => {
      if (j === 0 || label === -100) return;
      const base = (r * row.length + j - 1) * v;
      const slice = logits.subarray(base, base + v);
      const m = Math.max(...slice);
      const lse = m + Math.log(slice.reduce((s, x) => s + Math.exp(x - m), 0));
      total += lse - slice[label]!;
      count++;
    }),
  );
  return total / count;
}

/** Rows (b, j) of [B, L, n] kept where keep(b, j). */
function rowsWhere(
  x: ArrayLike<number>,
  b: number,
  l: number,
  n: number,
  keep: (r: number, j: number) => boolean,
): number[] {
  const out: number[] = [];
  for (let r = 0; r < b; r++)
    for (let j = 0; j < l; j++) if (keep(r, j)) for (let k = 0; k < n; k++) out.push(x[(r * l + j) * n + k]!);
  return out;
}

const IDS = [
  [3, 17, 9, 22, 5],
  [11, 2, 30, 7, 14],
];

function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-lm-'));
}

describe('llm config', () => {
  it('parses qwen2 and llama configs and round-trips through config.json', () => {
    const q = qwenConfig();
    expect(q.attentionBias).to.equal(true);
    expect(q.outputBias).to.equal(false);
    expect(q.headDim).to.equal(4);
    expect(q.eosTokenIds).to.deep.equal([31]);
    const l = llamaConfig();
    expect(l.attentionBias).to.equal(false);
    expect(l.ropeScaling?.ropeType).to.equal('llama3');
    expect(parseConfig(configToJson(l))).to.deep.equal(l);
    expect(parseConfig(configToJson(q))).to.deep.equal(q);
  });

  it('rejects unsupported or inconsistent configs with the key named', () => {
    expect(() => qwenConfig({ model_type: 'gpt2' })).to.throw(/model_type "gpt2" is not supported/);
    expect(() => qwenConfig({ num_key_value_heads: 3 })).to.throw(
      /num_attention_heads 4 is not a multiple of num_key_value_heads 3/,
    );
    expect(() => qwenConfig({ hidden_size: 18 })).to.throw(/hidden_size 18 is not divisible by num_attention_heads 4/);
    expect(() => qwenConfig({ vocab_size: -1 })).to.throw(/'vocab_size' must be a positive integer/);
    expect(() => qwenConfig({ rope_scaling: { rope_type: 'yarn', factor: 2 } })).to.throw(/rope_scaling type "yarn"/);
  });

  it('scales llama3 rotary frequencies: high kept, low divided by factor, a smooth band between', () => {
    const cfg = { headDim: 64, ropeTheta: 500000, ropeScaling: null };
    const plain = ropeInverseFrequencies(cfg);
    const s = {
      ropeType: 'llama3' as const,
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositionEmbeddings: 8192,
    };
    const scaled = ropeInverseFrequencies({ ...cfg, ropeScaling: s });
    let blended = 0;
    plain.forEach((f, k) => {
      const wavelen = (2 * Math.PI) / f;
      if (wavelen < 8192 / 4) expect(scaled[k]).to.equal(f);
      else if (wavelen > 8192) expect(scaled[k]).to.be.closeTo(f / 8, 1e-18);
      else {
        blended++;
        expect(scaled[k]).to.be.within(f / 8, f);
      }
    });
    expect(blended).to.be.greaterThan(0);
  });
});

describeEachDevice('llm model', (device) => {
  const tol = onGpu(device) ? 1e-3 : 1e-5;

  for (const [name, makeConfig] of [
    ['qwen2 (tied, qkv bias)', qwenConfig],
    ['llama (untied, llama3 rope scaling)', llamaConfig],
  ] as const) {
    it(`${name}: logits match the float64 reference, causal and bidirectional`, () => {
      const config = makeConfig();
      const model = randomModel(config, device);
      const params = hostParams(model);
      for (const causal of [true, false]) {
        const out = model.forward({ inputIds: IDS, attention: causal ? 'causal' : 'bidirectional' });
        expect(out.logits!.shape).to.deep.equal([2, 5, 32]);
        const ref = reference(config, params, { embeds: embedIds(params, config, IDS), b: 2, l: 5, causal });
        expectClose(f64(out.logits!), ref.logits, tol, `${causal ? 'causal' : 'bidirectional'} logits`);
      }
      model.dispose();
    });
  }

  it('forward releases its intermediates: memory in use returns to where it was, with and without a graph', () => {
    const model = randomModel(qwenConfig(), device);
    const inUse = (): number => {
      synchronize(device);
      return memory(device).bytesInUse;
    };
    // One of each first: whatever a first call allocates for good (parameter gradients are freed
    // by zeroGrad) is in `before`.
    noGrad(() => model.forward({ inputIds: IDS, logits: 'none' }).lastHiddenState).dispose();
    const warm = model.forward({ inputIds: IDS, labels: IDS });
    warm.loss!.backward();
    warm.loss!.dispose();
    warm.lastHiddenState.dispose();
    model.zeroGrad();
    const before = inUse();
    for (let i = 0; i < 3; i++) {
      const hidden = noGrad(() => model.forward({ inputIds: IDS, logits: 'none' }).lastHiddenState);
      hidden.dispose();
    }
    expect(inUse(), 'after no-grad forwards').to.equal(before);
    for (let i = 0; i < 3; i++) {
      const { loss, lastHiddenState } = model.forward({ inputIds: IDS, labels: IDS });
      loss!.backward();
      loss!.dispose();
      lastHiddenState.dispose();
      model.zeroGrad();
    }
    expect(inUse(), 'after forward + backward').to.equal(before);
    model.dispose();
  });

  it('bf16 weights: logits within the bf16 tolerance of the float64 reference', () => {
    const config = qwenConfig();
    const model = randomModel(config, device).to(device, 'bf16');
    const params = hostParams(model);
    const out = model.forward({ inputIds: IDS });
    expect(out.logits!.dtype).to.equal('f32');
    const ref = reference(config, params, { embeds: embedIds(params, config, IDS), b: 2, l: 5, causal: true });
    expectClose(f64(out.logits!), ref.logits, 1e-2, 'bf16 logits');
    model.dispose();
  });

  it('left padding: positions restart after the pads (HF cumsum(mask) - 1) and pads are masked', () => {
    const config = qwenConfig();
    const model = randomModel(config, device);
    const params = hostParams(model);
    const lengths = [3, 5];
    const ids = [
      [0, 0, 9, 22, 5],
      [11, 2, 30, 7, 14],
    ];
    for (const causal of [true, false]) {
      const out = model.forward({
        inputIds: ids,
        lengths,
        paddingSide: 'left',
        attention: causal ? 'causal' : 'bidirectional',
      });
      const ref = reference(config, params, {
        embeds: embedIds(params, config, ids),
        b: 2,
        l: 5,
        causal,
        lengths,
        side: 'left',
      });
      const real = (r: number, j: number): boolean => j >= 5 - lengths[r]!;
      expectClose(
        rowsWhere(f64(out.logits!), 2, 5, 32, real),
        rowsWhere(ref.logits, 2, 5, 32, real),
        tol,
        'left-padded logits',
      );
      // The same prompt unpadded gives the same logits at its real positions.
      const alone = model.forward({ inputIds: [[9, 22, 5]], attention: causal ? 'causal' : 'bidirectional' });
      expectClose(f64(alone.logits!), f64(out.logits!).subarray(2 * 32, 5 * 32), tol, 'padded vs unpadded');
    }
    // An attention mask says the same as the lengths.
    const masked = model.forward({
      inputIds: ids,
      attentionMask: [
        [0, 0, 1, 1, 1],
        [1, 1, 1, 1, 1],
      ],
      paddingSide: 'left',
    });
    const byLengths = model.forward({ inputIds: ids, lengths, paddingSide: 'left' });
    expect([...masked.logits!.dataSync()]).to.deep.equal([...byLengths.logits!.dataSync()]);
    expect(() =>
      model.forward({
        inputIds: ids,
        attentionMask: [
          [1, 0, 1, 1, 1],
          [1, 1, 1, 1, 1],
        ],
        paddingSide: 'left',
      }),
    ).to.throw(/attentionMask' row 0 is not left-padded/);
    model.dispose();
  });

  it('LM loss matches the reference, and its gradient w.r.t. inputsEmbeds matches finite differences', () => {
    const config = qwenConfig();
    const model = randomModel(config, device);
    const params = hostParams(model);
    const labels = [
      [-100, 17, 9, 22, 5],
      [-100, -100, 30, 7, -100],
    ];
    const embeds = embedIds(params, config, IDS);
    const loss = model.forward({ inputIds: IDS, labels });
    const refLoss = lmLoss(reference(config, params, { embeds, b: 2, l: 5, causal: true }).logits, labels, 32);
    expectClose([loss.loss!.item()], [refLoss], tol, 'loss');
    model.freeze();
    gradCheck({
      device,
      inputs: [{ values: embeds, shape: [2, 5, 16] }],
      forward: ([x]) => model.forward({ inputsEmbeds: x!, labels }).loss!,
      reference: ([x]) =>
        Float64Array.of(lmLoss(reference(config, params, { embeds: x!, b: 2, l: 5, causal: true }).logits, labels, 32)),
      tol: onGpu(device) ? 1e-2 : 1e-3,
      step: 1e-5,
    });
    model.dispose();
  });

  it('soft embeddings replace exactly their slots; causal outputs change only at and after them', () => {
    const config = qwenConfig();
    const model = randomModel(config, device);
    const params = hostParams(model);
    const values = randn([2, 16], { seed: 3, device });
    const soft = { batch: [0, 1], position: [2, 3], values };
    const base = model.forward({ inputIds: IDS, outputHiddenStates: true });
    const injected = model.forward({ inputIds: IDS, softEmbeddings: soft, outputHiddenStates: true });
    // The layer-0 input differs exactly at the slots.
    const e0 = f64(base.hiddenStates![0]!);
    const e1 = f64(injected.hiddenStates![0]!);
    const changedRows = new Set<number>();
    for (let row = 0; row < 10; row++)
      for (let k = 0; k < 16; k++) if (e0[row * 16 + k] !== e1[row * 16 + k]) changedRows.add(row);
    expect([...changedRows]).to.deep.equal([2, 8]);
    // Final hidden states: equal before the slot, different from it on.
    const h0 = f64(base.lastHiddenState);
    const h1 = f64(injected.lastHiddenState);
    for (let row = 0; row < 10; row++) {
      const [r, j] = [Math.floor(row / 5), row % 5];
      const same = h0.subarray(row * 16, row * 16 + 16).every((v, k) => v === h1[row * 16 + k]);
      expect(same, `row ${r} position ${j}`).to.equal(j < soft.position[r]!);
    }
    // And the values are what the reference sees at those slots.
    const embeds = embedIds(params, config, IDS);
    const v = f64(values);
    embeds.set(v.subarray(0, 16), 2 * 16);
    embeds.set(v.subarray(16, 32), 8 * 16);
    expectClose(
      f64(injected.logits!),
      reference(config, params, { embeds, b: 2, l: 5, causal: true }).logits,
      tol,
      'injected',
    );
    // Prepending is the same as injecting into a longer input.
    const prefix = randn([2, 1, 16], { seed: 5, device });
    const pre = model.forward({ inputIds: IDS, prefixEmbeddings: prefix });
    const full = new Float64Array(2 * 6 * 16);
    const p = f64(prefix);
    const tokens = embedIds(params, config, IDS);
    for (let r = 0; r < 2; r++) {
      full.set(p.subarray(r * 16, r * 16 + 16), r * 6 * 16);
      full.set(tokens.subarray(r * 5 * 16, (r + 1) * 5 * 16), (r * 6 + 1) * 16);
    }
    expectClose(
      f64(pre.logits!),
      reference(config, params, { embeds: full, b: 2, l: 6, causal: true }).logits,
      tol,
      'prefix',
    );
    expect(() => model.forward({ inputIds: IDS, softEmbeddings: { ...soft, position: [2, 5] } })).to.throw(
      /soft embedding 1 targets \(1, 5\), outside the input \[2, 5\]/,
    );
    model.dispose();
  });

  it('the loss gradient w.r.t. injected soft embeddings matches finite differences', () => {
    const config = qwenConfig();
    const model = randomModel(config, device).freeze();
    const params = hostParams(model);
    const slots = { batch: [0, 1, 1], position: [2, 0, 3] };
    gradCheck({
      device,
      inputs: [{ values: f64(randn([3, 16], { seed: 13 })), shape: [3, 16] }],
      forward: ([v]) => model.forward({ inputIds: IDS, softEmbeddings: { ...slots, values: v! }, labels: IDS }).loss!,
      reference: ([v]) => {
        const embeds = embedIds(params, config, IDS);
        slots.batch.forEach((r, k) => embeds.set(v!.subarray(k * 16, k * 16 + 16), (r * 5 + slots.position[k]!) * 16));
        return Float64Array.of(lmLoss(reference(config, params, { embeds, b: 2, l: 5, causal: true }).logits, IDS, 32));
      },
      tol: onGpu(device) ? 1e-2 : 1e-3,
      step: 1e-5,
    });
    model.dispose();
  });

  it('frozen weights: gradients reach soft embeddings only, no weight gradient is allocated', () => {
    const model = randomModel(qwenConfig(), device).freeze();
    const values = randn([2, 16], { seed: 4, device, requiresGrad: true });
    for (const checkpointing of [false, true]) {
      model.gradientCheckpointing = checkpointing;
      const out = model.forward({
        inputIds: IDS,
        softEmbeddings: { batch: [0, 1], position: [1, 4], values },
        labels: IDS,
      });
      out.loss!.backward();
      expect(values.grad, 'soft embedding gradient').to.not.equal(null);
      expect(f64(values.grad!).some((g) => g !== 0)).to.equal(true);
      for (const [name, p] of model.namedParameters()) expect(p.grad, name).to.equal(null);
      values.zeroGrad();
    }
    model.dispose();
  });

  it('activation checkpointing gives the same loss and gradients as the plain backward', () => {
    const model = randomModel(llamaConfig(), device);
    const embeds = randn([2, 5, 16], { seed: 9, device, requiresGrad: true });
    const grads: Float64Array[][] = [];
    for (const checkpointing of [false, true]) {
      model.gradientCheckpointing = checkpointing;
      model.zeroGrad();
      embeds.zeroGrad();
      const loss = model.forward({ inputsEmbeds: embeds, labels: IDS }).loss!;
      loss.backward();
      const trained = model.namedParameters().filter(([name]) => name !== 'model.embed_tokens.weight');
      grads.push([
        f64(embeds.grad!),
        ...trained.map(([name, p]) => (expect(p.grad, name).to.not.equal(null), f64(p.grad!))),
      ]);
    }
    grads[0]!.forEach((g, i) => expectClose(grads[1]![i]!, g, 1e-6, `gradient ${i}`));
    model.dispose();
  });

  it('attention dropout in training: active, replayed exactly by checkpointing, off in eval', () => {
    const config = { ...llamaConfig(), attentionDropout: 0.3 };
    const model = randomModel(config, device);
    const params = hostParams(model);
    const embeds = randn([2, 5, 16], { seed: 12, device, requiresGrad: true });
    const a = f64(model.forward({ inputsEmbeds: embeds }).logits!);
    const b = f64(model.forward({ inputsEmbeds: embeds }).logits!);
    expect(relativeError(a, b)).to.be.greaterThan(1e-3);
    const grads: Float64Array[][] = [];
    for (const checkpointing of [false, true]) {
      model.gradientCheckpointing = checkpointing;
      model.zeroGrad();
      embeds.zeroGrad();
      manualSeed(99);
      model.forward({ inputsEmbeds: embeds, labels: IDS }).loss!.backward();
      grads.push([f64(embeds.grad!), f64(model.model.layers.items[0]!.self_attn.q_proj.weight.grad!)]);
    }
    grads[0]!.forEach((g, i) => expectClose(grads[1]![i]!, g, 1e-6, `gradient ${i}`));
    model.eval();
    const ref = reference(config, params, { embeds: f64(embeds), b: 2, l: 5, causal: true });
    expectClose(f64(model.forward({ inputsEmbeds: embeds }).logits!), ref.logits, tol, 'eval logits');
    model.dispose();
  });

  it('pools hidden states: masked mean, last real token, EOS and given positions', () => {
    const hidden = randn([2, 4, 3], { seed: 11, device });
    const h = f64(hidden);
    const row = (r: number, j: number) => [...h.subarray((r * 4 + j) * 3, (r * 4 + j) * 3 + 3)];
    const mean = f64(poolHidden(hidden, { mode: 'mean', lengths: [2, 4] }));
    const expected = [0, 1, 2].map((k) => (h[k]! + h[3 + k]!) / 2);
    const expected1 = [0, 1, 2].map((k) => [0, 1, 2, 3].reduce((s, j) => s + h[(4 + j) * 3 + k]!, 0) / 4);
    expectClose(mean, [...expected, ...expected1], tol, 'mean');
    // Padding with the EOS id is skipped when lengths are given.
    const padded = poolHidden(hidden, {
      mode: 'eos',
      inputIds: [
        [5, 31, 31, 31],
        [1, 2, 31, 4],
      ],
      eosTokenId: 31,
      lengths: [2, 4],
    });
    expect([...f64(padded)]).to.deep.equal([...row(0, 1), ...row(1, 2)]);
    expect([...f64(poolHidden(hidden, { mode: 'last', lengths: [2, 4] }))]).to.deep.equal([...row(0, 1), ...row(1, 3)]);
    expect([...f64(poolHidden(hidden, { mode: 'last', lengths: [2, 3], paddingSide: 'left' }))]).to.deep.equal([
      ...row(0, 3),
      ...row(1, 3),
    ]);
    const eos = poolHidden(hidden, {
      mode: 'eos',
      inputIds: [
        [5, 31, 0, 0],
        [1, 2, 31, 4],
      ],
      eosTokenId: 31,
    });
    expect([...f64(eos)]).to.deep.equal([...row(0, 1), ...row(1, 2)]);
    expect([...f64(poolHidden(hidden, { mode: 'positions', positions: [3, 0] }))]).to.deep.equal([
      ...row(0, 3),
      ...row(1, 0),
    ]);
    expect(() =>
      poolHidden(hidden, {
        mode: 'eos',
        inputIds: [
          [1, 2, 3, 4],
          [1, 2, 31, 4],
        ],
        eosTokenId: 31,
      }),
    ).to.throw(/row 0 has no EOS token 31/);
  });
});

describeEachDevice('llm checkpoints', (device) => {
  it('save → load round-trips, single file and sharded with an index', () => {
    const model = randomModel(llamaConfig(), device);
    const expected = [...model.forward({ inputIds: IDS }).logits!.dataSync()];
    for (const maxShardBytes of [undefined, 4000]) {
      const dir = tmpDir();
      saveCausalLM(dir, model, { dtype: 'f32', maxShardBytes });
      const files = fs.readdirSync(dir).sort();
      if (maxShardBytes) {
        expect(files).to.include('model.safetensors.index.json');
        expect(files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f)).length).to.be.greaterThan(1);
      } else expect(files).to.deep.equal(['config.json', 'model.safetensors']);
      const loaded = loadCausalLM(dir, { device });
      expect(loaded.namedParameters().map(([n]) => n)).to.deep.equal(model.namedParameters().map(([n]) => n));
      expect([...loaded.forward({ inputIds: IDS }).logits!.dataSync()]).to.deep.equal(expected);
      loaded.dispose();
      fs.rmSync(dir, { recursive: true });
    }
    model.dispose();
  });

  it('names a missing, misshapen or unexpected tensor', () => {
    const config = qwenConfig();
    const model = randomModel(config, device);
    const dir = tmpDir();
    saveCausalLM(dir, model);
    const state = model.stateDict();
    const write = (tensors: Map<string, Tensor>) => saveSafetensorsSync(path.join(dir, 'model.safetensors'), tensors);
    const withoutK = new Map(state);
    withoutK.delete('model.layers.1.self_attn.k_proj.weight');
    write(withoutK);
    expect(() => loadCausalLM(dir, { device })).to.throw(
      /tensor 'model.layers.1.self_attn.k_proj.weight' \[8, 16\] is missing/,
    );
    const bad = new Map(state);
    bad.set('model.layers.0.mlp.up_proj.weight', randn([20, 16], { device }));
    write(bad);
    expect(() => loadCausalLM(dir, { device })).to.throw(
      /tensor 'model.layers.0.mlp.up_proj.weight' is \[20, 16\] in model.safetensors but the config needs \[24, 16\]/,
    );
    const extra = new Map(state);
    extra.set('model.layers.0.self_attn.rogue.weight', randn([2], { device }));
    write(extra);
    expect(() => loadCausalLM(dir, { device })).to.throw(
      /tensors the model does not: model.layers.0.self_attn.rogue.weight/,
    );
    fs.rmSync(dir, { recursive: true });
    model.dispose();
  });

  it('resizeTokenEmbeddings adds rows at the mean of the existing ones and keeps the rest', () => {
    const model = randomModel(qwenConfig(), device);
    const bigger = resizeTokenEmbeddings(model, 35);
    const old = f64(model.model.embed_tokens.weight);
    const grown = f64(bigger.model.embed_tokens.weight);
    expect(bigger.config.vocabSize).to.equal(35);
    expectClose(grown.subarray(0, 32 * 16), old, 0, 'kept rows');
    for (let k = 0; k < 16; k++) {
      let mean = 0;
      for (let r = 0; r < 32; r++) mean += old[r * 16 + k]! / 32;
      for (let r = 32; r < 35; r++) expect(grown[r * 16 + k]).to.be.closeTo(mean, 1e-6);
    }
    expect(bigger.forward({ inputIds: [[34, 1]] }).logits!.shape).to.deep.equal([1, 2, 35]);
    model.dispose();
    bigger.dispose();
  });

  it('llmrec lm init writes a HF Qwen2 folder that loads', () => {
    const dir = tmpDir();
    const cli = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'main.js');
    const run = spawnSync(
      process.execPath,
      [cli, 'lm', 'init', '--preset', 'tiny', '--out', dir, '--vocab-size', '300', '--seed', '3'],
      { encoding: 'utf-8' },
    );
    expect(run.status, run.stderr).to.equal(0);
    expect(run.stdout).to.match(/wrote .*qwen2 'tiny'/);
    const json = JSON.parse(fs.readFileSync(path.join(dir, 'config.json'), 'utf-8')) as Record<string, unknown>;
    expect(json.model_type).to.equal('qwen2');
    expect(json.architectures).to.deep.equal(['Qwen2ForCausalLM']);
    const model = loadCausalLM(dir, { device });
    expect(model.config).to.deep.equal(presetConfig('tiny', 300));
    expect(model.forward({ inputIds: [[1, 2, 299]] }).logits!.shape).to.deep.equal([1, 3, 300]);
    model.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});

describe('llm against the independent PyTorch reference (bench/torch/llm_reference.py)', () => {
  const python = '/usr/bin/python3';
  const script = path.resolve(
    path.dirname(fileURLToPath(import.meta.url)),
    '..',
    '..',
    'bench',
    'torch',
    'make_llm_fixtures.py',
  );

  it('a tiny HF folder gives the same left-padded logits, loss and greedy continuations', function () {
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf-8' });
    if (probe.status !== 0) this.skip();
    const dir = tmpDir();
    const model = randomModel(qwenConfig(), 'cpu', 5);
    saveCausalLM(dir, model, { dtype: 'f32' });
    const fixture = path.join(dir, 'fixture.json');
    const run = spawnSync(python, [script, dir, fixture, '--backend', 'reference'], { encoding: 'utf-8' });
    expect(run.status, run.stderr).to.equal(0);
    const fx = JSON.parse(fs.readFileSync(fixture, 'utf-8')) as {
      prompts: number[][];
      left_padded_logits: number[][][];
      loss_of_prompt0: number;
      greedy: number[][];
    };
    const width = Math.max(...fx.prompts.map((p) => p.length));
    const ids = fx.prompts.map((p) => [...new Array<number>(width - p.length).fill(0), ...p]);
    const lengths = fx.prompts.map((p) => p.length);
    const logits = f64(model.forward({ inputIds: ids, lengths, paddingSide: 'left' }).logits!);
    const real = (r: number, j: number): boolean => j >= width - lengths[r]!;
    expectClose(rowsWhere(logits, ids.length, width, 32, real), fx.left_padded_logits.flat(2), 1e-5, 'logits vs torch');
    const loss = model.forward({ inputIds: [fx.prompts[0]!], labels: [fx.prompts[0]!] }).loss!.item();
    expect(loss).to.be.closeTo(fx.loss_of_prompt0, 1e-5 * Math.abs(fx.loss_of_prompt0));
    expect(generate(model, fx.prompts, { maxNewTokens: 8, eosTokenIds: [] }).tokens).to.deep.equal(fx.greedy);
    model.dispose();
    fs.rmSync(dir, { recursive: true });
  });
});

describeEachDevice('llm generation', (device) => {
  /** Greedy by re-running the whole sequence every step, no cache, one prompt at a time. */
  function naiveGreedy(model: CausalLM, prompt: number[], steps: number, penalty = 1): number[] {
    const seq = [...prompt];
    const out: number[] = [];
    noGrad(() => {
      for (let s = 0; s < steps; s++) {
        const logits = model.forward({ inputIds: [seq], logits: 'last' }).logits!.dataSync() as Float32Array;
        applyRepetitionPenalty(logits, seq, penalty);
        let best = 0;
        for (let t = 1; t < logits.length; t++) if (logits[t]! > logits[best]!) best = t;
        seq.push(best);
        out.push(best);
      }
    });
    return out;
  }

  const prompts = [[3, 17, 9], [11, 2, 30, 7, 14], [5]];

  it('KV-cache greedy over a left-padded batch equals re-running the full forward each step', () => {
    const model = randomModel(qwenConfig(), device);
    for (const penalty of [1, 1.5]) {
      const result = generate(model, prompts, { maxNewTokens: 6, eosTokenIds: [], repetitionPenalty: penalty });
      prompts.forEach((p, i) =>
        expect(result.tokens[i], `prompt ${i}, penalty ${penalty}`).to.deep.equal(naiveGreedy(model, p, 6, penalty)),
      );
      expect(result.finishReasons).to.deep.equal(['length', 'length', 'length']);
    }
    model.dispose();
  });

  it('stops on EOS and on stop strings (with a decoder)', () => {
    const model = randomModel(qwenConfig(), device);
    const free = generate(model, [prompts[0]!], { maxNewTokens: 6, eosTokenIds: [] }).tokens[0]!;
    const eosAt = generate(model, [prompts[0]!], { maxNewTokens: 6, eosTokenIds: [free[2]!] });
    expect(eosAt.tokens[0]).to.deep.equal(free.slice(0, free.indexOf(free[2]!) + 1));
    expect(eosAt.finishReasons[0]).to.equal('eos');
    const decoder = { decode: (ids: number[]) => ids.map((t) => `<${t}>`).join('') };
    const stopped = generate(model, [prompts[0]!], {
      maxNewTokens: 6,
      eosTokenIds: [],
      stopStrings: [`<${free[1]}>`],
      decoder,
    });
    expect(stopped.tokens[0]).to.deep.equal(free.slice(0, free.indexOf(free[1]!) + 1));
    expect(stopped.finishReasons[0]).to.equal('stop');
    expect(stopped.texts![0]).to.equal(decoder.decode(stopped.tokens[0]!));
    expect(() => generate(model, [[1]], { maxNewTokens: 2, stopStrings: ['x'] })).to.throw(
      /stopStrings need a decoder/,
    );
    expect(() => generate(model, [[40]], { maxNewTokens: 2 })).to.throw(
      /prompt 0 holds token 40, outside the vocabulary \[0, 32\)/,
    );
    model.dispose();
  });

  it('beam search with one beam equals greedy; wider beams report the normalised log-probability', () => {
    const model = randomModel(qwenConfig(), device);
    const greedy = generate(model, prompts, { maxNewTokens: 5, eosTokenIds: [] });
    const oneBeam = generate(model, prompts, { maxNewTokens: 5, eosTokenIds: [], numBeams: 1, strategy: 'beam' });
    expect(oneBeam.scores, 'ran the beam search').to.have.length(3);
    expect(oneBeam.tokens).to.deep.equal(greedy.tokens);
    const beams = generate(model, [prompts[1]!], { maxNewTokens: 4, eosTokenIds: [], numBeams: 3, lengthPenalty: 1 });
    const seq = [...prompts[1]!, ...beams.tokens[0]!];
    const logits = f64(noGrad(() => model.forward({ inputIds: [seq] }).logits!));
    let logp = 0;
    for (let j = prompts[1]!.length; j < seq.length; j++) {
      const row = logits.subarray((j - 1) * 32, j * 32);
      const m = Math.max(...row);
      logp += row[seq[j]!]! - m - Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    }
    expect(beams.scores![0]).to.be.closeTo(logp / 4, 1e-4);
    // Greedy's sequence is one the beams saw; the winner is at least as likely.
    const greedySeq = [...prompts[1]!, ...greedy.tokens[1]!.slice(0, 4)];
    const g = f64(noGrad(() => model.forward({ inputIds: [greedySeq] }).logits!));
    let greedyLogp = 0;
    for (let j = prompts[1]!.length; j < greedySeq.length; j++) {
      const row = g.subarray((j - 1) * 32, j * 32);
      const m = Math.max(...row);
      greedyLogp += row[greedySeq[j]!]! - m - Math.log(row.reduce((s, x) => s + Math.exp(x - m), 0));
    }
    expect(logp).to.be.at.least(greedyLogp - 1e-5);
    model.dispose();
  });

  it('constrained decoding only ever emits one of the candidates', () => {
    const model = randomModel(qwenConfig(), device);
    const candidates = [[4, 8, 15], [4, 8, 16, 23], [4, 9], [12], [20, 21, 22, 23, 24]];
    const many = Array.from({ length: 8 }, (_, i) => [(i * 7 + 3) % 31, (i * 5 + 1) % 31, i + 2]);
    for (const eosTokenIds of [[], [31]]) {
      const out = generate(model, many, { maxNewTokens: 8, candidates, eosTokenIds });
      out.tokens.forEach((tokens, i) => {
        const index = out.candidateIndex![i]!;
        expect(index, `prompt ${i}`).to.be.a('number');
        const emitted = eosTokenIds.length && tokens[tokens.length - 1] === 31 ? tokens.slice(0, -1) : tokens;
        expect(emitted).to.deep.equal(candidates[index]);
        expect(out.finishReasons[i]).to.equal('candidate');
      });
    }
    // The candidate chosen is the most likely path: a single-candidate list forces that candidate.
    const forced = generate(model, [[1, 2]], { maxNewTokens: 8, candidates: [[7, 7, 7]], eosTokenIds: [] });
    expect(forced.tokens[0]).to.deep.equal([7, 7, 7]);
    model.dispose();
  });

  it('soft embeddings in prompts: generation sees them at the right slots despite padding', () => {
    const model = randomModel(qwenConfig(), device);
    const values = randn([1, 16], { seed: 21, device });
    const soft = { batch: [1], position: [1], values };
    const batched = generate(
      model,
      [
        [3, 17, 9, 4, 4],
        [11, 2],
      ],
      { maxNewTokens: 3, eosTokenIds: [], softEmbeddings: soft },
    );
    const alone = generate(model, [[11, 2]], {
      maxNewTokens: 3,
      eosTokenIds: [],
      softEmbeddings: { batch: [0], position: [1], values },
    });
    expect(batched.tokens[1]).to.deep.equal(alone.tokens[0]);
    // Beam search runs prompt by prompt and hands each its own rows of the values.
    const two = randn([2, 16], { seed: 22, device });
    const beam = generate(
      model,
      [
        [3, 17, 9],
        [11, 2],
      ],
      {
        maxNewTokens: 3,
        eosTokenIds: [],
        numBeams: 1,
        strategy: 'beam',
        softEmbeddings: { batch: [0, 1], position: [0, 1], values: concat([narrow(two, 0, 0, 1), values], 0) },
      },
    );
    expect(beam.tokens[1]).to.deep.equal(alone.tokens[0]);
    const first = generate(model, [[3, 17, 9]], {
      maxNewTokens: 3,
      eosTokenIds: [],
      softEmbeddings: { batch: [0], position: [0], values: narrow(two, 0, 0, 1) },
    });
    expect(beam.tokens[0]).to.deep.equal(first.tokens[0]);
    model.dispose();
  });

  it('applies the repetition penalty with HF semantics', () => {
    const scores = Float32Array.of(2, -2, 3, -1);
    applyRepetitionPenalty(scores, [0, 1, 1], 2);
    expect([...scores]).to.deep.equal([1, -4, 3, -1]);
  });
});
