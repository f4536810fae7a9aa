"""How much of a text one HF forward pass and one block of vocab-wide math take: bounded by memory, not by habit."""

from __future__ import annotations

from quantwb.evaluate.passes import MATH_BLOCK_BYTES, _row_blocks
from quantwb.evaluate.runners import HF_CPU_LOGITS_BYTES, RunnerOptions, hf_batch_windows


def test_cpu_batches_hold_at_most_the_logits_budget() -> None:
    options = RunnerOptions(ctx=512, threads=2)
    assert hf_batch_windows(options, accelerator=False, vocab=49152) == 2  # SmolLM2: 96 MiB a window
    assert hf_batch_windows(options, accelerator=False, vocab=32000) == 2
    assert hf_batch_windows(options, accelerator=False, vocab=128256) == 1  # 250 MiB a window
    assert hf_batch_windows(RunnerOptions(ctx=4096, threads=2), accelerator=False, vocab=128256) == 1  # never 0
    for vocab in (32000, 49152, 128256):
        assert hf_batch_windows(options, False, vocab) * 512 * vocab * 4 <= max(HF_CPU_LOGITS_BYTES, 512 * vocab * 4)


def test_the_option_and_the_accelerator_default_are_not_capped() -> None:
    assert hf_batch_windows(RunnerOptions(ctx=512, threads=2, batch_windows=4), False, 128256) == 4
    assert hf_batch_windows(RunnerOptions(ctx=512, threads=2), True, 128256) == 8


def test_math_blocks_cover_every_row_once_within_the_block_budget() -> None:
    for vocab, rows in ((49152, 32), (128256, 12), (1000, 64)):
        blocks = _row_blocks(1022, vocab)
        assert blocks[0] == slice(0, rows)
        assert [i for block in blocks for i in range(block.start, block.stop)] == list(range(1022))
        assert all((block.stop - block.start) * vocab * 4 <= MATH_BLOCK_BYTES for block in blocks)
