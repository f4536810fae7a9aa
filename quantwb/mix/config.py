"""What `quantwb mix` is asked for: the target and the settings (each default from defaults.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from quantwb import defaults
from quantwb.errors import InputError
from quantwb.mix.scores import Score


@dataclass(frozen=True)
class MixTarget:
    """Exactly one of: a file size in bytes, bits per weight (tensor bytes × 8 / parameters), or a stock type's size."""

    size_bytes: int | None = None
    bpw: float | None = None
    match: str | None = None

    def __post_init__(self) -> None:
        if sum(value is not None for value in (self.size_bytes, self.bpw, self.match)) != 1:
            raise InputError("give exactly one target: --target-size, --target-bpw or --match")

    @property
    def label(self) -> str:
        if self.match:
            return f"as-{self.match.upper()}"
        return f"{self.bpw:g}bpw" if self.bpw is not None else f"{self.size_bytes}B"


@dataclass(frozen=True)
class MixConfig:
    model: str
    target: MixTarget
    candidates: tuple[str, ...] = defaults.MIX_CANDIDATES
    text: str = defaults.EVAL_TEXT  # the text that chooses (sensitivity scan)
    judge_text: str | None = None  # the text that judges; None: c4, or wiki when c4 chose
    ctx: int = defaults.EVAL_CTX
    chunks: int | None = defaults.MIX_SCAN_CHUNKS  # windows of the choosing text that score (Fisher pass or scan)
    judge_chunks: int | None = None  # None: every window of the judging text
    layers_per_group: int = defaults.MIX_LAYERS_PER_GROUP
    score: Score = defaults.MIX_SCORE  # type: ignore[assignment]
    imatrix: str | Path = defaults.MIX_IMATRIX  # auto, none, or a file (imatrix_choice.parse_mix_imatrix)
    require_better: bool = False  # checked before work (it needs the judge); require_better() enforces it
    out_dir: Path = Path(defaults.OUT_DIR)
    results_dir: Path | None = Path(defaults.RESULTS_DIR)  # None: no judging run
    threads: int | None = None

    @property
    def judging_text(self) -> str:
        return self.judge_text or ("wiki" if self.text == "c4" else "c4")
