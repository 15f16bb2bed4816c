// Hugging Face byte-level BPE tokenizers (Qwen2, Llama-3, GPT-2). The implementation is in
// lib/llm/tokenizer/, one file per step of the pipeline; this module is its public face.
export { Tokenizer } from './tokenizer/tokenizer.js';
export type { AddedToken, DecodeOptions, EncodeOptions, SpecialTokenRole } from './tokenizer/format.js';
export { byteLevelAlphabet } from './tokenizer/byte-level.js';
export { onigurumaToJs } from './tokenizer/oniguruma.js';
export { QWEN2_PATTERN } from './tokenizer/pre-tokenizer.js';
