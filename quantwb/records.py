"""One JSON record per (variant, evaluation): schema-versioned, written atomically, validated on read.

Records are the only interface between measuring (`quantwb eval`, a sweep's steps) and reporting (`compare`,
`recommend`, the HTML/Markdown/JSON reports): a report never opens a model file.
"""

from __future__ import annotations

import json
import logging
import os
import platform
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from quantwb.errors import RecordError, validation_line
from quantwb.fileio import write_json_atomic
from quantwb.record_values import value_problem

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
RECORD_KIND = "quantwb.record"


class _Strict(BaseModel):
    # strict: a number written as a string ("1.5") is a damaged or foreign record, not a number
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class Metric(_Strict):
    """One task metric, e.g. arc_easy acc_norm = 0.52 ± 0.02."""

    name: str = Field(description="metric name as lm-eval reports it: acc, acc_norm, word_perplexity, ...")
    task: str = Field(description="task name, e.g. arc_easy")
    value: float
    stderr: float | None = Field(default=None, description="standard error of `value`; None when not defined")
    higher_is_better: bool
    filter: str = Field(default="none", description="lm-eval filter the metric was computed under")


class KVShape(_Strict):
    """The shape of the variant's KV cache: per token it holds layers × KV heads × (key + value width) elements."""

    n_layers: int
    n_kv_heads: int
    key_dim: int
    value_dim: int


class VariantInfo(_Strict):
    """What was measured: one quantized (or reference) artifact."""

    name: str = Field(description="variant slug, e.g. smollm2-135m-Q4_K_M")
    format: Literal["hf", "gguf"]
    method: str = Field(description="fp | awq | gptq | rtn | gguf")
    quant_type: str | None = Field(default=None, description="GGUF file type (Q4_K_M) or scheme (w4g128)")
    path: str
    sha256: str = Field(description="content hash of the artifact")
    source_sha256: str | None = Field(default=None, description="content hash of the model it was made from")
    size_bytes: int = Field(description="bytes of the weight files")
    n_params: int | None = None
    bits_per_weight: float | None = Field(default=None, description="8 * weight bytes / parameters")
    parameters: dict[str, Any] = Field(default_factory=dict, description="quantization settings")
    foreign_source: bool = Field(default=False, description="made from another model than the baseline "
                                 "(its source sha256 differs); measured only with --allow-foreign-variant")
    tensor_types: dict[str, int] | None = Field(
        default=None, description="GGUF: tensors per ggml type as written (Q5_0: 166, ...), what a type name hides")
    kv_geometry: KVShape | None = Field(
        default=None, description="the KV cache's shape, from the config or GGUF header when measured (None: older record)")


class BaselineInfo(_Strict):
    """The model every variant is compared against."""

    name: str
    sha256: str
    origin: str | None = Field(default=None, description="provenance note, e.g. 'dequantized from Q4_1'")


class TextData(_Strict):
    """The token stream scored for perplexity and KL divergence."""

    name: str
    sha256: str = Field(description="sha256 of the text file's bytes")
    n_tokens: int = Field(description="tokens in the whole text")
    ctx: int = Field(description="window length in tokens")
    n_chunks: int = Field(description="windows scored")
    n_scored: int = Field(description="positions scored (second half of every window)")


class Perplexity(_Strict):
    ppl: float
    ppl_unc: float = Field(description="uncertainty of ppl, as llama.cpp reports it")
    nll_mean_nats: float


class Distribution(_Strict):
    """Mean ± uncertainty and percentiles of a per-position quantity."""

    mean: float
    mean_unc: float
    rms: float | None = None
    rms_unc: float | None = Field(default=None, description="uncertainty of rms")
    max: float
    min: float
    percentiles: dict[str, float] = Field(description="'99.9', '99', '95', '90', '50', '10', '5', '1', '0.1'")


