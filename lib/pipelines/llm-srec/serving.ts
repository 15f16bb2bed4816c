// Serving an LLM-SRec run folder through Recommender.load: a user prompt through the frozen LM
// and f_user, then a dot product against the item representations and top-k on the device
// (Recommender's micro-batched path). The item table is the eval stage's cached one when it is
// there, else it is computed at load. Prompts carry dates when the caller passes `times`
// (aligned with the history); a history without them gets a prompt without dates.
//
// New items (Recommender.addItems): an item's representation is f_item of its item prompt, whose
// [HistoryEmb] slot needs the item's SASRec embedding. An item the SASRec never saw has none, so
// it takes the mean of the SASRec's item embeddings (a typical item: no collaborative signal of
// its own, but the f_I input the modules were trained on); its title carries the rest. The same
// row stands in when a new item appears in a served history.
import * as fs from 'node:fs';
import * as path from 'node:path';

import { noGrad } from '../../autograd.js';
import type { SavedModelConfig } from '../../models/factory.js';
import type { SequenceBatch, SequenceRecommender } from '../../models/recommender-model.js';
import { Module } from '../../nn/module.js';
import { linear } from '../../ops/linalg.js';
import { keep, tidy } from '../../scope.js';
import { tensor, Tensor } from '../../tensor.js';
import { loadModel } from '../../train/checkpoint.js';
import { combineDigests } from '../digest.js';
import { readRunManifest } from '../run-folder.js';
import type { LLMSRec, UserHistory } from './model.js';
import {
  assembleLLMSRec,
  disposeLLMSRec,
  loadCheckedSASRec,
  loadLLMSRecLanguageModel,
  type LLMSRecSavedConfig,
} from './runtime.js';
import { ITEM_TABLE_FILE, readItemTable } from './stages.js';
import { expectArgs } from '../../guard.js';

/** LLM-SRec as the SequenceRecommender that Recommender serves. */
export class LLMSRecServingModel extends Module implements SequenceRecommender {
  readonly kind = 'llm-srec';
  readonly config: { numItems: number; maxlen: number; hidden: number };

  constructor(
    readonly llmSRec: LLMSRec,
    /** f_item of every item [numItems + 1, outDim] (row 0 zeros); addItemTitles grows it. */
    public table: Tensor,
  ) {
    super();
    expectArgs('new LLMSRecServingModel', { llmSRec }, 'object');
    expectArgs('new LLMSRecServingModel', { table }, Tensor);
    this.config = {
      numItems: table.shape[0]! - 1,
      maxlen: llmSRec.prompts.options.historyItems,
      hidden: llmSRec.heads.shape.outDim,
    };
    this.coldItem = keep(meanItemRow(llmSRec.cfItems));
  }

  /** The [HistoryEmb] input [1, d] of items the SASRec never saw: the mean of its item embeddings. */
  readonly coldItem: Tensor;

  /** f_I inputs of items beyond the SASRec's table (added items). */
  readonly #extraItems = (item: number): Tensor | null =>
    item >= this.llmSRec.cfItems.shape[0]! && item <= this.config.numItems ? this.coldItem : null;

  get device(): string {
    return this.llmSRec.device;
  }

  loss(_batch: SequenceBatch): Tensor {
    throw new Error('LLM-SRec serving model: train it with `llmrec llm-srec distill`');
  }

