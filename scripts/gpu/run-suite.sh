#!/usr/bin/env bash
# Run on the GPU machine from the project root (see scripts/gpu/stage.sh). One call does the
# whole check, so every ratio comes from one run on one GPU:
#   1. the CUDA test suite (every kernel against the float64 reference and its CPU twin)
#   2. the same kernel suites under compute-sanitizer (memcheck)
#   3. the llmrec benchmarks and their PyTorch counterparts, joined into one table
#   4. (models) SASRec/GRU4Rec against their references, and the Recommender's latency
#   5. (llm2rec) the LLM2Rec pipeline and its ablation on CUDA (needs the shipped LM in data/models/)
#   5b. (llm-srec) a short LLM-SRec run of every stage on CUDA, and its serving latency
#   6. (serve) llmrec serve under load on loopback, beside the in-process Recommender
#   7. (a-llmrec) A-LLMRec's stage-2 step and generation latency beside PyTorch on the same
#      prompts and LM, then the comparison table on CUDA (needs the shipped LM in data/models/)
# Results go to $OUT (the device tool's output folder) or ./gpu-results.
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
phase=${1:-all}

nvidia-smi > "$out/nvidia-smi.txt" 2>&1
node dist/lib/cli/main.js info | tee "$out/info.txt"

if [ "$phase" = all ] || [ "$phase" = test ]; then
  echo "== CUDA test suite"
  LLMREC_TEST_DEVICES=cuda $mocha "$spec" --invert --grep "$skip_host_only" 2>&1 | tee "$out/test-cuda.log" | tail -n 40
fi
if [ "$phase" = all ] || [ "$phase" = sanitize ]; then
  echo "== compute-sanitizer memcheck"
  LLMREC_TEST_DEVICES=cuda compute-sanitizer --tool memcheck --print-limit 20 \
    $mocha "$spec" --invert --grep "$skip_host_only" 2>&1 | tee "$out/sanitizer.log" | tail -n 30
fi
if [ "$phase" = all ] || [ "$phase" = bench ]; then
  echo "== benchmarks"
  node dist/bench/run.js --device cuda --out "$out/bench-llmrec.jsonl" "${@:2}" 2>&1 | tee "$out/bench-llmrec.txt"
  for script in bench/torch/*.py; do
    # Kernel benchmarks share common.py's case runner; model references and data parsing do not.
    case "$(basename "$script")" in common.py | data.py) continue ;; esac
    grep -q "from common import" "$script" || continue
    (cd bench/torch && PYTHONUNBUFFERED=1 python3 "$(basename "$script")" --device cuda --out "$out/bench-torch.jsonl" "${@:2}") 2>&1 | tee -a "$out/bench-torch.txt"
  done
  node dist/bench/compare.js "$out/bench-llmrec.jsonl" "$out/bench-torch.jsonl" | tee "$out/compare.md"
fi
if [ "$phase" = all ] || [ "$phase" = models ]; then
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
if [ "$phase" = all ] || [ "$phase" = llm2rec ]; then
  echo "== LLM2Rec on CUDA: every stage, then the ablation (CPU-sized defaults; --config configs/llm2rec-paper.json for the paper's)"
  node dist/lib/cli/main.js llm2rec all --device cuda --out "$out/runs/llm2rec" 2>&1 | grep -v '"event":"step"' | tail -n 20
  node dist/lib/cli/main.js llm2rec ablation --device cuda --out "$out/runs/llm2rec-ablation" 2>&1 |
    grep -v '"event":"step"' | tee "$out/llm2rec-ablation.txt" | tail -n 40
fi
if [ "$phase" = all ] || [ "$phase" = llm-srec ]; then
  echo "== LLM-SRec on CUDA: a short run of every stage, then serving p50/p99 at batch 1 and 64 callers"
  node dist/lib/cli/main.js llm-srec all --device cuda --cf-epochs 10 --train-users 400 --eval-users 1000 \
    --out "$out/runs/llm-srec" 2>&1 | grep -v '"event":"step"' | tail -n 25
  node dist/bench/llm-srec-serve.js "$out/runs/llm-srec" --device cuda --calls 40 | tee "$out/llm-srec-serve.jsonl"
fi
if [ "$phase" = all ] || [ "$phase" = serve ]; then
  echo "== llmrec serve: autocannon on loopback at 1/16/64 connections, and the same load in process"
  node dist/bench/serve.bench.js --device cuda --out "$out/serve.jsonl" 2>&1 | tee "$out/serve.txt" | tail -n 10
fi
if [ "$phase" = all ] || [ "$phase" = a-llmrec ]; then
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
