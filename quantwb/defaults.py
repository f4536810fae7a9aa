"""Every default quantwb applies, defined once: the library's configs, the CLI's options and the plan refer here."""

from __future__ import annotations

# Measuring: the text scored for PPL/KLD and its windows.
EVAL_TEXT = "wiki"  # the packaged Wikipedia excerpt
EVAL_CTX = 512  # tokens per window, llama-perplexity's default
GEN_TOKENS = 32  # greedy tokens timed for generation speed
RESULTS_DIR = "results"  # `quantwb eval` records; a sweep writes into RESULTS_DIR/<plan name>
OUT_DIR = "."  # where `quantwb gguf|awq|gptq|rtn` write their variants
JOBS = 1  # variants a sweep makes and measures at once

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

# GGUF: compute an importance matrix only for the types llama.cpp refuses without one.
IMATRIX = "auto"

# Paired comparisons and gate bounds: a percentile bootstrap over whole windows (documents, for tasks).
CONFIDENCE_LEVEL = 0.95  # of every interval quantwb compare reports or gates on
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0  # fixed, so one set of records always gives the same report
