#!/usr/bin/env bash
# PyTorch for the CPU-side comparisons: Debian's build, run with Debian's own python3
# (/usr/bin/python3, not a pyenv one), with OpenBLAS so its matmuls are not the reference BLAS.
set -euo pipefail
if /usr/bin/python3 -c 'import torch' 2>/dev/null; then
  echo "torch $(/usr/bin/python3 -c 'import torch; print(torch.__version__)') is already installed"
  exit 0
fi
SUDO=$([ "$(id -u)" -eq 0 ] && echo "" || echo sudo)
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq python3-torch libopenblas0-pthread >/dev/null
/usr/bin/python3 -c 'import torch; print("torch", torch.__version__, "threads", torch.get_num_threads())'
