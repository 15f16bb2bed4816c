// LLM-SRec's distillation step on a trained run folder, llmrec's side of the pair with
// bench/torch/llm_srec.py --bench-train (the same batches: prompts, candidates, SASRec inputs):
// `batch` training users through the frozen LM (one user prompt each and one item prompt per
// candidate: the target and `negatives` random items), the four loss terms, backward to the
// trained modules only, Adam (lr 1e-4, betas 0.9/0.98). Median of `steps` distinct batches after
// a warm-up step, as users/s, beside the process's CPU time per step (on a shared machine the
// wall time mostly measures waiting for a core) and the allocator's peak bytes in use over the
// process (the LM, the SASRec, the item table and the steps).
//
//   node dist/bench/llm-srec-step.js RUN_DIR [--steps 5] [--batch 20] [--negatives 3]
//        [--batches-out FILE] [--device cpu]
// --batches-out writes the batches (encoded prompts, SASRec inputs, the SASRec's shape) for
// the PyTorch side.
import * as fs from 'node:fs';

import { memory } from '../lib/device.js';
import { loadDefaultDataset } from '../lib/data/source.js';
import { leftPad } from '../lib/models/recommender-model.js';
import { Adam } from '../lib/optim/adam.js';
import { trainableUsers, trainingBatch } from '../lib/pipelines/llm-srec/data.js';
import { disposeLLMSRec } from '../lib/pipelines/llm-srec/runtime.js';
import { loadLLMSRecRun } from '../lib/pipelines/llm-srec/serving.js';
import { tidy } from '../lib/scope.js';

function flag(args: string[], name: string, fallback: string): string {
  const at = args.indexOf(`--${name}`);
  return at >= 0 && args[at + 1] !== undefined ? args[at + 1]! : fallback;
}

async function main(): Promise<void> {
  const [dir, ...args] = process.argv.slice(2);
  if (!dir || dir.startsWith('--'))
    throw new Error('usage: node dist/bench/llm-srec-step.js RUN_DIR [--steps 5] [--batch 20] [--batches-out FILE]');
  const steps = Number(flag(args, 'steps', '5'));
  const batchSize = Number(flag(args, 'batch', '20'));
  const negatives = Number(flag(args, 'negatives', '3'));
  const device = flag(args, 'device', 'cpu');
  const batchesOut = flag(args, 'batches-out', '');
  const { model: serving } = await loadLLMSRecRun(dir, device);
  const model = serving.llmSRec;
  const split = (await loadDefaultDataset()).dataset.split();
  // Distinct batches of the first trainable users: step k trains users [k·batch, (k+1)·batch).
  const users = trainableUsers(split).slice(0, (steps + 1) * batchSize);
  const batches = Array.from({ length: steps + 1 }, (_, k) =>
    trainingBatch(
      split,
      { users: users.slice(k * batchSize, (k + 1) * batchSize), epoch: 0 },
      { negatives, seed: 0, shuffle: false },
    ),
  );
  // Each batch's prompts, encoded once (outside the timed steps): what PyTorch is given, and the
  // tokens a step runs.
  const sasrec = model.sasrec.config;
  const encoded = batches.map((b) => {
    const sasrecInput = new Int32Array(b.histories.length * sasrec.maxlen);
    b.histories.forEach((h, r) => leftPad(h.items, sasrec.maxlen, sasrecInput, r));
    return {
      userPrompts: b.histories.map((h) => model.prompts.encodeUser(h.items, h.times)),
      itemPrompts: b.candidates.flat().map((item) => model.prompts.encodeItem(item)),
      sasrecInput: Array.from(sasrecInput),
      width: negatives + 1,
    };
  });
  if (batchesOut) fs.writeFileSync(batchesOut, JSON.stringify({ sasrec, batches: encoded }));
  model.heads.unfreeze().train();
  const optimizer = new Adam(model.heads.parameters(), { lr: 1e-4, betas: [0.9, 0.98] });
  const terms = { distillation: true, uniformity: true };
  const cpuMs = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const wall: number[] = [];
  const cpu: number[] = [];
  const tokens: number[] = [];
  batches.forEach((batch, k) => {
    const t = performance.now();
    const c = cpuMs();
    tidy(() => {
      const { total } = model.loss(batch, terms);
      total.backward();
      optimizer.step();
      optimizer.zeroGrad();
      total.item(); // waits for the device (a no-op wait on the CPU)
    });
    if (k === 0) return; // warm-up
    wall.push(performance.now() - t);
    cpu.push(cpuMs() - c);
    const { userPrompts, itemPrompts } = encoded[k]!;
    tokens.push([...userPrompts, ...itemPrompts].reduce((n, p) => n + p.ids.length, 0));
  });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    JSON.stringify({
      side: 'llmrec',
      run: dir,
      batch: batchSize,
      negatives,
      steps,
      promptTokensPerStep: median(tokens),
      medianMs: median(wall),
      minMs: Math.min(...wall),
      cpuMedianMs: median(cpu),
      usersPerSecond: batchSize / (median(wall) / 1000),
      peakBytesInUse: memory(device).peakBytesInUse,
      trainedParameters: model.heads.numParameters(),
    }),
  );
  optimizer.dispose();
  disposeLLMSRec(model);
  serving.table.dispose();
}

await main();
