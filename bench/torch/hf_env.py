"""Makes Hugging Face transformers importable on Debian's torch 1.13, without PyPI.

Import this module before `transformers`. It puts on `sys.path`:
- the transformers and huggingface_hub *sources* (default `../hf-src` beside the checkout, or
  `$LLMREC_HF_SRC`): `transformers/` from tag v4.43.4 of github.com/huggingface/transformers
  (`src/transformers`) and `huggingface_hub/` from tag v0.24.7 (`src/huggingface_hub`);
- `hf_shim/`: a pure-Python `safetensors` (the file format is simple; the Rust wheel is not
  installable here). `tokenizers` is left absent: transformers then uses its slow paths, and
  llmrec's references only need models, never tokenizers.
transformers checks installed versions through package metadata, so a throw-away folder of
`*.dist-info` records is added as well. Debian packages needed: python3-torch, python3-numpy,
python3-regex, python3-filelock, python3-tqdm, python3-packaging, python3-fsspec,
python3-typing-extensions, python3-yaml, python3-requests.
"""

import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
CHECKOUT = os.path.dirname(os.path.dirname(HERE))
HF_SRC = os.environ.get("LLMREC_HF_SRC", os.path.join(os.path.dirname(CHECKOUT), "hf-src"))
VERSIONS = {"transformers": "4.43.4", "huggingface_hub": "0.24.7", "safetensors": "0.4.3"}


def _write_metadata(root):
    for name, version in VERSIONS.items():
        info = os.path.join(root, f"{name}-{version}.dist-info")
        os.makedirs(info, exist_ok=True)
        with open(os.path.join(info, "METADATA"), "w") as handle:
            handle.write(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def _install():
    for package in ("transformers", "huggingface_hub"):
        if not os.path.isdir(os.path.join(HF_SRC, package)):
            raise SystemExit(
                f"hf_env: {os.path.join(HF_SRC, package)} is missing: put the sources of transformers "
                "v4.43.4 and huggingface_hub v0.24.7 there, or set LLMREC_HF_SRC"
            )
    metadata = tempfile.mkdtemp(prefix="llmrec-hf-metadata-")
    _write_metadata(metadata)
    for path in (metadata, os.path.join(HERE, "hf_shim"), HF_SRC):
        if path not in sys.path:
            sys.path.insert(0, path)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")


_install()
