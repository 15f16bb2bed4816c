// The llmrec half of bench/torch/make_hf_fixtures.py: loads a transformers-saved folder and saves
// it again with llmrec, sharded, for transformers to load back.
//
//   node dist/bench/llm-hf-fixtures.js HF_DIR OUT_DIR MAX_SHARD_BYTES
import { loadCausalLM, saveCausalLM } from '../lib/index.js';

const [from, to, shardBytes] = process.argv.slice(2);
if (!from || !to || !shardBytes) {
  console.error('usage: node dist/bench/llm-hf-fixtures.js HF_DIR OUT_DIR MAX_SHARD_BYTES');
  process.exit(2);
}
const model = loadCausalLM(from);
try {
  saveCausalLM(to, model, { dtype: 'f32', maxShardBytes: Number(shardBytes) });
} finally {
  model.dispose();
}
