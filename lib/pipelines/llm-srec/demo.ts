// LLM-SRec's part of `llmrec demo` (`npm start`): every stage (cf → distill → eval) on the shipped
// LM with a cut-down schedule (a few SASRec epochs, 5 distillation steps of 20 users, 200 test
// users), then the 1+99 NDCG@10 and HR@10 of LLM-SRec beside its own SASRec on the same test
// users and candidates. About two minutes on a 2-core CPU.
import { runPipelineDemo, type PipelineDemoContext, type PipelineDemoRow, type PipelineDemoStep } from '../demo.js';
import type { LLMSRecConfig } from './config.js';
import { llmSRecPipeline } from './index.js';
import type { EvalStageResult } from './stages.js';

/** The demo's schedule; the SASRec trains for the demo's epochs, at most MAX_CF_EPOCHS. */
export const llmSRecDemoSchedule = {
  trainUsers: 100,
  validationsPerEpoch: 1,
  validUsers: 20,
  evalUsers: 200,
} as const satisfies Partial<LLMSRecConfig>;

export const MAX_CF_EPOCHS = 4;

/** The demo step's rows; `values` overrides the schedule (tests run it on a tiny LM). */
export async function llmSRecDemoRows(
  ctx: PipelineDemoContext,
  values: Partial<LLMSRecConfig> = {},
): Promise<PipelineDemoRow[]> {
  const schedule = { ...llmSRecDemoSchedule, cfEpochs: Math.min(MAX_CF_EPOCHS, ctx.sasrecEpochs), ...values };
  const run = await runPipelineDemo({
    pipeline: llmSRecPipeline,
    values: schedule,
    data: ctx.data,
    seed: ctx.seed,
    device: ctx.device,
  });
  const metrics = run.outcomes.eval?.metrics as EvalStageResult | undefined;
  if (!metrics) throw new Error('llm-srec demo: the eval stage returned no metrics');
  const batch = schedule.batchSize ?? 20;
  const steps = Math.floor(schedule.trainUsers / batch);
  const cf = `${schedule.cfEpochs} epoch${schedule.cfEpochs === 1 ? '' : 's'}`;
  const note = `${metrics.users} users, 1+99; SASRec ${cf}, ${steps} distill steps, ${run.seconds.toFixed(0)} s`;
  return [
    { model: 'LLM-SRec (its SASRec)', metric: 'NDCG@10 (1+99)', value: metrics.sasrec['ndcg@10']!, note },
    { model: 'LLM-SRec', metric: 'NDCG@10 (1+99)', value: metrics.test['ndcg@10']!, note },
    { model: 'LLM-SRec', metric: 'HR@10 (1+99)', value: metrics.test['hr@10']!, note },
  ];
}

export const llmSRecDemo: PipelineDemoStep = { pipeline: 'llm-srec', run: (ctx) => llmSRecDemoRows(ctx) };
