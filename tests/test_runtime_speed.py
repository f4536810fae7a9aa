"""The runtime's own speed (evaluate/runtime_speed.py) on the tiny model, through llama.cpp and transformers."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from quantwb.evaluate.runtime_speed import SpeedJob, SpeedTest, measure_speed

# Smaller than pp512/tg128: the tiny model's runs stay within seconds on a loaded 2-core machine.
TINY_TEST = SpeedTest(pp_tokens=64, tg_tokens=16, reps=2)


@pytest.fixture(scope="module")
def tiny_q8(tiny_gguf) -> Path:
    return tiny_gguf("Q8_0")


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0


@pytest.mark.parametrize("fmt", ["gguf", "hf"])
def test_runtime_speed_is_positive_and_states_its_counts(fmt: str, tiny_model: Path, tiny_q8: Path) -> None:
    import torch

    threads = torch.get_num_threads()
    speed = measure_speed(SpeedJob(fmt, tiny_q8 if fmt == "gguf" else tiny_model, threads=1, test=TINY_TEST))
    assert speed.method == ("llama-bench" if fmt == "gguf" else "generate")
    assert (speed.pp_tokens, speed.tg_tokens, speed.reps) == (64, 16, 2)
    for value in (speed.pp_tokens_per_s, speed.tg_tokens_per_s, speed.pp_tokens_per_s_sd, speed.tg_tokens_per_s_sd):
        assert value is not None and math.isfinite(value) and value >= 0
    assert _positive(speed.pp_tokens_per_s) and _positive(speed.tg_tokens_per_s)
    # a batch of prompt tokens runs faster per token than tokens decoded one at a time
    assert speed.pp_tokens_per_s > speed.tg_tokens_per_s
    assert torch.get_num_threads() == threads  # torch's process-wide thread count is put back


def test_record_path_runs_llama_bench_sizes_in_a_fresh_process(tiny_q8: Path) -> None:
    from quantwb.evaluate.runtime_record import measure_runtime_speed

    speed = measure_runtime_speed("tiny-Q8_0", "gguf", tiny_q8, threads=1, device="cpu")
    assert (speed.pp_tokens, speed.tg_tokens, speed.reps) == (512, 128, 3)  # pp512, tg128, 3 runs
    assert _positive(speed.pp_tokens_per_s) and _positive(speed.tg_tokens_per_s)


def test_other_cores_busy_sees_a_process_that_spins_beside_the_measurement() -> None:
    import subprocess
    import sys
    import time

    from quantwb.evaluate.cpu_contention import other_cores_busy

    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)  # the interpreter has started and spins
        result, busy = other_cores_busy(lambda: time.sleep(1.0) or "done")  # this process idles meanwhile
    finally:
        spinner.kill()
        spinner.wait()
    assert result == "done"
    if busy is None:
        pytest.skip("no /proc/stat: other processes' CPU time is not measurable here")
    # the spinner alone would keep one core busy; even on a machine three processes share, it has half of one
    assert busy >= 0.4, busy


def test_the_runtime_process_loads_no_quantwb_bookkeeping_before_its_peak_is_read(tiny_q8: Path) -> None:
    """The process that measures the RAM to run a variant and then its speed imports what unpickling its job imports
    before the peak is read: quantwb's records (pydantic) would add their ~15 MiB to every variant's figure."""
    import pickle
    import subprocess
    import sys

    from quantwb.evaluate.runtime import RuntimeJob
    from quantwb.evaluate.runtime_speed import SpeedJob, memory_then_speed

    jobs = (RuntimeJob("gguf", tiny_q8, 512, 1, "cpu", "f16"), SpeedJob("gguf", tiny_q8, 1))
    probe = ("import pickle, sys; import quantwb.workers; pickle.loads(sys.stdin.buffer.read()); "
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'pydantic' or m == 'quantwb.records'))")
    result = subprocess.run([sys.executable, "-c", probe], input=pickle.dumps((memory_then_speed, jobs)),
                            capture_output=True, check=True)
    assert result.stdout.decode().strip() == "[]", result.stdout
