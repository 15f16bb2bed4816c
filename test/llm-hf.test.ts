// Parity with Hugging Face transformers itself: fixtures made by bench/torch/make_hf_fixtures.py
// with transformers 4.43.4 (on Debian's torch 1.13 through bench/torch/hf_env.py).
import { expect } from 'chai';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { generate, loadCausalLM, saveCausalLM, type CausalLM, type Tensor } from '../lib/index.js';
import { expectClose, f64 } from './support/reference.js';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'test', 'fixtures', 'hf');

interface Outputs {
  logits: number[][][];
  hidden_states: number[][][][];
  bidirectional_logits: number[][][];
  bidirectional_last_hidden: number[][][];
  loss_of_prompt0: number;
  greedy: number[][];
}

interface Fixture {
  transformers: string;
  prompts: number[][];
  cases: Record<
    string,
    {
      hf_sharded: boolean;
      llmrec_shard_bytes: number;
      expected: Outputs;
      llmrec_saved: { logits: number[][][]; greedy: number[][]; warnings: string[] };
    }
  >;
}

const fixture = JSON.parse(fs.readFileSync(path.join(fixtures, 'outputs.json'), 'utf8')) as Fixture;
const prompts = fixture.prompts;
const width = Math.max(...prompts.map((p) => p.length));
const padded = prompts.map((p) => [...new Array<number>(width - p.length).fill(0), ...p]);
const lengths = prompts.map((p) => p.length);

/** Rows of x [B, L, n] at the real (left-padded) positions, flattened. */
function realRows(x: Tensor): number[] {
  const values = f64(x);
  const n = x.shape[2]!;
  const out: number[] = [];
  for (let r = 0; r < padded.length; r++)
    for (let j = width - lengths[r]!; j < width; j++)
      out.push(...values.subarray((r * width + j) * n, (r * width + j + 1) * n));
  return out;
}

function forward(model: CausalLM, attention: 'causal' | 'bidirectional') {
  return model.forward({ inputIds: padded, lengths, paddingSide: 'left', attention, outputHiddenStates: true });
}

describe(`llm parity with Hugging Face transformers ${fixture.transformers} (test/fixtures/hf)`, () => {
  it('the fixtures come from transformers 4.43.4 and cover every case', () => {
    expect(fixture.transformers).to.equal('4.43.4');
    expect(Object.keys(fixture.cases)).to.deep.equal(['qwen2-tied', 'qwen2-untied', 'llama-llama3', 'llama-linear']);
    expect(Object.values(fixture.cases).some((c) => c.hf_sharded)).to.equal(true);
  });

  for (const [name, c] of Object.entries(fixture.cases)) {
    describe(name, () => {
      let model: CausalLM;
      before(() => (model = loadCausalLM(path.join(fixtures, name, 'hf'))));
      after(() => model.dispose());

      it(`loads the folder transformers saved${c.hf_sharded ? ' in shards' : ''}: left-padded logits and every hidden state match`, () => {
        const out = forward(model, 'causal');
        expectClose(realRows(out.logits!), c.expected.logits.flat(2), 1e-5, 'logits');
        expect(out.hiddenStates).to.have.length(c.expected.hidden_states.length);
        out.hiddenStates!.forEach((h, i) =>
          expectClose(realRows(h), c.expected.hidden_states[i]!.flat(2), 1e-5, `hidden state ${i}`),
        );
        const loss = model.forward({ inputIds: [prompts[0]!], labels: [prompts[0]!] }).loss!.item();
        expect(loss).to.be.closeTo(c.expected.loss_of_prompt0, 1e-5 * Math.abs(c.expected.loss_of_prompt0));
      });

      it('bidirectional attention matches a 4-D mask over the real keys', () => {
        const out = forward(model, 'bidirectional');
        expectClose(realRows(out.logits!), c.expected.bidirectional_logits.flat(2), 1e-5, 'bidirectional logits');
        expectClose(realRows(out.lastHiddenState), c.expected.bidirectional_last_hidden.flat(2), 1e-5, 'last hidden');
      });

      it("greedy generation of the left-padded batch equals model.generate's", () => {
        const steps = c.expected.greedy[0]!.length;
        expect(generate(model, prompts, { maxNewTokens: steps, eosTokenIds: [] }).tokens).to.deep.equal(
          c.expected.greedy,
        );
      });

      it('saved by llmrec in shards: the same bytes transformers loaded, and its outputs match', () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'llmrec-hf-'));
        try {
          saveCausalLM(dir, model, { dtype: 'f32', maxShardBytes: c.llmrec_shard_bytes });
          const committed = path.join(fixtures, name, 'llmrec-sharded');
          const files = fs.readdirSync(committed).sort();
          expect(fs.readdirSync(dir).sort()).to.deep.equal(files);
          expect(files.filter((f) => f.endsWith('.safetensors')).length).to.be.greaterThan(1);
          for (const file of files)
            expect(
              fs.readFileSync(path.join(dir, file)).equals(fs.readFileSync(path.join(committed, file))),
              file,
            ).to.equal(true);
          // transformers loaded that folder: the same logits and generations, and no complaint
          // but the legacy rope `type` key that 4.43.4 reports (kept for transformers < 4.43).
          expectClose(
            realRows(forward(model, 'causal').logits!),
            c.llmrec_saved.logits.flat(2),
            1e-5,
            'reloaded logits',
          );
          expect(c.llmrec_saved.greedy).to.deep.equal(c.expected.greedy);
          for (const warning of c.llmrec_saved.warnings)
            expect(warning).to.match(/^Unrecognized keys in `rope_scaling` .*: \{'type'\}$/);
          const config = fs.readFileSync(path.join(dir, 'config.json'), 'utf8');
          if (name.startsWith('llama'))
            expect(config)
              .to.match(/"factor": \d+\.0\b/)
              .and.to.match(/"type": "(llama3|linear)"/);
        } finally {
          fs.rmSync(dir, { recursive: true, force: true });
        }
      });
    });
  }
});
