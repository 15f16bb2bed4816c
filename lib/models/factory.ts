// Building a sequential recommender from a saved config: what checkpoints and Recommender.load use.
import { GRU4Rec, type GRU4RecConfig } from './gru4rec.js';
import type { SequenceRecommender } from './recommender-model.js';
import { SASRec, type SASRecConfig } from './sasrec.js';

export type ModelKind = 'sasrec' | 'gru4rec';

/** What a checkpoint's config.json holds. */
export interface SavedModelConfig {
  kind: ModelKind;
  model: SASRecConfig | GRU4RecConfig;
  /** The dataset's item keys and titles, so a loaded model can answer in the caller's ids. */
  dataset?: { name: string; itemKeys: string[]; titles: string[] };
}

export function buildModel(saved: SavedModelConfig, device = 'cpu'): SequenceRecommender {
  switch (saved.kind) {
    case 'sasrec':
      return new SASRec(saved.model as SASRecConfig, { device });
    case 'gru4rec':
      return new GRU4Rec(saved.model as GRU4RecConfig, { device });
    default:
      throw new Error(`model: unknown kind '${String((saved as { kind: unknown }).kind)}'; expected sasrec or gru4rec`);
  }
}
