#!/usr/bin/env bash
# Run on the GPU machine from the project root (see scripts/gpu/stage.sh). One call does the
# whole check, so every ratio comes from one run on one GPU:
#   1. the CUDA test suite (every kernel against the float64 reference and its CPU twin, and every
#      kernel variant against its family's reference variant: test/kernel-variants.test.ts)
#   2. the kernel suites under compute-sanitizer (memcheck)
#   3. the llmrec benchmarks and their PyTorch counterparts, joined into one table
#   3b. (variants) every kernel variant timed on its family's benchmarks (`bench -- --variants`)
#   4. (models) SASRec/GRU4Rec against their references, and the Recommender's latency
#   5. (llm2rec) the LLM2Rec pipeline and its ablation on CUDA (needs the shipped LM in data/models/)
#   5b. (llm-srec) a short LLM-SRec run of every stage on CUDA, and its serving latency
#   6. (serve) llmrec serve under load on loopback, beside the in-process Recommender
#   7. (a-llmrec) A-LLMRec's stage-2 step and generation latency beside PyTorch on the same
#      prompts and LM, then the comparison table on CUDA (needs the shipped LM in data/models/)
# Results go to $OUT (the device tool's output folder) or ./gpu-results.
#
# Phases: `bash scripts/gpu/run-suite.sh [PHASE] [bench filters...]`. PHASE is one of test,
# sanitize, bench, variants, models, llm2rec, llm-srec, serve, a-llmrec, kernels (the default:
# test, sanitize, bench and variants, sized for one device call of under 10 minutes on an H200 with
# the addon built beforehand by stage.sh: each step runs under a time cap, 100 + 100 s (the kernel
# suites, then the rest), 100 s (sanitizer), 150 s (benchmarks) and 120 s (variants), and the
# benchmarks run --quick) or all (every phase, without caps: several calls' worth).
# The caps are estimates (no GPU run has timed these phases yet): a capped phase keeps what it
# wrote, and its log ends where the cap stopped it.
# The kernels phase writes 7 files to $OUT (the device tool brings back 8 at most): info.txt,
# test-cuda.log, sanitizer.log, bench-llmrec.jsonl, bench-torch.jsonl, compare.md, variants.jsonl.
set -uo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-$PWD/gpu-results}
mkdir -p "$out"
source .gpu/env.sh
if [ ! -e node_modules ]; then
  mkdir -p /tmp/gpu-deps && tar -C /tmp/gpu-deps -xJf .gpu/deps.txz && ln -s /tmp/gpu-deps/node_modules node_modules
fi
mkdir -p build/Release
cp .gpu/addon/llmrec.node build/Release/
cp .gpu/addon/llmrec-build.json build/
mocha="node node_modules/mocha/bin/mocha.js"
spec="dist/test/**/*.test.js" # quoted: mocha expands it (bash would not recurse)
skip_host_only='style|memory stays flat|worker_threads'
phase=${1:-kernels}
# Does this run include phase $1? `kernels` is the four kernel phases.
want() {
  [ "$phase" = all ] || [ "$phase" = "$1" ] ||
    { [ "$phase" = kernels ] && case "$1" in test | sanitize | bench | variants) true ;; *) false ;; esac; }
}
# A time cap per kernel phase when running `kernels`, so one device call stays under 10 minutes;
# none otherwise. timeout kills the phase's process group; what it wrote so far stays.
cap() { if [ "$phase" = kernels ]; then timeout --kill-after=5 "$1" "${@:2}"; else "${@:2}"; fi; }
quick=""; [ "$phase" = kernels ] && quick="--quick"
logs=$(mktemp -d) # logs that need not come back (the device tool returns 8 files at most)
# The suites that launch kernels, for compute-sanitizer (the whole suite is mostly host code).
kernel_specs=()
for f in kernel-variants gemm loss embedding attention infonce topk softmax norm; do
  kernel_specs+=("dist/test/$f.test.js")
done

{ nvidia-smi; node dist/lib/cli/main.js info; } 2>&1 | tee "$out/info.txt"

if want test; then
  echo "== CUDA test suite"
  # The kernel suites first (every variant against its reference among them), then the rest, so a
  # capped run still has the kernel results.
  ignore=(); for f in "${kernel_specs[@]}"; do ignore+=(--ignore "$f"); done
  LLMREC_TEST_DEVICES=cuda cap 100 $mocha "${kernel_specs[@]}" --invert --grep "$skip_host_only" 2>&1 | tee "$out/test-cuda.log" | tail -n 40
  LLMREC_TEST_DEVICES=cuda cap 100 $mocha "$spec" "${ignore[@]}" --invert --grep "$skip_host_only" 2>&1 | tee -a "$out/test-cuda.log" | tail -n 40
fi
if want sanitize; then
  echo "== compute-sanitizer memcheck (the kernel suites)"
  LLMREC_TEST_DEVICES=cuda cap 100 compute-sanitizer --tool memcheck --print-limit 20 \
    $mocha "${kernel_specs[@]}" --invert --grep "$skip_host_only" 2>&1 | tee "$out/sanitizer.log" | tail -n 30
