"""Every default quantwb applies, defined once: the library's configs, the CLI's options and the plan refer here."""

from __future__ import annotations

MODEL = "smollm2-135m"  # the built-in model a quantize command (gguf, awq, gptq, rtn, autoround, w8a8, fp8) uses without MODEL

# Measuring: the text scored for PPL/KLD and its windows.
EVAL_TEXT = "wiki"  # the packaged Wikipedia excerpt
EVAL_CTX = 512  # tokens per window, llama-perplexity's default
GEN_TOKENS = 32  # greedy tokens quantwb's evaluator times for its own generation throughput
# The runtime's own speed (evaluate/runtime_speed.py), llama-bench's tests: pp512 and tg128. llama-bench times
# 5 runs after a warm-up; 3 keep a 135M model's measurement to seconds on 2 cores.
RUNTIME_PP_TOKENS = 512
RUNTIME_TG_TOKENS = 128
RUNTIME_SPEED_REPS = 3
# Mean cores other processes kept busy during a speed test from which reports mark its figures as shared. A chosen
# line, not a measured one: llama.cpp's threads wait for one another at every step, so when the test uses every core,
# work that holds one of them part-time holds all of them up (docs/runtime-memory.md).
SPEED_BUSY_CORES_WARNING = 0.25
RESULTS_DIR = "results"  # `quantwb eval` records; a sweep writes into RESULTS_DIR/<plan name>
OUT_DIR = "."  # where the quantize commands and `mix` write their variants
JOBS = 1  # variants a sweep makes and measures at once
DEVICE = "auto"  # an accelerator when torch sees one (bf16 there), else the CPU (fp32)
RAY_THREADS = 1  # threads (and Ray CPUs) per chain under `--executor ray` when the plan sets no `threads`
RAY_MAX_RETRIES = 1  # times Ray reruns a chain whose worker died

# Calibration (AWQ, GPTQ, the importance matrix). Not EVAL_TEXT: calibrating on the tokens that are then
# scored would flatter every calibrated method. 128 windows of 256 tokens fit the packaged c4 excerpt
# (~35k tokens), so the defaults work offline.
CALIBRATION_TEXT = "c4"
CALIBRATION_SAMPLES = 128
CALIBRATION_SEQ_LEN = 256
CALIBRATION_SEED = 0

# Weight-only integer schemes (AWQ, GPTQ, RTN).
WEIGHT_BITS = 4
GROUP_SIZE = 128  # weights per scale group; the most common size in released checkpoints

# AutoRound: sign-gradient steps per block (the library's and paper's default) and the checkpoint it writes.
AUTOROUND_ITERS = 200
AUTOROUND_FORMAT = "auto_round"

# GGUF: compute an importance matrix only for the types llama.cpp refuses without one.
IMATRIX = "auto"

# Mixed precision (`quantwb mix`): the types each tensor group may take (llama.cpp writes a fallback where a row
# is not a whole number of 256-weight blocks), the reference type each group's rise is counted from, the windows
# of the choosing text that score (one Fisher backward pass each, or each measured file of `--score full`), and
# the layers that share one type per kind of weight. Fisher scores cost one pass per window and one quantization
# per type whatever the grouping, so every layer is chosen on its own: SmolLM2-135M scores in about 3 minutes on
# 2 cores (bench/bench_mix.py, docs/results.md), where measuring every per-layer option would be about 70.
MIX_CANDIDATES = ("Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "Q8_0")
MIX_REFERENCE_TYPE = "Q8_0"
MIX_SCAN_CHUNKS = 4
MIX_LAYERS_PER_GROUP = 1
MIX_SCORE = "fisher"  # mix/scores.py: fisher, full (every option measured) or proxy
MIX_IMATRIX = "auto"  # computed on the choosing text; none; or a file
MIX_IMATRIX_SAMPLES = 32  # windows of CALIBRATION_SEQ_LEN tokens of the choosing text (the default plan's count)
MIX_FISHER_SEED = 0  # draws the labels of the Fisher pass

# Paired comparisons and gate bounds: a percentile bootstrap over whole windows (documents, for tasks).
CONFIDENCE_LEVEL = 0.95  # of every interval quantwb compare reports or gates on
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed, so one set of records always gives the same report
