"""AWQ (Lin et al. 2023, arXiv:2306.00978): llm-compressor's AWQModifier; classic `awq` format via GPTQModel."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Literal
from unittest import mock

from pydantic import BaseModel, ConfigDict

from quantwb.errors import UnsupportedError
from quantwb.quantize import rtn
from quantwb.quantize.base import QuantSpec
from quantwb.quiet import quiet_imports


class AWQOptions(BaseModel):
    """AWQ settings beyond bits/group size/zero point (from `QuantSpec.options`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["compressed-tensors", "awq"] = "compressed-tensors"
    duo_scaling: bool = True  # search scales from activations and weights, as the AWQ reference does


def recipe(options: AWQOptions, scheme, model) -> list:
    """llm-compressor modifiers: AWQ's activation-aware scaling, then round-to-nearest to `scheme`."""
    with quiet_imports():
        from llmcompressor.modifiers.transform.awq import AWQModifier

    return [AWQModifier(mappings=awq_mappings(model), duo_scaling=options.duo_scaling), *rtn.recipe(options, scheme, model)]


def gptqmodel_config(options: AWQOptions, spec: QuantSpec, group_size: int):
    """GPTQModel's config for the classic `awq` format (GEMM kernels)."""
    from gptqmodel.quantization.config import AWQConfig

    return AWQConfig(bits=spec.bits, group_size=group_size, sym=bool(spec.symmetric), offload_to_disk=False)


def awq_mappings(model) -> list:
    """llm-compressor's smoothing mappings for this model; refuse when they match none of its layers.

    llm-compressor falls back to Llama-style mappings for unknown architectures; on a model without
    those layer names AWQ would silently smooth nothing, so check that every mapping finds its layers."""
    with quiet_imports():
        from llmcompressor.modifiers.transform.awq import AWQ_MAPPING_REGISTRY, get_layer_mappings_from_model

    mappings = get_layer_mappings_from_model(model)
    names = [name for name, _ in model.named_modules()]
    for mapping in mappings:
        for pattern in (mapping.smooth_layer, *mapping.balance_layers):
            if not any(_matches(pattern, name) for name in names):
                known = ", ".join(sorted(AWQ_MAPPING_REGISTRY)[:6])
                raise UnsupportedError(
                    f"awq: llm-compressor has no AWQ layer mappings for {type(model).__name__} "
                    f"(no layer matches {pattern!r}; supported include {known}, …); use gptq or rtn instead"
                )
    return mappings


def _matches(pattern: str, name: str) -> bool:
    """llm-compressor's target syntax: `re:<regex>` or an exact module name."""
    if pattern.startswith("re:"):
        return re.match(pattern[3:], name) is not None
    return pattern == name


@contextlib.contextmanager
def cpu_pin_memory_guard() -> Iterator[None]:
    """Without an accelerator, make llm-compressor AWQ's IntermediatesCache.pin_memory a no-op for this run only.

    Pinning page-locks host memory for faster GPU copies; with no GPU, torch raises instead."""
    import torch

    if torch.cuda.is_available():
        yield
        return
    from llmcompressor.pipelines.cache import IntermediatesCache

    with mock.patch.object(IntermediatesCache, "pin_memory", lambda self, *args, **kwargs: None):
        yield
