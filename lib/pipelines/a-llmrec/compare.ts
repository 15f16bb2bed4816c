// `llmrec a-llmrec compare`: the paper's comparison on one dataset, one table (JSON, Markdown,
// SVG): SASRec ranking the candidates, the LM given titles only, and A-LLMRec (free text and
// constrained), and A-LLMRec whose stage-1 text encoder is an LLM2Rec item encoder, on the same
// candidates, for each scenario and test group (all, warm and cold items, cold users, items
// unseen in training). Each scenario is a run folder under --out; the ones after the first reuse
// its SASRec (--cf), so every row ranks with the same collaborative model. The LLM2Rec encoder
// is --llm2rec DIR, or trained here (its stages csft → embed, defaults) in <out>/llm2rec.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { comparisonRow, writeComparison, type ComparisonRow } from '../../eval/report.js';
import { definePipelineCommand, type CommandContext, type Pipeline } from '../registry.js';
import { ConfigError, resolveConfig } from '../config.js';
import { dataConfig } from '../data.js';
import { llm2recConfig } from '../llm2rec/config.js';
import { llm2recPipeline } from '../llm2rec/index.js';
import { runAll } from '../stage.js';
import { scenarios, type ALLMRecConfig, type Scenario } from './config.js';
import { LLM2REC_ENCODER } from './language-model.js';
import type { EvalResult } from './evaluate.js';

/** The rows of one scenario's evaluation: each method within each test group (`llm2rec`: that variant's rows). */
export function scenarioRows(scenario: string, result: EvalResult, llm2rec?: EvalResult): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  for (const [group, g] of Object.entries(result.groups)) {
    const setting = `${scenario} · ${group} (${g.users} users)`;
    const variant = llm2rec?.groups[group as keyof EvalResult['groups']];
    const methods: [string, number | null][] = [
      ['SASRec', g.hit.sasrec],
      ['LM, titles only', g.hit.titlesOnly],
      ['A-LLMRec (free text)', g.hit.aLLMRec],
      ['A-LLMRec (constrained)', g.hit.aLLMRecConstrained],
      ...(variant
        ? ([
            ['A-LLMRec, LLM2Rec encoder (free text)', variant.hit.aLLMRec],
            ['A-LLMRec, LLM2Rec encoder (constrained)', variant.hit.aLLMRecConstrained],
          ] as [string, number][])
        : []),
    ];
    for (const [name, hit] of methods) if (hit !== null) rows.push(comparisonRow(name, [{ 'Hit@1': hit }], setting));
  }
  return rows;
}

/** The LLM2Rec stages that make its item encoder (not its downstream recommenders). */
const LLM2REC_ENCODER_STAGES = ['csft', 'mntp', 'simcse', 'embed'];

/** The LLM2Rec pipeline up to its item table (runAll on it makes an item-encoder run folder). */
export function llm2recEncoderPipeline(): Pipeline {
  return {
    ...llm2recPipeline,
    stages: llm2recPipeline.stages.filter((s) => LLM2REC_ENCODER_STAGES.includes(s.name)),
    commands: [],
  } as unknown as Pipeline;
}

/** Trains (or finds done) an LLM2Rec item encoder in `dir` on the same data and LM: its defaults otherwise. */
export async function trainLLM2RecEncoder(ctx: CommandContext<ALLMRecConfig>, dir: string): Promise<void> {
  const data = Object.fromEntries(Object.keys(dataConfig).map((key) => [key, ctx.config[key as keyof ALLMRecConfig]]));
  const values = Object.fromEntries(
    Object.entries({ ...data, seed: ctx.config.seed, lm: ctx.config.lm }).filter(([, v]) => v !== undefined),
  );
  const config = resolveConfig(llm2recConfig, { values });
  await runAll(llm2recEncoderPipeline(), {
    dir,
    config,
    device: ctx.device,
    progress: (stage) => ctx.progress(`llm2rec ${stage}`),
    log: ctx.log,
  });
}

