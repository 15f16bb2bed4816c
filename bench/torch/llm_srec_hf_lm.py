"""Writes a random-weight LlamaForCausalLM folder with transformers' own save_pretrained: the
fixture that proves `llmrec llm-srec --lm DIR` loads a folder transformers wrote (test/llm-srec).

    python3 bench/torch/llm_srec_hf_lm.py OUT VOCAB

The tokenizer.json beside it is llmrec's (transformers here has no `tokenizers` to write one).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_env  # noqa: E402,F401  (makes transformers importable on Debian's torch)
import torch  # noqa: E402
from transformers import LlamaConfig, LlamaForCausalLM  # noqa: E402


def main():
    out, vocab = sys.argv[1], int(sys.argv[2])
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=1024,
        tie_word_embeddings=False,
        torch_dtype="float32",
    )
    LlamaForCausalLM(config).save_pretrained(out, safe_serialization=True)


if __name__ == "__main__":
    main()