class TopKCheck(_Strict):
    """How far the top-K KLD (base stored as its K most probable tokens and token ids drawn from the rest) is from the
    full KLD, measured on the first positions, whose full distribution the base cache keeps for this."""

    k: int
    tail_draws: int = Field(default=0, description="tail token ids per position the tail's share was estimated from "
                            "(0: the tail counted as one outcome, a lower bound; quantwb before these draws)")
    positions: int
    kld_mean_full: float
    kld_mean_topk: float
    relative_error: float = Field(description="(top-K − full) / full mean KLD on those positions")


class KLDivergence(_Strict):
    """llama.cpp's KL-divergence statistics of the variant against the baseline."""

    kld: Distribution = Field(description="KL(base || variant) per position, nats")
    delta_p: Distribution = Field(description="q[tok] - p[tok] per position, probability")
    same_top_p: float = Field(description="share of positions where both argmaxes agree")
    same_top_p_unc: float
    ppl_ratio: float = Field(description="PPL(variant) / PPL(base)")
    ppl_ratio_unc: float
    ln_ppl_ratio: float
    ln_ppl_ratio_unc: float
    base_ppl: float | None = Field(default=None, description="PPL of the baseline on the same positions")
    base_ppl_unc: float | None = None
    topk: TopKCheck | None = Field(default=None, description="set when the base was stored as top K (--kld-topk)")


class Resources(_Strict):
    """Measured cost of loading and running the variant."""

    peak_rss_load_bytes: int | None = None
    peak_rss_eval_bytes: int | None = None
    # quantwb's evaluator's own throughput (its scoring forwards, its timed greedy decode), not the runtime's
    # (Runtime.speed)
    prompt_tokens_per_s: float | None = None
    gen_tokens_per_s: float | None = None
    device: str = "cpu"  # where the variant ran: cpu, cuda, cuda:N
    threads: int | None = None
    dtype: str | None = None  # unquantized weights' compute dtype (HF runner); None for a GGUF or an older record
    batch_size: int | None = None  # windows per forward pass (text) or lm-eval's batch size (tasks)


class RuntimeMemory(_Strict):
    """Peak RSS of a fresh process of the variant's own runtime holding a context of `ctx` tokens."""

    ctx: int = Field(description="context the runtime was given (llama.cpp: n_ctx; transformers: tokens held)")
    rss_bytes: int = Field(description="peak RSS of the process (VmHWM): load, prompt, generation")
    prompt_tokens: int
    gen_tokens: int
    buffers: dict[str, int] = Field(default_factory=dict, description="GGUF: llama.cpp's own account, as it logs it "
                                    "(to 0.01 MiB): model, kv_cache, compute and output buffer bytes")


class RuntimeSpeed(_Strict):
    """Tokens per second of the variant's runtime, in a fresh process of its own: llama-bench's pp and tg tests
    (llama.cpp), `generate` (transformers). Not quantwb's evaluator's throughput (`resources`)."""

    method: Literal["llama-bench", "generate"] = Field(description="llama-bench: llama_decode of a prompt batch and "
                                                       "of single tokens; generate: transformers' greedy generate")
    pp_tokens: int = Field(description="prompt tokens processed in one run (pp512: 512)")
    tg_tokens: int = Field(description="tokens generated one at a time in one run (tg128: 128)")
    reps: int = Field(description="timed runs, after one untimed warm-up")
    pp_tokens_per_s: float = Field(description="prompt tokens/s, mean over the runs")
    pp_tokens_per_s_sd: float | None = Field(default=None, description="standard deviation over the runs")
    tg_tokens_per_s: float = Field(description="generated tokens/s, mean over the runs")
    tg_tokens_per_s_sd: float | None = Field(default=None, description="standard deviation over the runs")
    other_cores_busy: float | None = Field(default=None, description="mean CPU cores other processes kept busy while "
                                           "the test ran (load, warm-up, timed runs); None: not measured (not Linux, "
                                           "or a record from before quantwb measured it)")
    cpus: int | None = Field(default=None, description="logical CPUs of the machine the test ran on")


