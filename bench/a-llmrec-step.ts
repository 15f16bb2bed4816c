// A-LLMRec's stage-2 training step and its generation latency, llmrec's side of the pair with
// bench/torch/a_llmrec.py --bench (the same prompts, shapes and slots):
//   - step: F_U and F_I write the soft tokens of `batch` real A-LLMRec prompts (the embedded
//     dataset's first test users: 10 history items, 20 candidates), the frozen LM's CE on the
//     answer, backward to the projectors, Adam (lr 1e-4); median of `steps` after a warm-up;
//   - generation: one prompt at a time, greedy with repetition penalty 1.5 and the KV cache,
//     exactly `new` tokens (no EOS stop); p50/p99 over `requests` prompts.
// Beside wall times, the process's CPU time (user + system, every thread) per step and per
// request: on a shared machine the wall time mostly measures waiting for a core.
//
//   node dist/bench/a-llmrec-step.js [--lm DIR] [--batch 4] [--steps 10] [--requests 20] [--new 24]
//        [--ids-out FILE] [--device cpu]
// --ids-out writes the prompts (ids, labels, slots) for the PyTorch side.
import * as fs from 'node:fs';

import { noGrad } from '../lib/autograd.js';
import { loadDefaultDataset } from '../lib/data/source.js';
import { candidateSets } from '../lib/data/sampler.js';
import { defaultLanguageModelDir, loadLanguageModel } from '../lib/llm/default-model.js';
import { generate } from '../lib/llm/generate.js';
import { concat } from '../lib/ops/layout.js';
import { Adam } from '../lib/optim/adam.js';
import { SoftPromptProjectors } from '../lib/pipelines/a-llmrec/model.js';
import { PromptEncoder, promptTitle } from '../lib/pipelines/a-llmrec/prompt.js';
import { shownHistory } from '../lib/pipelines/a-llmrec/soft-prompt.js';
import { tidy } from '../lib/scope.js';
import { manualSeed, randn, type Tensor } from '../lib/tensor.js';