fi
if want bench; then
  echo "== benchmarks"
  bench_start=$SECONDS
  cap 100 node dist/bench/run.js --device cuda $quick --out "$out/bench-llmrec.jsonl" "${@:2}" 2>&1 | tee "$logs/bench-llmrec.txt"
  for script in bench/torch/*.py; do
    # Kernel benchmarks share common.py's case runner; model references and data parsing do not.
    case "$(basename "$script")" in common.py | data.py) continue ;; esac
    grep -q "from common import" "$script" || continue
    left=$((150 - (SECONDS - bench_start)))
    if [ "$phase" = kernels ] && [ "$left" -le 5 ]; then echo "bench: time cap reached before $script"; break; fi
    (cd bench/torch && PYTHONUNBUFFERED=1 cap "$left" python3 "$(basename "$script")" --device cuda $quick --out "$out/bench-torch.jsonl" "${@:2}") 2>&1 | tee -a "$logs/bench-torch.txt"
  done
  node dist/bench/compare.js "$out/bench-llmrec.jsonl" "$out/bench-torch.jsonl" | tee "$out/compare.md"
fi
if want variants; then
  echo "== kernel variants: every variant of every family on its benchmarks (GPU suite checked them first)"
  cap 120 node dist/bench/run.js --device cuda --variants $quick --out "$out/variants.jsonl" "${@:2}" 2>&1 | tee "$logs/variants.txt"
fi
if want models; then
  echo "== SASRec and GRU4Rec: llmrec vs the PyTorch reference, same split, 3 seeds each"
  node scripts/export-split.mjs --out "$out/split" --seed 0 > /dev/null
  for model in sasrec gru4rec; do
    node dist/lib/cli/main.js train "$model" --device cuda --epochs 20 --seeds 3 --eval-every 100 \
      --out "$out/runs/$model" --results "$out/seqrec.jsonl" 2>&1 | grep -v '"event":"step"' | tail -n 5
    extra=""; [ "$model" = gru4rec ] && extra="--maxlen 20" # llmrec's demo preset
    for seed in 0 1 2; do
      (cd bench/torch && python3 "$model.py" --split "$out/split" --device cuda --epochs 20 --seed "$seed" \
        $extra --out "$out/seqrec.jsonl") 2>&1 | tail -n 1
    done
  done
  (cd bench/torch && python3 seqrec_common.py "$out/seqrec.jsonl") | tee "$out/seqrec.md"
  node dist/bench/recommend.bench.js cuda | tee "$out/recommend.jsonl"
fi
if want llm2rec; then
  echo "== LLM2Rec on CUDA: every stage, then the ablation (CPU-sized defaults; --config configs/llm2rec-paper.json for the paper's)"
  node dist/lib/cli/main.js llm2rec all --device cuda --out "$out/runs/llm2rec" 2>&1 | grep -v '"event":"step"' | tail -n 20
  node dist/lib/cli/main.js llm2rec ablation --device cuda --out "$out/runs/llm2rec-ablation" 2>&1 |
    grep -v '"event":"step"' | tee "$out/llm2rec-ablation.txt" | tail -n 40
fi
if want llm-srec; then
  echo "== LLM-SRec on CUDA: a short run of every stage, then serving p50/p99 at batch 1 and 64 callers"
  node dist/lib/cli/main.js llm-srec all --device cuda --cf-epochs 10 --train-users 400 --eval-users 1000 \
    --out "$out/runs/llm-srec" 2>&1 | grep -v '"event":"step"' | tail -n 25
  node dist/bench/llm-srec-serve.js "$out/runs/llm-srec" --device cuda --calls 40 | tee "$out/llm-srec-serve.jsonl"
fi
if want serve; then
  echo "== llmrec serve: autocannon on loopback at 1/16/64 connections, and the same load in process"
  node dist/bench/serve.bench.js --device cuda --out "$out/serve.jsonl" 2>&1 | tee "$out/serve.txt" | tail -n 10
fi
if want a-llmrec; then
  echo "== A-LLMRec: stage-2 step and generation p50/p99, llmrec then PyTorch (same prompts, same LM)"
  lm=data/models/wordnet-retail-lm
  node dist/bench/a-llmrec-step.js --device cuda --lm "$lm" --ids-out "$out/a-llmrec-ids.json" 2>&1 |
    tee "$out/a-llmrec-step.jsonl" | tail -n 1
  (cd bench/torch && python3 a_llmrec.py --bench "$out/a-llmrec-ids.json" "../../$lm" --device cuda) 2>&1 |
    tee -a "$out/a-llmrec-step.jsonl" | tail -n 1
  echo "== A-LLMRec compare on CUDA (the CPU-sized defaults; --config configs/a-llmrec-paper.json for the paper's)"
  node dist/lib/cli/main.js a-llmrec compare --device cuda --out "$out/runs/a-llmrec" 2>&1 |
    grep -v '"event":"step"' | tail -n 5
  cp "$out/runs/a-llmrec/compare.md" "$out/a-llmrec-compare.md" 2>/dev/null && cat "$out/a-llmrec-compare.md"
fi
