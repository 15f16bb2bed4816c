"""Random-weight model folders written by Hugging Face transformers itself (v4.43.4 through
hf_env.py), for the test that LLM2Rec runs on any Qwen2/Llama folder (`--lm DIR`): a tied Qwen2
and an untied Llama with llama3 rope scaling, both with the tokenizer of
test/fixtures/llm2rec/lm. For each, transformers' own CSFT loss (its shifted LM cross-entropy)
on the fixture's CSFT batch goes to hf-expected.json.

    python3 bench/torch/llm2rec_hf.py [--fixtures test/fixtures/llm2rec]
"""

import argparse
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hf_env  # noqa: E402,F401  (makes transformers importable)
import torch  # noqa: E402
import transformers  # noqa: E402

from llm2rec import pad_rows  # noqa: E402


def build(kind, vocab, eos):
    common = dict(
        vocab_size=vocab,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        rms_norm_eps=1e-6,
        eos_token_id=eos,
        initializer_range=0.3,
        torch_dtype="float32",
    )
    if kind == "qwen2":
        return transformers.Qwen2ForCausalLM(transformers.Qwen2Config(rope_theta=10000.0, tie_word_embeddings=True, **common))
    scaling = dict(rope_type="llama3", factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0, original_max_position_embeddings=16)
    return transformers.LlamaForCausalLM(
        transformers.LlamaConfig(rope_theta=500000.0, rope_scaling=scaling, tie_word_embeddings=False, **common)
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--fixtures", default=os.path.join(here, "..", "..", "test", "fixtures", "llm2rec"))
    args = parser.parse_args()
    torch.manual_seed(11)
    source = os.path.join(args.fixtures, "lm")
    with open(os.path.join(source, "config.json")) as f:
        lm_config = json.load(f)
    with open(os.path.join(args.fixtures, "inputs.json")) as f:
        inputs = json.load(f)
    losses = {}
    for kind in ("qwen2", "llama"):
        folder = os.path.join(args.fixtures, f"hf-{kind}")
        model = build(kind, lm_config["vocab_size"], lm_config["eos_token_id"])
        model.save_pretrained(folder, safe_serialization=True)
        for name in ("tokenizer.json", "tokenizer_config.json"):
            shutil.copy(os.path.join(source, name), os.path.join(folder, name))
        reloaded = transformers.AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager")
        ids, mask = pad_rows([r["ids"] for r in inputs["csft"]], inputs["padId"])
        labels, _ = pad_rows([r["labels"] for r in inputs["csft"]], -100)
        with torch.no_grad():
            losses[kind] = reloaded(input_ids=ids, attention_mask=mask, labels=labels).loss.item()
    with open(os.path.join(args.fixtures, "hf-expected.json"), "w") as f:
        json.dump({"transformers": transformers.__version__, "csftLoss": losses}, f, indent=2)
        f.write("\n")
    print(json.dumps(losses))


if __name__ == "__main__":
    main()
