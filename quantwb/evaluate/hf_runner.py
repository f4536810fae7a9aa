"""HF runner: transformers loads fp, AWQ, GPTQ and compressed-tensors checkpoints; windows run batched."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from quantwb.devices import is_accelerator
from quantwb.evaluate.hf_variant_load import load_causal_lm
from quantwb.evaluate.runners import ForwardClock, RunnerOptions, hf_batch_windows

log = logging.getLogger(__name__)


class HFRunner:
    """A causal LM folder on the CPU or an accelerator; unquantized weights run in float32 on the CPU and bfloat16
    on an accelerator, quantized ones as their loader decides."""

    def __init__(self, path: Path, options: RunnerOptions) -> None:
        import torch
        from transformers.utils import logging as hf_logging

        # Process-wide settings, put back by close(): transformers' progress bar (rich shows quantwb's own) and
        # torch's thread count.
        self._restore = (hf_logging.is_progress_bar_enabled(), torch.get_num_threads())
        hf_logging.disable_progress_bar()
        torch.set_num_threads(options.threads)
        self.options = options
        self.device = options.device
        self.model = load_causal_lm(path, options.device)
        self.dtype = str(self.model.dtype).removeprefix("torch.")
        self.vocab_size = int(self.model.get_output_embeddings().weight.shape[0])
        self.batch_windows = hf_batch_windows(options, is_accelerator(self.device), self.vocab_size)
        self.clock = ForwardClock()

    def scored_logits(self, windows: np.ndarray, first: int) -> np.ndarray:
        import torch

        ctx = windows.shape[1]
        with torch.inference_mode():
            self.clock.start()
            # logits_to_keep: the LM head runs only on the scored positions (the last one predicts past the
            # window), and their logits come out contiguous: no vocab-wide copy to drop a position.
            ids = torch.from_numpy(windows).to(self.device)
            keep = torch.arange(first, ctx - 1, device=self.device)
            logits = self.model(input_ids=ids, logits_to_keep=keep, use_cache=False).logits
            # float32 on the host: the KLD math is the same numpy code for every runner and device
            scored = logits.float().reshape(-1, logits.shape[-1]).cpu().numpy()
            self.clock.stop(windows.size)
        return scored

    def generation_tokens_per_s(self, prompt_ids: list[int], n_new: int) -> float:
        import torch

        with torch.inference_mode():
            ids = torch.tensor([prompt_ids], device=self.device)
            out = self.model(input_ids=ids, use_cache=True)
            past, next_id = out.past_key_values, out.logits[:, -1:].argmax(-1)
            _synchronize(self.device)
            started = time.perf_counter()
            for _ in range(n_new):
                out = self.model(input_ids=next_id, past_key_values=past, use_cache=True)
                past, next_id = out.past_key_values, out.logits[:, -1:].argmax(-1)
            _synchronize(self.device)
            return n_new / (time.perf_counter() - started)

    def close(self) -> None:
        import torch
        from transformers.utils import logging as hf_logging

        del self.model
        progress_bar, threads = self._restore
        torch.set_num_threads(threads)
        if progress_bar:
            hf_logging.enable_progress_bar()


def _synchronize(device: str) -> None:
    """Wait for an accelerator's queued kernels, so a timer reads work done rather than work launched."""
    import torch

    if is_accelerator(device):
        torch.cuda.synchronize(device)
