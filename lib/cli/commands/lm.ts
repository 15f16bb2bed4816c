// llmrec lm init: a random-weight causal LM in exactly the Hugging Face folder format.
import { manualSeed } from '../../tensor.js';
import { saveCausalLM } from '../../llm/loader.js';
import { CausalLM } from '../../llm/model.js';
import { presetConfig, type PresetName } from '../../llm/presets.js';
import { defineCommand, UsageError } from '../args.js';

export const lmCommand = defineCommand({
  name: 'lm',
  summary: 'Create a random-weight Qwen2-format language model folder (lm init --preset tiny --out dir).',
  positionals: '<init>',
  options: {
    preset: { type: 'string', description: 'model shape', choices: ['tiny', 'small'], default: 'tiny' },
    out: { type: 'string', description: 'output folder (config.json + model.safetensors)' },
    'vocab-size': { type: 'integer', description: "vocabulary size (default: the preset's)" },
    seed: { type: 'integer', description: 'initialisation seed', default: 0 },
  },
  async run(options, positionals) {
    const [action, ...extra] = positionals;
    if (action !== 'init' || extra.length > 0) throw new UsageError(`expected 'init', got '${positionals.join(' ')}'`);
    if (!options.out) throw new UsageError('--out is required');
    manualSeed(options.seed);
    const config = presetConfig(options.preset as PresetName, options['vocab-size']);
    const model = new CausalLM(config, { seed: options.seed });
    try {
      saveCausalLM(options.out, model);
    } finally {
      model.dispose();
    }
    console.log(
      `wrote ${options.out}: qwen2 '${options.preset}', ${model.numParameters().toLocaleString('en-US')} parameters, vocab ${config.vocabSize}`,
    );
  },
});
