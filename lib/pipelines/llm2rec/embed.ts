// Item embeddings: every item's text through the trained bidirectional model, mean-pooled, one
// row per item id with row 0 (padding) zero. Written as `item-embeddings.safetensors` (tensor
// 'embeddings', f32 [numItems + 1, hidden]; PyTorch's safetensors reads it) beside
// `item-ids.json`, the item key of every row.
import * as fs from 'node:fs';
import * as path from 'node:path';

import type { SequenceDataset } from '../../data/dataset.js';
import { SafetensorsFile, saveSafetensorsSync } from '../../io/safetensors.js';
import { tensor } from '../../tensor.js';
import { defineStage } from '../stage.js';
import type { LLM2RecConfig } from './config.js';
import { embedTexts, itemTexts, openLanguageModel, type EmbedTextsOptions } from './language-model.js';

export const EMBEDDINGS_FILE = 'item-embeddings.safetensors';
export const ITEM_IDS_FILE = 'item-ids.json';

/** An item table: row-major [(numItems + 1) × dim], row 0 zero. */
export interface ItemTable {
  rows: Float32Array;
  numItems: number;
  dim: number;
}

/** LLM2Rec's item embedding: bidirectional attention, mean over the title's tokens. */
export const llm2recEmbedding = { attention: 'bidirectional', pooling: 'mean' } as const;

/** The item table of `dataset` embedded by the LM in `lmDir` (loaded for this call, then freed). */
export function embedItems(
  lmDir: string,
  dataset: SequenceDataset,
  options: EmbedTextsOptions & { device: string },
): ItemTable {
  const texts = itemTexts(dataset);
  const lm = openLanguageModel(lmDir, options.device);
  try {
    const dim = lm.model.config.hiddenSize;
    const rows = new Float32Array((dataset.numItems + 1) * dim);
    rows.set(embedTexts(lm, texts.slice(1, dataset.numItems + 1), options), dim);
    return { rows, numItems: dataset.numItems, dim };
  } finally {
    lm.model.dispose();
  }
}

/** Reads the table an embed stage wrote. */
export function readItemTable(dir: string): ItemTable {
  const file = path.join(dir, EMBEDDINGS_FILE);
  if (!fs.existsSync(file)) throw new Error(`llm2rec: ${dir} has no ${EMBEDDINGS_FILE}; run the embed stage first`);
  const st = SafetensorsFile.open(file);
  try {
    const t = st.read('embeddings');
    try {
      const [n, dim] = t.shape as [number, number];
      return { rows: Float32Array.from(t.dataSync()), numItems: n - 1, dim };
    } finally {
      t.dispose();
    }
  } finally {
    st.close();
  }
}

export const embed = defineStage<LLM2RecConfig>({
  name: 'embed',
  summary: 'embed every item title with the bidirectional model (mean pooling): the frozen item table',
  requires: ['simcse'],
  async run(ctx) {
    const c = ctx.config;
    const { dataset } = await ctx.dataset();
    const started = performance.now();
    const table = embedItems(ctx.stageDir('simcse'), dataset, {
      ...llm2recEmbedding,
      maxTokens: c.titleTokens,
      batch: c.embedBatch,
      device: ctx.device,
    });
    const seconds = (performance.now() - started) / 1000;
    const t = tensor(table.rows, { shape: [table.numItems + 1, table.dim] });
    try {
      saveSafetensorsSync(path.join(ctx.dir, EMBEDDINGS_FILE), new Map([['embeddings', t]]), {
        attention: llm2recEmbedding.attention,
        pooling: llm2recEmbedding.pooling,
        paddingRow: '0',
      });
    } finally {
      t.dispose();
    }
    ctx.writeJson(ITEM_IDS_FILE, { dataset: dataset.name, itemKeys: dataset.itemKeys });
    return {
      metrics: { items: table.numItems, dim: table.dim, seconds, itemsPerSecond: table.numItems / seconds },
      outputs: [EMBEDDINGS_FILE, ITEM_IDS_FILE],
    };
  },
});
