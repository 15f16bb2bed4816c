// A-LLMRec's prompt (papers.md), built as token ids with one slot per soft token:
//
//   [user] is a user representation.This user has bought "t1"[HistoryEmb],"t2"[HistoryEmb] in the
//   previous. Recommend one next item for this user to buy next from the following item title
//   set, "c1"[CandidateEmb],..."c20"[CandidateEmb]. The recommendation is
//
// The reference code adds [HistoryEmb]/[CandidateEmb] as tokens and overwrites their embeddings;
// here each text piece is tokenized on its own and a placeholder id marks each slot, which the
// soft embeddings overwrite (the placeholder's own embedding is never read). The titles-only
// prompt (the TALLRec-style baseline) is the same text without the user token and the slots.
import type { Tokenizer } from '../../llm/tokenizer.js';

export const promptText = {
  user: ' is a user representation.',
  history: 'This user has bought ',
  candidates: ' in the previous. Recommend one next item for this user to buy next from the following item title set, ',
  answer: '. The recommendation is ',
} as const;

/**
 * A title as the prompt quotes it: a double quote inside a title would end the answer span early,
 * so it becomes a single quote; an empty title becomes the item's id (documented in README).
 */
export function promptTitle(title: string | undefined, key: string): string {
  const clean = (title ?? '').replace(/"/g, "'").replace(/\s+/g, ' ').trim();
  return clean || `item ${key}`;
}

export interface PromptTokens {
  ids: number[];
  /** Slot of the user token (-1 in a titles-only prompt). */
  userSlot: number;
  /** Slots of [HistoryEmb], one per history item, in order (empty in a titles-only prompt). */
  historySlots: number[];
  /** Slots of [CandidateEmb], one per candidate, in order. */
  candidateSlots: number[];
}

export interface PromptOptions {
  /** Soft tokens (A-LLMRec) or titles only (the baseline). */
  softTokens: boolean;
  /** The id written at soft-token slots (any valid id; its embedding is overwritten). */
  placeholder: number;
}

/** Caches the token ids of texts: titles repeat across prompts. */
export class PromptEncoder {
  private readonly cache = new Map<string, number[]>();
  constructor(readonly tokenizer: Tokenizer) {}

  encode(text: string): number[] {
    let ids = this.cache.get(text);
    if (!ids) {
      ids = this.tokenizer.encode(text, { addSpecialTokens: false });
      if (this.cache.size > 200_000) this.cache.clear();
      this.cache.set(text, ids);
    }
    return ids;
  }

  /** The prompt for a history and candidates, each given as prompt titles (see promptTitle). */
  build(history: readonly string[], candidates: readonly string[], options: PromptOptions): PromptTokens {
    const ids: number[] = [];
    const historySlots: number[] = [];
    const candidateSlots: number[] = [];
    const push = (text: string) => ids.push(...this.encode(text));
    let userSlot = -1;
    if (options.softTokens) {
      userSlot = ids.length;
      ids.push(options.placeholder);
      push(promptText.user);
    }
    push(promptText.history);
    const items = (titles: readonly string[], slots: number[]) =>
      titles.forEach((title, i) => {
        push(`${i > 0 ? ',' : ''}"${title}"`);
        if (options.softTokens) {
          slots.push(ids.length);
          ids.push(options.placeholder);
        }
      });
    items(history, historySlots);
    push(promptText.candidates);
    items(candidates, candidateSlots);
    push(promptText.answer);
    return { ids, userSlot, historySlots, candidateSlots };
  }

  /** The answer the LM learns to write: the quoted title, then EOS. */
  answer(title: string, eos: number): number[] {
    return [...this.encode(`"${title}"`), eos];
  }
}
