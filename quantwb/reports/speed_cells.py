"""The report's speed: tokens/s as the variant's own runtime ran it in a fresh process (llama.cpp by llama-bench's
method, transformers by `generate`), never quantwb's evaluator's throughput, which stays in the JSON report.

A column's header states what every row's measurement shares (the token counts, the engine, threads, device);
a cell names only what its own row differs in, so no column mixes setups unsaid.
"""

from __future__ import annotations

from collections.abc import Callable

from quantwb import defaults
from quantwb.records import RuntimeSpeed
from quantwb.reports.compare import Report
from quantwb.reports.numbers import MISSING, number
from quantwb.reports.variants import VariantRow, runtime_speed

_SETUP_PARTS = ("engine", "threads", "device")


def _setup(row: VariantRow) -> dict[str, str] | None:
    runtime = row.text.runtime if row.text else None
    if runtime is None or runtime.speed is None:
        return None
    return {"engine": runtime.engine, "threads": f"{runtime.threads} threads", "device": runtime.device}


def speed_columns(report: Report) -> list[tuple[str, Callable[[VariantRow], str]]]:
    """(header, cell) of the runtime's prompt and generation tokens/s: 'pp512 tok/s (llama.cpp, 2 threads, cpu)'."""
    setups = [setup for row in report.rows if (setup := _setup(row))]
    shared = [part for part in _SETUP_PARTS if setups and len({setup[part] for setup in setups}) == 1]
    differing = [part for part in _SETUP_PARTS if part not in shared]
    columns = []
    for kind, digits in (("pp", 4), ("tg", 3)):
        counts = {getattr(speed, f"{kind}_tokens") for row in report.rows if (speed := runtime_speed(row))}
        count = str(next(iter(counts))) if len(counts) == 1 else ""
        header = f"{kind}{count} tok/s" + (f" ({', '.join(setups[0][part] for part in shared)})" if shared else "")
        columns.append((header, _cell(kind, digits, differing, bool(count))))
    return columns


def _cell(kind: str, digits: int, differing: list[str], count_in_header: bool) -> Callable[[VariantRow], str]:
    def cell(row: VariantRow) -> str:
        speed, setup = runtime_speed(row), _setup(row)
        if speed is None or setup is None:
            return MISSING
        notes = [setup[part] for part in differing]
        if _shared(speed):
            notes.append(f"others kept {speed.other_cores_busy:.2f} cores busy")
        if not count_in_header:
            notes.insert(0, f"{kind}{getattr(speed, f'{kind}_tokens')}")
        text = number(getattr(speed, f"{kind}_tokens_per_s"), digits)
        return f"{text} ({', '.join(notes)})" if notes else text

    return cell


def _shared(speed: RuntimeSpeed) -> bool:
    return (speed.other_cores_busy or 0.0) >= defaults.SPEED_BUSY_CORES_WARNING


def speed_lines(report: Report) -> list[str]:
    """How the speed columns were measured, one line per runtime setup; which rows have none, and why."""
    lines = []
    setups = {(rt.engine, rt.engine_version, rt.device, rt.threads, rt.dtype, speed.method, speed.pp_tokens,
               speed.tg_tokens, speed.reps)
              for row in report.rows if row.text and (rt := row.text.runtime) and (speed := rt.speed)}
    for engine, version, device, threads, dtype, method, pp, tg, reps in sorted(setups, key=str):
        if method == "llama-bench":
            how = (f"llama-bench's method: pp{pp} decodes one batch of {pp} random token ids, tg{tg} decodes {tg} "
                   "tokens one at a time, each from an empty KV cache")
        else:
            how = (f"greedy generate after {pp} random token ids: pp{pp} is its prefill, tg{tg} the {tg} tokens "
                   "decoded after it (the prefill's time taken off)")
        dtype_text = f", {dtype}" if dtype else ""
        lines.append(f"Speed: tokens/s of a fresh {engine} process ({version}, {device}, {threads} threads{dtype_text}), "
                     f"{how}; mean of {reps} runs after a warm-up")
    devices = sorted({setup[2] for setup in setups})
    if len(devices) > 1:
        lines.append(f"Warning: speed was measured on different devices ({', '.join(devices)}); each speed cell names "
                     "its device, and figures from different devices do not compare")
    lines += _load_lines(report)
    old = [row.variant.name for row in report.rows if row.text and runtime_speed(row) is None]
    if old:
        lines.append(f"Speed of {', '.join(old)} not measured by their runtime: their records predate it (evaluate them "
                     "again for it); quantwb's evaluator's own throughput is in the JSON report (gen_tokens_per_s)")
    return lines


def _load_lines(report: Report) -> list[str]:
    """What else ran on the machine while speed was timed: the most any row shared, and a warning naming the rows
    whose figures were measured on shared cores."""
    speeds = [(row.variant.name, speed) for row in report.rows if (speed := runtime_speed(row))]
    measured = [(name, speed) for name, speed in speeds if speed.other_cores_busy is not None]
    if not measured:
        return []
    cpus = sorted({str(speed.cpus) for _, speed in measured if speed.cpus})
    most = max(speed.other_cores_busy or 0.0 for _, speed in measured)
    lines = [f"Load: while each speed test ran, other processes kept at most {most:.2f} cores busy"
             + (f" (of {'/'.join(cpus)})" if cpus else "")]
    shared = [f"{name} ({speed.other_cores_busy:.2f})" for name, speed in measured if _shared(speed)]
    if shared:
        lines.append(f"Warning: {', '.join(shared)} were timed while other processes kept at least "
                     f"{defaults.SPEED_BUSY_CORES_WARNING} cores busy: their speed is understated and does not compare "
                     "with the other rows (measure them again on an idle machine)")
    unmeasured = [name for name, speed in speeds if speed.other_cores_busy is None]
    if unmeasured:
        lines.append(f"Load while {', '.join(unmeasured)} were timed: not measured")
    return lines
