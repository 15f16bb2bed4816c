#!/usr/bin/env bash
# bash bench/cpu-table.sh [ROUNDS] [OUT_DIR]
#
# The CPU comparison table of issue 21: llmrec (bench/*.bench.ts) beside PyTorch (bench/torch/*.py)
# on the same cases, family by family, both sides interleaved in every round so that a change in
# the machine's load hits both; the table keeps each side's best round (compare.js --best). Run
# after `npx tsc -p tsconfig.json`; prints the load before and after, and the table.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
out=${2:-bench/results/cpu-table-$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
ours="$out/llmrec.jsonl"
theirs="$out/torch.jsonl"
: >"$ours"
: >"$theirs"
export LLMREC_NUM_THREADS=${LLMREC_NUM_THREADS:-2}
# Debian's torch uses OpenMP: spinning threads on a shared CPU make it several times slower.
export OMP_WAIT_POLICY=PASSIVE
python=${PYTHON:-/usr/bin/python3}

# family | llmrec filters | PyTorch script | PyTorch filters
families=(
  "elementwise|copy/f32/16777216|elementwise.py|copy/f32/16777216"
  "gemm|gemm/f32/1024x1024x1024 linear/f32/lm-small linear+bias+gelu linear/f32/qwen2-0.5b-attn-out bmm/f32|gemm.py|gemm/f32/1024x1024x1024 linear/f32/lm-small linear+bias+gelu linear/f32/qwen2-0.5b-attn-out bmm/f32"
  "dense|gelu/f32 layernorm+gelu silu/f32 swiglu/f32 layernorm/f32/8192|dense.py|gelu/f32 layernorm+gelu silu/f32 swiglu/f32 layernorm/f32/8192"
  "llm|llm/small/f32 llm/tiny/f32|llm_reference.py|llm/small/f32 llm/tiny/f32"
  "attention|attention/fwd+bwd/f32/sasrec-L50-H1|attention.py|attention/fwd+bwd/f32/sasrec-L50-H1"
  "infonce|infonce/fwd+bwd/f32/B4096xd128|infonce.py|infonce/fwd+bwd/f32/B4096xd128"
  "embedding|embedding/fwd+bwd/f32/sasrec/100kx64|embedding.py|embedding/fwd+bwd/f32/sasrec/100kx64"
  "mlp-distill|mlp-distill/f32/f_cf_user|mlp_distill.py|mlp-distill/f32/f_cf_user"
  "loss|linear-ce/f32/512x896x16384|loss.py|linear-ce/f32/512x896x16384"
)

echo "load before: $(uptime)" | tee "$out/load.txt"
for round in $(seq "$rounds"); do
  for family in "${families[@]}"; do
    IFS='|' read -r name ours_filters script theirs_filters <<<"$family"
    echo "# round $round/$rounds: $name" >&2
    # shellcheck disable=SC2086
    node dist/bench/run.js --quick $ours_filters --out "$ours" >/dev/null
    # shellcheck disable=SC2086
    (cd bench/torch && "$python" "$script" --quick $theirs_filters --out "$theirs" >/dev/null)
  done
done
node dist/bench/run.js --quick autograd/overhead --out "$ours" >/dev/null
echo "load after: $(uptime)" | tee -a "$out/load.txt"
node dist/bench/compare.js --best "$ours" "$theirs" | tee "$out/table.md"
