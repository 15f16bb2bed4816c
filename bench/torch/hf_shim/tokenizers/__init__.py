"""An import-only stand-in for the `tokenizers` package (its Rust wheel is not installable here).

transformers imports names from `tokenizers` at module load (the GGUF and slow-to-fast converters)
even when it never uses them. Every name resolves to a class that refuses to be used, so a code
path that really needs the fast tokenizers fails loudly instead of silently. No package metadata
is provided, so `transformers.utils.is_tokenizers_available()` stays False.
"""


def _unavailable(name):
    def refuse(*args, **kwargs):
        raise ImportError(f"tokenizers.{name}: the tokenizers package is a stand-in here (see bench/torch/hf_env.py)")

    return type(name, (), {"__init__": refuse, "__new__": lambda cls, *a, **k: refuse()})


def __getattr__(name):
    if name.startswith("__"):
        raise AttributeError(name)
    return _unavailable(name)
