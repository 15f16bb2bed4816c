// LLM2Rec's part of `llmrec demo`: every stage on the shipped LM with a cut-down schedule (200
// LM steps in all, then one downstream SASRec trained as long as the demo's ID-based SASRec), so
// that it adds about two minutes on a 2-core CPU.
import { runPipelineDemo, type PipelineDemoStep } from '../demo.js';
import type { DownstreamStageResult } from './downstream.js';
import { llm2recPipeline } from './index.js';

export const llm2recDemoSchedule = {
  csftSteps: 80,
  csftWarmup: 8,
  mntpSteps: 60,
  simcseSteps: 60,
  simcseWarmup: 6,
  models: ['sasrec'],
  seeds: 1,
};

export const llm2recDemo: PipelineDemoStep = {
  pipeline: 'llm2rec',
  async run(ctx) {
    const run = await runPipelineDemo({
      pipeline: llm2recPipeline,
      values: { ...llm2recDemoSchedule, epochs: ctx.sasrecEpochs, evalEvery: ctx.sasrecEpochs },
      data: ctx.data,
      seed: ctx.seed,
      device: ctx.device,
    });
    const result = run.outcomes.downstream?.result as DownstreamStageResult | undefined;
    const sasrec = result?.inDomain.find((r) => r.model === 'sasrec');
    if (!sasrec) throw new Error('llm2rec demo: the downstream stage returned no SASRec result');
    const epochs = `${ctx.sasrecEpochs} epoch${ctx.sasrecEpochs === 1 ? '' : 's'}`;
    const note = `200 LM steps, SASRec ${epochs}, ${run.seconds.toFixed(0)} s`;
    return [
      {
        model: 'LLM2Rec (SASRec on LM item table)',
        metric: 'Recall@10 (full)',
        value: sasrec.test['recall@10']!.mean,
        note,
      },
      {
        model: 'LLM2Rec (SASRec on LM item table)',
        metric: 'NDCG@10 (full)',
        value: sasrec.test['ndcg@10']!.mean,
        note,
      },
    ];
  },
};
