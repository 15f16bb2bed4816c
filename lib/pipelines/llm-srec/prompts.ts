// LLM-SRec's two prompts (papers.md), tokenised with the positions of their soft tokens:
//
//   user: This user has made a series of purchases in the following order: Item No.1, Time:
//         2011-01-05, "WHITE METAL LANTERN"[HistoryEmb],Item No.2, ... . Based on this sequence
//         of purchases, generate user representation token:[UserOut]
//   item: The item title and item embedding are as follows: "WHITE METAL LANTERN"[HistoryEmb],
//         then generate item representation token:[ItemOut]
//
// The three markers are added to the tokenizer as special tokens, so the text splits at them and
// each is one position. Their token rows are never read: every marker slot is overwritten by a
// soft embedding (f_I of a SASRec item embedding, or a learned token), so the LM's embedding
// table is not resized; the slot's id is set to 0 (any valid id would do).
import type { SequenceDataset } from '../../data/dataset.js';
import { Tokenizer } from '../../llm/tokenizer.js';
import { expectArgs, expectArrayOf } from '../../guard.js';

export const HISTORY_TOKEN = '[HistoryEmb]';
export const USER_OUT_TOKEN = '[UserOut]';
export const ITEM_OUT_TOKEN = '[ItemOut]';

/** One tokenised prompt: ids (markers set to 0), where each [HistoryEmb] is and which item it stands for, and the out token. */
export interface EncodedPrompt {
  ids: number[];
  /** Positions of the [HistoryEmb] slots, in prompt order. */
  historySlots: number[];
  /** The item each [HistoryEmb] slot embeds. */
  historyItems: number[];
  /** Position of [UserOut] or [ItemOut]. */
  outSlot: number;
}

export interface PromptOptions {
  /** The most recent items in a user prompt (the paper: 10). */
  historyItems: number;
  /** The longest prompt in tokens; older items are dropped until it fits. */
  maxTokens: number;
  /** Whether the prompt carries dates ("Time: YYYY-MM-DD"); off for datasets whose times are only the row order. */
  dates: boolean;
}

/** What the prompts read of a dataset: item titles and keys. */
export type ItemCatalogue = Pick<SequenceDataset, 'titles' | 'itemKeys'>;

/** UTC date of a time in ms, as the official code's utcfromtimestamp(...).strftime('%Y-%m-%d'). */
export function isoDate(ms: number): string {
  expectArgs('isoDate', { ms }, 'number');
  return new Date(ms).toISOString().slice(0, 10);
}

export class PromptBuilder {
  readonly historyId: number;
  readonly userOutId: number;
  readonly itemOutId: number;

  constructor(
    readonly tokenizer: Tokenizer,
    readonly catalogue: ItemCatalogue,
    readonly options: PromptOptions,
  ) {
    expectArgs('new PromptBuilder', { tokenizer }, Tokenizer);
    expectArgs('new PromptBuilder', { catalogue, options }, 'object');
    // addSpecialTokens returns the existing ids of tokens it already has.
    [this.historyId, this.userOutId, this.itemOutId] = tokenizer.addSpecialTokens([
      HISTORY_TOKEN,
      USER_OUT_TOKEN,
      ITEM_OUT_TOKEN,
    ]) as [number, number, number];
  }

  /** An item's quoted title; an untitled item is named by its id ("item 85123A"). */
  title(item: number): string {
    const title = this.catalogue.titles[item];
    return `"${title ? title : `item ${this.catalogue.itemKeys[item] ?? item}`}"`;
  }

  userText(items: ArrayLike<number>, times: ArrayLike<number> | null): string {
    const entries: string[] = [];
    for (let k = 0; k < items.length; k++) {
      const time = this.options.dates && times ? `Time: ${isoDate(times[k]!)}, ` : '';
      entries.push(`Item No.${k + 1}, ${time}${this.title(items[k]!)}${HISTORY_TOKEN}`);
    }
    return (
      'This user has made a series of purchases in the following order: ' +
      entries.join(',') +
      `. Based on this sequence of purchases, generate user representation token:${USER_OUT_TOKEN}`
    );
  }

  itemText(item: number): string {
    return `The item title and item embedding are as follows: ${this.title(item)}${HISTORY_TOKEN}, then generate item representation token:${ITEM_OUT_TOKEN}`;
  }

  /**
   * A user's prompt from the history (oldest first) and its times (UTC ms, or null): the last
   * `historyItems` items, fewer when the prompt would exceed `maxTokens` (the oldest go first).
   */
  encodeUser(history: ArrayLike<number>, times: ArrayLike<number> | null): EncodedPrompt {
    if (history.length === 0) throw new Error('LLM-SRec: a user prompt needs at least one history item');
    let take = Math.min(this.options.historyItems, history.length);
    for (;;) {
      const start = history.length - take;
      const items = Array.from({ length: take }, (_, k) => history[start + k]!);
      const itemTimes = times ? Array.from({ length: take }, (_, k) => times[start + k]!) : null;
      const encoded = this.#encode(this.userText(items, itemTimes), items, this.userOutId);
      if (encoded.ids.length <= this.options.maxTokens) return encoded;
      if (take === 1)
        throw new Error(
          `LLM-SRec: the user prompt with one item is ${encoded.ids.length} tokens, more than the ${this.options.maxTokens} allowed (maxPromptTokens or the LM's context)`,
        );
      take -= 1;
    }
  }

  encodeItem(item: number): EncodedPrompt {
    const encoded = this.#encode(this.itemText(item), [item], this.itemOutId);
    if (encoded.ids.length > this.options.maxTokens)
      throw new Error(
        `LLM-SRec: the item prompt of item ${this.catalogue.itemKeys[item] ?? item} is ${encoded.ids.length} tokens, more than the ${this.options.maxTokens} allowed (maxPromptTokens or the LM's context)`,
      );
    return encoded;
  }

  #encode(text: string, items: readonly number[], outId: number): EncodedPrompt {
    const ids = this.tokenizer.encode(text);
    const historySlots: number[] = [];
    let outSlot = -1;
    ids.forEach((id, position) => {
      if (id === this.historyId) historySlots.push(position);
      else if (id === outId) outSlot = position;
      else return;
      ids[position] = 0;
    });
    // A title that itself contains a marker would shift the slots; refuse rather than misalign.
    if (historySlots.length !== items.length || outSlot < 0)
      throw new Error(
        `LLM-SRec: the prompt has ${historySlots.length} ${HISTORY_TOKEN} slots for ${items.length} items${outSlot < 0 ? ' and no out token' : ''} (does a title contain a marker?)`,
      );
    return { ids, historySlots, historyItems: [...items], outSlot };
  }
}

/** Prompts as one right-padded batch: flat ids [B × L] and each row's length. */
export function padPrompts(prompts: readonly EncodedPrompt[]): { ids: Int32Array; lengths: Int32Array; width: number } {
  expectArrayOf('padPrompts', { prompts }, 'object');
  const width = Math.max(...prompts.map((p) => p.ids.length));
  const ids = new Int32Array(prompts.length * width);
  const lengths = new Int32Array(prompts.length);
  prompts.forEach((p, r) => {
    ids.set(p.ids, r * width);
    lengths[r] = p.ids.length;
  });
  return { ids, lengths, width };
}