function flag(args: string[], name: string, fallback: string): string {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

interface PromptCase {
  ids: number[];
  answer: number[];
  slots: number[];
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const lmDir = flag(args, 'lm', '') || defaultLanguageModelDir();
  const batch = Number(flag(args, 'batch', '4'));
  const steps = Number(flag(args, 'steps', '10'));
  const requests = Number(flag(args, 'requests', '20'));
  const newTokens = Number(flag(args, 'new', '24'));
  const device = flag(args, 'device', 'cpu');
  const idsOut = flag(args, 'ids-out', '');
  manualSeed(0);
  const { model, tokenizer } = loadLanguageModel(lmDir, { device, dtype: 'f32' });
  model.freeze().eval();
  const eos = model.config.eosTokenIds[0] ?? tokenizer.eosTokenId!;
  const d = model.config.hiddenSize;
  // Real prompts: the embedded dataset's first test users, their last 10 items, 20 candidates.
  const split = (await loadDefaultDataset()).dataset.split();
  const users = split.evaluationUsers().slice(0, Math.max(batch, requests));
  const sets = candidateSets(split, { stage: 'test', negatives: 19, seed: 0, users, shuffle: true });
  const titles = split.dataset.itemKeys.map((key, i) => promptTitle(split.dataset.titles[i], key));
  const encoder = new PromptEncoder(tokenizer);
  const cases: PromptCase[] = Array.from(users, (u, r) => {
    const history = shownHistory(split.history(u, 'test'), 10);
    const candidates = Array.from(sets.candidates.subarray(r * sets.width, (r + 1) * sets.width));
    const prompt = encoder.build(
      history.map((i) => titles[i]!),
      candidates.map((i) => titles[i]!),
      { softTokens: true, placeholder: eos },
    );
    return {
      ids: prompt.ids,
      answer: encoder.answer(titles[split.target(u, 'test')]!, eos),
      slots: [prompt.userSlot, ...prompt.historySlots, ...prompt.candidateSlots],
    };
  });
  if (idsOut) fs.writeFileSync(idsOut, JSON.stringify({ eos, batch, newTokens, cases }));

  const projectors = new SoftPromptProjectors(50, 128, d, { device });
  const optimizer = new Adam(projectors.trainableParameters(), { lr: 1e-4, betas: [0.9, 0.98] });
  const users50 = randn([batch, 50], { seed: 1, device });
  const itemCount = cases.slice(0, batch).reduce((n, c) => n + c.slots.length - 1, 0);
  const latents = randn([itemCount, 128], { seed: 2, device }).sigmoid();
  const train = cases.slice(0, batch);
  const width = Math.max(...train.map((c) => c.ids.length + c.answer.length));
  const ids = new Int32Array(batch * width).fill(eos);
  const labels = new Int32Array(batch * width).fill(-100);
  const lengths = train.map((c, r) => {
    ids.set(c.ids, r * width);
    ids.set(c.answer, r * width + c.ids.length);
    labels.set(c.answer, r * width + c.ids.length);
    return c.ids.length + c.answer.length;
  });
  // Users first (one per row), then the item slots row by row: the order of the values.
  const slotBatch = [...train.map((_, r) => r), ...train.flatMap((c, r) => c.slots.slice(1).map(() => r))];
  const slotPosition = [...train.map((c) => c.slots[0]!), ...train.flatMap((c) => c.slots.slice(1))];
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const stepCpu: number[] = [];
  const step = (): number => {
    const t = performance.now();
    const c = cpuMs();
    tidy(() => {
      const values = concat([projectors.user.forward(users50), projectors.item.forward(latents)], 0);
      const { loss } = model.forward({
        inputIds: ids,
        shape: [batch, width],
        lengths,
        softEmbeddings: { batch: slotBatch, position: slotPosition, values },
        labels,
      });
      loss!.backward();
      optimizer.step();
      optimizer.zeroGrad();
      loss!.item(); // waits for the device (a no-op wait on the CPU)
    });
    stepCpu.push(cpuMs() - c);
    return performance.now() - t;
  };
  step(); // warm-up
  stepCpu.length = 0;
  const stepMs = Array.from({ length: steps }, step).sort((a, b) => a - b);
  stepCpu.sort((a, b) => a - b);
  const generationCpu: number[] = [];

  const generation: number[] = [];
  const one = (c: PromptCase): number =>
    noGrad(() =>
      tidy(() => {
        const user = projectors.user.forward(randn([1, 50], { seed: 3, device }));
        const items = projectors.item.forward(randn([c.slots.length - 1, 128], { seed: 4, device }).sigmoid());
        const values: Tensor = concat([user, items], 0);
        const t = performance.now();
        const cpu = cpuMs();
        generate(model, [c.ids], {
          maxNewTokens: newTokens,
          repetitionPenalty: 1.5,
          eosTokenIds: [],
          padTokenId: eos,
          softEmbeddings: { batch: new Int32Array(c.slots.length), position: c.slots, values },
        });
        generationCpu.push(cpuMs() - cpu);
        return performance.now() - t;
      }),
    );
  one(cases[0]!); // warm-up
  generationCpu.length = 0;
  for (let r = 0; r < requests; r++) generation.push(one(cases[r % cases.length]!));
  generation.sort((a, b) => a - b);
  generationCpu.sort((a, b) => a - b);
  const promptTokens = cases.slice(0, requests).map((c) => c.ids.length);
  console.log(
    JSON.stringify({
      side: 'llmrec',
      lm: lmDir,
      hidden: d,
      step: {
        batch,
        tokens: width,
        medianMs: percentile(stepMs, 50),
        minMs: stepMs[0],
        cpuMedianMs: percentile(stepCpu, 50),
        tokensPerSecond: (batch * width) / (percentile(stepMs, 50) / 1000),
      },
      generation: {
        requests,
        newTokens,
        promptTokensMean: promptTokens.reduce((a, b) => a + b, 0) / promptTokens.length,
        p50Ms: percentile(generation, 50),
        p99Ms: percentile(generation, 99),
        cpuP50Ms: percentile(generationCpu, 50),
        cpuP99Ms: percentile(generationCpu, 99),
      },
    }),
  );
  optimizer.dispose();
  projectors.dispose();
  model.dispose();
}

await main();
