#!/usr/bin/env bash
# The GPU suite: run as is on any machine with an NVIDIA GPU, from the repository root, in under 8 minutes.
#
#   bash benchmarks/gpu_suite.sh [RESULTS_FILE]      (default: gpu_suite_results.md)
#
# 1. the CUDA tests (every test file that checks torch.cuda.is_available(), plus the export's CUDA tests),
#    with the skip reasons listed, so a skipped CUDA test is visible;
# 2. SPPE throughput, fastpose_se50 256x192: torch fp32 / fp16 / bf16 channels_last, with and without
#    torch.compile; onnxruntime-CUDA and TensorRT fp16 at batch 1/8/64/256 (benchmarks/bench_backends.py);
# 3. end-to-end demo fps on a 720p video (vtest_pets2009 scaled to 1280x720) with 5 people per frame
#    (YOLO on every frame when RMPE_YOLO_WEIGHTS names local weights, else a detection file).
# Everything goes into one results file (markdown) whose figures belong in BENCHMARKS.md with the GPU's name.
# Without CUDA it stops at once with one line and exit status 2.
set -u
cd "$(dirname "$0")/.."
RESULTS="${1:-gpu_suite_results.md}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export YOLO_OFFLINE="${YOLO_OFFLINE:-1}"

if ! python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    echo "gpu_suite.sh: error: no CUDA device is visible (torch.cuda.is_available() is False); run it on a machine with an NVIDIA GPU" >&2
    exit 2
fi

start=$(date +%s)
{
    echo "# GPU suite, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | sed 's/^/GPU: /'
    python -c "import torch; print(f'torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}')"
    echo
    echo "## CUDA tests"
    echo
    echo '```'
} > "$RESULTS"

CUDA_TESTS=$(grep -rl "cuda.is_available\|needs CUDA" tests --include='test_*.py' | sort)
timeout 150 python -m pytest -q -rs -p no:cacheprovider $CUDA_TESTS 2>&1 | tail -40 >> "$RESULTS"
tests_status=${PIPESTATUS[0]}
{
    echo '```'
    echo "pytest exit status: $tests_status"
    echo
    echo "## Throughput and end-to-end demo"
    echo
} >> "$RESULTS"

DETECTOR_ARGS=()
if [ -n "${RMPE_YOLO_WEIGHTS:-}" ]; then DETECTOR_ARGS=(--detector "$RMPE_YOLO_WEIGHTS"); fi
timeout 320 python benchmarks/bench_backends.py --part gpu --min-time 1 --frames 120 --people 5 \
    "${DETECTOR_ARGS[@]}" --out "$RESULTS"
bench_status=$?
echo "bench_backends exit status: $bench_status; suite wall time $(( $(date +%s) - start )) s" >> "$RESULTS"
echo "gpu_suite.sh: results in $RESULTS (tests $tests_status, benchmarks $bench_status)"
[ "$tests_status" -eq 0 ] && [ "$bench_status" -eq 0 ]
