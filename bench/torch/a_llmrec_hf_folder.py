"""Writes a random-weight Qwen2 or Llama folder with transformers' own code (save_pretrained,
safetensors), for the A-LLMRec test that runs `--lm` on a folder llmrec did not write.

usage: python3 bench/torch/a_llmrec_hf_folder.py VOCAB_SIZE EOS_ID qwen2=DIR [llama=DIR ...]
The tokenizer.json is added by the caller (transformers' tokenizers are not installable here).
"""

import sys

import hf_env  # noqa: F401  (makes transformers importable on Debian's torch)
import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM


def write(kind, out, vocab, eos):
    torch.manual_seed(0)
    shape = dict(
        vocab_size=vocab,
        hidden_size=48,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        eos_token_id=eos,
        tie_word_embeddings=kind == "qwen2",
        torch_dtype="float32",
    )
    if kind == "qwen2":
        model = Qwen2ForCausalLM(Qwen2Config(**shape))
    else:
        model = LlamaForCausalLM(LlamaConfig(**shape))
    model.save_pretrained(out, safe_serialization=True)


def main():
    vocab, eos = int(sys.argv[1]), int(sys.argv[2])
    for spec in sys.argv[3:]:
        kind, out = spec.split("=", 1)
        if kind not in ("qwen2", "llama"):
            raise SystemExit(f"a_llmrec_hf_folder: unknown model kind {kind!r} (qwen2 or llama)")
        write(kind, out, vocab, eos)


if __name__ == "__main__":
    main()
