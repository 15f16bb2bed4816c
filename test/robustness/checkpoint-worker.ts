// A training run that saves a checkpoint after every step, for the SIGKILL fault test
// (checkpoint-kill.test.ts): `node checkpoint-worker.js <checkpoint dir> <weights out.json> <epochs>`.
// It resumes from the latest checkpoint when there is one, prints "step N" after each save, and
// writes its final weights (as exact bit patterns) when it finishes.
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

import { losses, manualSeed, nn, optim, randn, training, type Tensor } from '../../lib/index.js';

interface Batch {
  x: Tensor;
  y: Tensor;
}

// Wide enough that a save (model + AdamW moments, fsynced) takes a good part of each step, so
// that random kills land inside saves.
export const workerWidth = 192;

/** The worker's model: an MLP with dropout (its generator state must survive the kill too). */
export const workerModel = (): nn.MLP => new nn.MLP([workerWidth, workerWidth, workerWidth], { dropout: 0.1 });

/** Trains (resuming from `dir` when it holds a checkpoint) and writes the final weights to `out`. */
export async function runTraining(
  dir: string,
  out: string,
  epochs: number,
  onSave: (step: number) => void = () => {},
): Promise<void> {
  const width = workerWidth;
  manualSeed(7);
  const model = workerModel();
  const optimizer = new optim.AdamW(model.parameters(), { lr: 1e-3, weightDecay: 0.01 });
  const data: Batch[] = Array.from({ length: 6 }, (_, i) => {
    const x = randn([16, width], { seed: 100 + i });
    return { x, y: x.tanh() };
  });
  try {
    const result = await training.train({
      model,
      optimizer,
      // The batches depend only on (epoch, seed), and dropout draws from the generator the
      // checkpoint restores: what makes a resumed run equal an uninterrupted one.
      batches: (epoch) => data.map((_, i) => data[(i + epoch) % data.length]!),
      loss: (b) => losses.mse(model.forward(b.x), b.y),
      epochs,
      seed: 3,
      checkpoint: { dir, everySteps: 1 },
      resume: true,
      progress: {
        emit(event) {
          if (event.event === 'checkpoint') onSave(event.step);
        },
      },
    });
    const weights = Object.fromEntries(
      model
        .namedParameters()
        .map(([name, p]) => [name, Buffer.from((p.dataSync() as Float32Array).buffer).toString('hex')]),
    );
    fs.writeFileSync(out, JSON.stringify({ steps: result.steps, weights }));
  } finally {
    optimizer.dispose();
    model.dispose();
    for (const b of data) {
      b.x.dispose();
      b.y.dispose();
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const [dir, out, epochs] = process.argv.slice(2);
  if (!dir || !out || !epochs) throw new Error('usage: checkpoint-worker <checkpoint dir> <weights out.json> <epochs>');
  await runTraining(dir, out, Number(epochs), (step) => process.stdout.write(`step ${step}\n`));
}