class Runtime(_Strict):
    """The variant as its ecosystem runs it (llama.cpp for a GGUF, transformers for an HF folder), measured
    in a fresh process per context: what a user needs to run it, unlike the evaluator's own peak."""

    engine: str = Field(description="llama.cpp | transformers")
    engine_version: str = Field(description="e.g. 'llama-cpp-python 0.3.36'")
    device: str
    threads: int
    dtype: str | None = Field(default=None, description="HF: the dtype the model ran in")
    kv_type: str = Field(description="element type of the K/V cache: f16 (llama.cpp's default), q8_0, ...; f32 or "
                         "bf16 for transformers (the model's dtype)")
    runtime_rss_bytes: list[RuntimeMemory] = Field(description="one per context measured, the evaluation's first")
    speed: RuntimeSpeed | None = Field(default=None, description="tokens/s as the runtime runs it, on this device "
                                       "with these threads (None: a record from before quantwb measured it)")


class Sidecar(_Strict):
    """A numpy .npz file beside a record (per-position or per-document data), named relative to the record."""

    file: str = Field(description="file name in the record's folder, e.g. m-Q4_K_M.text.npz")
    sha256: str = Field(description="sha256 of the file's bytes; a file that changed no longer matches")
    size_bytes: int
    arrays: list[str] = Field(description="names of the arrays it holds")


class ConfidenceBucket(_Strict):
    """KLD and top-1 agreement over the positions where the baseline's top-1 probability lies in [lo, hi)."""

    lo: float
    hi: float = Field(description="upper end; the last bucket includes 1.0")
    n_positions: int
    kld_mean: float | None = Field(default=None, description="mean KLD of the bucket's positions, nats; None if empty")
    same_top_p: float | None = Field(default=None, description="share of the bucket's positions where both top-1 agree")


class WorstPosition(_Strict):
    """One of the scored positions with the largest KLD, with its decoded context."""

    position: int = Field(description="index among the scored positions")
    window: int
    kld: float = Field(description="KL(base || variant) at this position, nats")
    base_top_p: float = Field(description="the baseline's top-1 probability here")
    context: str = Field(description="decoded tokens before the predicted one")
    target: str = Field(description="the token that follows in the text")
    base_top: str = Field(description="the baseline's most likely token")
    variant_top: str = Field(description="the variant's most likely token")


class Record(_Strict):
    """One variant under one evaluation."""

    schema_version: Literal[1] = SCHEMA_VERSION
    kind: Literal["quantwb.record"] = RECORD_KIND
    evaluation: Literal["text", "tasks"] = Field(description="text: PPL/KLD/speed; tasks: lm-eval suites")
    created_at: str
    variant: VariantInfo
    baseline: BaselineInfo
    text: TextData | None = None
    perplexity: Perplexity | None = None
    kld: KLDivergence | None = None
    metrics: list[Metric] = Field(default_factory=list)
    task_settings: dict[str, Any] = Field(default_factory=dict, description="limit, num_fewshot, tasks dir")
    resources: Resources = Field(default_factory=Resources,
                                 description="the evaluator's own costs: peak_rss_eval_bytes is quantwb's evaluation "
                                 "process (the eval process peak), not what running the variant takes (see runtime)")
    runtime: Runtime | None = Field(default=None, description="text: memory and speed as the variant's runtime has them "
                                    "(None: a record from before quantwb measured it)")
    library_versions: dict[str, str] = Field(default_factory=dict)
    environment: dict[str, str] = Field(default_factory=dict)
    positions: Sidecar | None = Field(default=None, description="text: per-position NLL, KLD, top-1 agreement, base top-1 p")
    kld_by_confidence: list[ConfidenceBucket] = Field(default_factory=list, description="text: KLD by the base's top-1 probability")
    worst_positions: list[WorstPosition] = Field(default_factory=list, description="text: the positions with the largest KLD")
    samples: Sidecar | None = Field(default=None, description="tasks: lm-eval's per-document scores (log_samples)")