  /** Histories of left-padded ids (0 = padding); a row's times are used when all of them are known. */
  userRepresentation(ids: Int32Array, rows: number, times?: Float64Array): Tensor {
    const width = ids.length / rows;
    const histories: UserHistory[] = [];
    for (let r = 0; r < rows; r++) {
      const items: number[] = [];
      const at: number[] = [];
      for (let j = r * width; j < (r + 1) * width; j++) {
        if (ids[j] === 0) continue;
        items.push(ids[j]!);
        at.push(times ? times[j]! : NaN);
      }
      histories.push({ items, times: at.every(Number.isFinite) ? at : null });
    }
    return this.llmSRec.userRepresentations(histories, this.#extraItems);
  }

  /**
   * New or retitled items: their titles go into the prompts' catalogue and f_item of their item
   * prompts into the table (new ids continue it, in order). On an error nothing changes.
   */
  addItemTitles(ids: readonly number[], titles: readonly string[]): void {
    if (ids.length !== titles.length)
      throw new Error(`LLM-SRec addItemTitles: ${ids.length} ids but ${titles.length} titles`);
    const catalogue = this.llmSRec.prompts.catalogue;
    const count = this.table.shape[0]!;
    let size = count;
    for (const id of ids) {
      if (!Number.isInteger(id) || id < 1 || id > size)
        throw new Error(
          `LLM-SRec addItemTitles: item id ${id} neither replaces an item (1..${size - 1}) nor continues the catalogue (${size})`,
        );
      if (id === size) size++;
    }
    const before = { titles: catalogue.titles.slice(), keys: catalogue.itemKeys.length };
    let rows: Float32Array;
    try {
      ids.forEach((id, i) => {
        catalogue.titles[id] = titles[i]!;
        if (id >= catalogue.itemKeys.length) catalogue.itemKeys[id] = `new item ${id}`;
      });
      (this.config as { numItems: number }).numItems = size - 1;
      rows = noGrad(() =>
        tidy(() => this.llmSRec.itemRepresentations([...ids], this.#extraItems).dataSync() as Float32Array),
      );
    } catch (error) {
      catalogue.titles.length = 0;
      catalogue.titles.push(...before.titles);
      catalogue.itemKeys.length = before.keys;
      (this.config as { numItems: number }).numItems = count - 1;
      throw error;
    }
    const dim = this.table.shape[1]!;
    const values = new Float32Array(size * dim);
    values.set(this.table.dataSync() as Float32Array);
    ids.forEach((id, i) => values.set(rows.subarray(i * dim, (i + 1) * dim), id * dim));
    const previous = this.table;
    this.table = keep(tensor(values, { shape: [size, dim], device: this.device }));
    previous.dispose();
  }

  itemEmbeddings(): Tensor {
    return this.table;
  }

  scoreAll(ids: Int32Array, rows: number): Tensor {
    return linear(this.userRepresentation(ids, rows), this.table);
  }

  override dispose(): void {
    this.table.dispose();
    this.coldItem.dispose();
    disposeLLMSRec(this.llmSRec);
  }
}

/** Recommender.load's loader for an LLM-SRec run folder (its distill stage must be done). */
export async function loadLLMSRecRun(
  dir: string,
  device: string,
): Promise<{ model: LLMSRecServingModel; config: SavedModelConfig }> {
  expectArgs('loadLLMSRecRun', { dir, device }, 'string');
  const manifest = readRunManifest(dir);
  const status = manifest?.stages.distill?.status;
  if (status !== 'done')
    throw new Error(
      `${dir}: its distill stage is ${status ?? 'not run'}, so there is no trained LLM-SRec to serve; run \`llmrec llm-srec all --out ${dir}\``,
    );
  const distillDir = path.join(dir, 'distill');
  const saved = JSON.parse(fs.readFileSync(path.join(distillDir, 'config.json'), 'utf-8')) as LLMSRecSavedConfig;
  if (saved.kind !== 'llm-srec') throw new Error(`${distillDir}/config.json is not an LLM-SRec config`);
  // The prompts' own catalogue (addItemTitles extends it; Recommender extends its config's).
  const catalogue = {
    name: saved.dataset.name,
    itemKeys: [...saved.dataset.itemKeys],
    titles: [...saved.dataset.titles],
  };
  const sasrec = await loadCheckedSASRec(saved.cf, catalogue, device);
  let model: LLMSRec;
  try {
    const language = loadLLMSRecLanguageModel(saved.lm, device);
    model = assembleLLMSRec(language, sasrec, catalogue, {
      prompt: saved.prompt,
      userHidden: saved.shape.userHidden,
      cfHidden: saved.shape.cfHidden,
      outDim: saved.shape.outDim,
      device,
    });
  } catch (error) {
    sasrec.model.dispose();
    throw error;
  }
  try {
    loadModel(distillDir, model.heads);
    const numItems = saved.dataset.itemKeys.length - 1;
    const cached = path.join(dir, 'eval', ITEM_TABLE_FILE);
    // The eval stage's table only when it was computed from the distill outputs there now.
    const evalRecord = manifest!.stages.eval;
    const distillDigest = combineDigests(Object.values(manifest!.stages.distill!.outputs));
    const evalDone =
      evalRecord?.status === 'done' &&
      evalRecord.inputs['stage:distill']?.sha256 === distillDigest &&
      fs.existsSync(cached);
    let table = evalDone ? readItemTable(path.join(dir, 'eval'), device) : null;
    if (table && (table.shape[0] !== numItems + 1 || table.shape[1] !== saved.shape.outDim)) {
      table.dispose();
      table = null;
    }
    table ??= noGrad(() => model.itemTable(numItems, 64));
    const config: SavedModelConfig = {
      kind: 'llm-srec',
      model: { numItems, maxlen: saved.prompt.historyItems, hidden: saved.shape.outDim, externalDim: 0 },
      dataset: saved.dataset,
    };
    return { model: new LLMSRecServingModel(model, table), config };
  } catch (error) {
    disposeLLMSRec(model);
    throw error;
  }
}

/** The mean of rows 1.. of an item table [n + 1, d], as [1, d]. */
function meanItemRow(table: Tensor): Tensor {
  const [rows, dim] = [table.shape[0]!, table.shape[1]!];
  const values = noGrad(() => table.dataSync());
  const mean = new Float32Array(dim);
  for (let r = 1; r < rows; r++) for (let c = 0; c < dim; c++) mean[c]! += values[r * dim + c]! / (rows - 1);
  return tensor(mean, { shape: [1, dim], device: table.device });
}
