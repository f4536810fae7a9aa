"""A method added the way every method is: this file (its Quantizer and options model) and one row in the method
table, which test_methods.py adds at run time. It writes llama.cpp's plain Q8_0 or Q4_0 with no importance matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

from quantwb.errors import UnsupportedError
from quantwb.formats.variant import Variant
from quantwb.models import ModelSource
from quantwb.quantize.base import QuantSpec
from quantwb.quantize.gguf import ImatrixChoice, quantize_gguf
from quantwb.quantize.methods import parse_options


class PlainOptions(BaseModel):
    """Which legacy llama.cpp type to write."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal["Q8_0", "Q4_0"] = "Q8_0"


class PlainQuantizer:
    def check(self, source: ModelSource, spec: QuantSpec) -> None:
        parse_options(spec)
        if source.format != "hf":
            raise UnsupportedError(f"{spec.method} needs a Hugging Face model folder")

    def run(self, source: ModelSource, spec: QuantSpec, out_dir: Path) -> Variant:
        options: PlainOptions = parse_options(spec)
        return quantize_gguf(source, [options.type], out_dir, ImatrixChoice("none"))[0]