export const compareCommand = definePipelineCommand({
  name: 'compare',
  summary: 'SASRec vs the titles-only LM vs A-LLMRec, Hit@1 per scenario and test group, one table',
  options: {
    scenarios: {
      type: 'list',
      of: 'string',
      default: ['standard', 'cross-domain'],
      help: `the scenarios to run (${scenarios.join(', ')}); 'standard' reports all, warm-item, cold-item and cold-user test groups`,
    },
    llm2rec: {
      type: 'string',
      default: '',
      help: "the LLM2Rec run folder whose item encoder makes the 'A-LLMRec, LLM2Rec encoder' rows; '' trains one in <out>/llm2rec (its stages csft to embed, its defaults, the same --lm); 'off' leaves those rows out",
    },
    llm2recScenarios: {
      type: 'list',
      of: 'string',
      default: ['standard'],
      help: 'the scenarios that also get the LLM2Rec-encoder rows (each one more align, generate and eval)',
    },
  },
  async run(ctx: CommandContext<ALLMRecConfig>, options) {
    for (const s of options.scenarios)
      if (!(scenarios as readonly string[]).includes(s))
        throw new ConfigError(`--scenarios: '${s}' is not a scenario; choose from ${scenarios.join(', ')}`);
    if (options.scenarios.length === 0) throw new ConfigError('--scenarios: name at least one scenario');
    for (const s of options.llm2recScenarios)
      if (!options.scenarios.includes(s))
        throw new ConfigError(
          `--llm2rec-scenarios: '${s}' is not one of --scenarios (${options.scenarios.join(', ')})`,
        );
    const started = Date.now();
    const rows: ComparisonRow[] = [];
    const first = path.join(ctx.dir, options.scenarios[0]!.replace(':', '-'));
    const withLLM2Rec = options.llm2rec !== 'off' && options.llm2recScenarios.length > 0;
    const llm2recDir = options.llm2rec && options.llm2rec !== 'off' ? options.llm2rec : path.join(ctx.dir, 'llm2rec');
    for (const [i, scenario] of options.scenarios.entries()) {
      const dir = path.join(ctx.dir, scenario.replace(':', '-'));
      const config: ALLMRecConfig = { ...ctx.config, scenario: scenario as Scenario };
      if (i > 0 && !config.cf) config.cf = first;
      ctx.log(`a-llmrec compare: scenario ${scenario} in ${dir}`);
      const result = await ctx.runAll(dir, config);
      const evaluation = (result.outcomes.eval?.result ?? readResults(dir)) as EvalResult;
      let variant: EvalResult | undefined;
      if (withLLM2Rec && options.llm2recScenarios.includes(scenario)) {
        if (!options.llm2rec) {
          ctx.log(`a-llmrec compare: the LLM2Rec item encoder in ${llm2recDir}`);
          await trainLLM2RecEncoder(ctx, llm2recDir);
        }
        const variantDir = `${dir}-llm2rec`;
        ctx.log(`a-llmrec compare: scenario ${scenario} with the LLM2Rec encoder in ${variantDir}`);
        // The same SASRec and candidates; the baselines are the scenario's own rows.
        const variantConfig: ALLMRecConfig = {
          ...config,
          cf: config.cf || dir,
          textEncoder: `${LLM2REC_ENCODER}${llm2recDir}`,
          baselines: false,
        };
        const ran = await ctx.runAll(variantDir, variantConfig);
        variant = (ran.outcomes.eval?.result ?? readResults(variantDir)) as EvalResult;
      }
      rows.push(...scenarioRows(scenario, evaluation, variant));
    }
    const { dataset } = await ctx.dataset();
    const files = writeComparison(path.join(ctx.dir, 'compare'), {
      title: `A-LLMRec vs SASRec vs a titles-only LM: Hit@1 among ${ctx.config.negatives + 1} candidates (${dataset.name})`,
      rows,
      metrics: ['Hit@1'],
      notes: {
        dataset: dataset.name,
        lm: ctx.config.lm || '(the shipped default LM)',
        'LLM2Rec encoder': withLLM2Rec ? `${llm2recDir} (${options.llm2recScenarios.join(', ')})` : 'off',
        seed: ctx.config.seed,
        'test users per group (at most)': ctx.config.evalUsers,
        'stage-2 training users (few-shot:K: K)': ctx.config.trainUsers || 'all',
        machine: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'CPU'}, ${ctx.device}`,
        seconds: Math.round((Date.now() - started) / 1000),
      },
    });
    ctx.log(`a-llmrec compare: wrote ${files.markdown}, ${files.json}, ${files.svg}`);
  },
});

/** An eval stage skipped by runAll (done already): its results.json. */
function readResults(dir: string): unknown {
  return JSON.parse(fs.readFileSync(path.join(dir, 'eval', 'results.json'), 'utf-8'));
}