def now_utc() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# The CPU's vector extensions that the engines' kernels choose between at run time (torch's and ggml's): the same
# file measured on CPUs with different ones gives slightly different numbers (docs/results.md, "Known limits").
_SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "f16c", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
               "amx_tile", "amx_bf16", "asimd", "sve")


def environment() -> dict[str, str]:
    """Where the record was measured: Python, the OS, the CPU's model, logical CPUs and vector extensions."""
    facts = {"python": platform.python_version(), "platform": platform.platform(), "cpus": str(os.cpu_count())}
    return facts | _cpu_facts()


def _cpu_facts() -> dict[str, str]:
    """The CPU's model and vector extensions from /proc/cpuinfo (Linux); the processor's name elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {"cpu": platform.processor() or platform.machine()}
    fields = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = set((fields.get("flags") or fields.get("Features") or "").split())
    model = fields.get("model name") or fields.get("Model") or platform.processor() or platform.machine()
    return {"cpu": model, "cpu_simd": " ".join(flag for flag in _SIMD_FLAGS if flag in flags)}


def record_filename(record: Record) -> str:
    return f"{record.variant.name}.{record.evaluation}.json"


def write_record(record: Record, out_dir: Path) -> Path:
    """Write `record` atomically into `out_dir`; returns its path."""
    path = out_dir / record_filename(record)
    write_json_atomic(path, record.model_dump(mode="json"))
    return path


def read_record(path: Path) -> Record:
    """Read and validate one record; a damaged or foreign file raises RecordError with one line."""
    try:
        payload = json.loads(Path(path).read_text())
    except OSError as err:
        raise RecordError(f"{path}: cannot read ({err.strerror})") from err
    except json.JSONDecodeError as err:
        raise RecordError(f"{path}: not valid JSON, truncated or damaged (line {err.lineno})") from err
    if not isinstance(payload, dict) or payload.get("kind") != RECORD_KIND:
        raise RecordError(f"{path}: not a quantwb record")
    version = payload.get("schema_version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise RecordError(f"{path}: schema_version is {version!r}, not an integer (this quantwb reads version {SCHEMA_VERSION})")
    if version != SCHEMA_VERSION:
        raise RecordError(f"{path}: record schema version {version}, this quantwb reads version {SCHEMA_VERSION}")
    try:
        record = Record.model_validate(payload)
    except ValidationError as err:
        raise RecordError(f"{path}: invalid record at {validation_line(err, 'record')}") from err
    problem = value_problem(payload)
    if problem:
        raise RecordError(f"{path}: invalid record: {problem}")
    return record


def find_records(paths: list[Path]) -> list[Path]:
    """Expand files, folders (recursively, *.json) and globs into record paths."""
    found: list[Path] = []
    for given in paths:
        given = Path(given)
        if given.is_dir():
            found.extend(_records_in(given))
        elif given.is_file():
            found.append(given)
        else:
            matches = sorted(Path().glob(str(given))) if any(c in str(given) for c in "*?[") else []
            if not matches:
                raise RecordError(f"{given}: no such record file or folder")
            found.extend(matches)
    return found


def _records_in(folder: Path) -> list[Path]:
    """The records under a folder (a results folder also holds manifests, step markers, report.json: skipped)."""
    chosen = []
    for path in sorted(p for p in folder.rglob("*.json") if not p.name.startswith(".")):
        try:
            payload = json.loads(path.read_text())
            is_record = isinstance(payload, dict) and payload.get("kind") == RECORD_KIND
        except (OSError, UnicodeDecodeError, ValueError):
            is_record = path.name.endswith((".text.json", ".tasks.json"))  # a damaged record still gets its one line
        if is_record:
            chosen.append(path)
        else:
            log.info("%s: not a quantwb record, skipped", path)
    return chosen
