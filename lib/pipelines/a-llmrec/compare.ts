// `llmrec a-llmrec compare`: the paper's comparison on one dataset, one table (JSON, Markdown,
// SVG): SASRec ranking the candidates, the LM given titles only, and A-LLMRec (free text and
// constrained), on the same candidates, for each scenario and test group (all, warm and cold
// items, cold users). Each scenario is a run folder under --out; the ones after the first reuse
// its SASRec (--cf), so every row ranks with the same collaborative model.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

import { comparisonRow, writeComparison, type ComparisonRow } from '../../eval/report.js';
import { definePipelineCommand, type CommandContext } from '../registry.js';
import { ConfigError } from '../config.js';
import { scenarios, type ALLMRecConfig, type Scenario } from './config.js';
import type { EvalResult } from './evaluate.js';

/** The rows of one scenario's evaluation: each method within each test group. */
export function scenarioRows(scenario: string, result: EvalResult): ComparisonRow[] {
  const rows: ComparisonRow[] = [];
  for (const [group, g] of Object.entries(result.groups)) {
    const setting = `${scenario} · ${group} (${g.users} users)`;
    const methods: [string, number][] = [
      ['SASRec', g.hit.sasrec],
      ['LM, titles only', g.hit.titlesOnly],
      ['A-LLMRec (free text)', g.hit.aLLMRec],
      ['A-LLMRec (constrained)', g.hit.aLLMRecConstrained],
    ];
    for (const [name, hit] of methods) rows.push(comparisonRow(name, [{ 'Hit@1': hit }], setting));
  }
  return rows;
}

export const compareCommand = definePipelineCommand({
  name: 'compare',
  summary: 'SASRec vs the titles-only LM vs A-LLMRec, Hit@1 per scenario and test group, one table',
  options: {
    scenarios: {
      type: 'list',
      of: 'string',
      default: ['standard', 'few-shot:128'],
      help: `the scenarios to run (${scenarios.join(', ')}); 'standard' reports all, warm-item, cold-item and cold-user test groups`,
    },
  },
  async run(ctx: CommandContext<ALLMRecConfig>, options) {
    for (const s of options.scenarios)
      if (!(scenarios as readonly string[]).includes(s))
        throw new ConfigError(`--scenarios: '${s}' is not a scenario; choose from ${scenarios.join(', ')}`);
    if (options.scenarios.length === 0) throw new ConfigError('--scenarios: name at least one scenario');
    const started = Date.now();
    const rows: ComparisonRow[] = [];
    const first = path.join(ctx.dir, options.scenarios[0]!.replace(':', '-'));
    for (const [i, scenario] of options.scenarios.entries()) {
      const dir = path.join(ctx.dir, scenario.replace(':', '-'));
      const config: ALLMRecConfig = { ...ctx.config, scenario: scenario as Scenario };
      if (i > 0 && !config.cf) config.cf = first;
      ctx.log(`a-llmrec compare: scenario ${scenario} in ${dir}`);
      const result = await ctx.runAll(dir, config);
      const evaluation = (result.outcomes.eval?.result ?? readResults(dir)) as EvalResult;
      rows.push(...scenarioRows(scenario, evaluation));
    }
    const { dataset } = await ctx.dataset();
    const files = writeComparison(path.join(ctx.dir, 'compare'), {
      title: `A-LLMRec vs SASRec vs a titles-only LM: Hit@1 among ${ctx.config.negatives + 1} candidates (${dataset.name})`,
      rows,
      metrics: ['Hit@1'],
      notes: {
        dataset: dataset.name,
        lm: ctx.config.lm || '(the shipped default LM)',
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
