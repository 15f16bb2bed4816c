// A-LLMRec's part of `llmrec demo` (`npm start`): every stage on the shipped LM with a cut-down
// schedule (4 SASRec epochs, 2 alignment epochs, 64 stage-2 users, 50 test users), then Hit@1
// among 20 candidates for SASRec, the titles-only LM and A-LLMRec, and one answer in full. About
// two minutes on two quiet cores.
import { runPipelineDemo, type PipelineDemoStep } from '../demo.js';
import type { ALLMRecConfig } from './config.js';
import type { EvalResult } from './evaluate.js';
import { aLLMRecPipeline } from './index.js';

export const aLLMRecDemoSchedule = {
  cfEpochs: 4,
  alignEpochs: 2,
  trainUsers: 64,
  generateEpochs: 1,
  evalUsers: 50,
  maxNewTokens: 24,
} as const satisfies Partial<ALLMRecConfig>;

export const aLLMRecDemo: PipelineDemoStep = {
  pipeline: 'a-llmrec',
  async run(ctx) {
    const run = await runPipelineDemo({
      pipeline: aLLMRecPipeline,
      values: { ...aLLMRecDemoSchedule },
      data: ctx.data,
      seed: ctx.seed,
      device: ctx.device,
    });
    const evaluation = run.outcomes.eval?.result as EvalResult | undefined;
    const all = evaluation?.groups.all;
    if (!evaluation || !all) throw new Error('a-llmrec demo: the eval stage returned no result');
    const sample = evaluation.samples[0];
    if (sample)
      console.log(
        `a-llmrec: user ${sample.user}, next item "${sample.target}"; A-LLMRec wrote ${JSON.stringify(sample.text)}, constrained "${sample.constrained}"`,
      );
    const s = aLLMRecDemoSchedule;
    const note = `SASRec ${s.cfEpochs} epochs, ${s.alignEpochs} align epochs, ${s.trainUsers} stage-2 users, ${all.users} test users, ${run.seconds.toFixed(0)} s`;
    const metric = `Hit@1 (1+${evaluation.candidates - 1})`;
    const rows: [string, number | null][] = [
      ['SASRec (a-llmrec preset)', all.hit.sasrec],
      ['LM, titles only', all.hit.titlesOnly],
      ['A-LLMRec (free text)', all.hit.aLLMRec],
      ['A-LLMRec (constrained)', all.hit.aLLMRecConstrained],
    ];
    return rows
      .filter((r): r is [string, number] => r[1] !== null)
      .map(([model, value]) => ({ model, metric, value, note }));
  },
};
