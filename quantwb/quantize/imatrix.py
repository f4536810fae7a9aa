"""Importance matrices as llama.cpp's imatrix tool collects them: per weight matrix, the sum of squared
input activations per input column and the number of tokens seen; llama_model_quantize takes their ratio.

Computed from the HF model with forward hooks on nn.Linear, named by llama.cpp's converter mapping
(gguf.TensorNameMap), written in llama.cpp's GGUF imatrix format; its legacy `.dat` format is readable too.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from quantwb.calibration import CalibrationSpec, build_calibration
from quantwb.errors import InputError, UnsupportedError
from quantwb.formats.kind import GGUF_MAGIC
from quantwb.quantize.gguf_convert import converter_class

log = logging.getLogger(__name__)

# llama.cpp's imatrix tool collects only repeating-block matrices unless told --process-output.
_COLLECTED_PREFIX = "blk."
_SUM_SUFFIX, _COUNT_SUFFIX = ".in_sum2", ".counts"


@dataclass(frozen=True)
class ImatrixData:
    """Sums of squared activations (per GGUF tensor name, one float per input column) and token counts."""

    sums: dict[str, np.ndarray]
    counts: dict[str, int]
    datasets: tuple[str, ...] = ()
    chunk_count: int = 0
    chunk_size: int = 0
    describe: dict = field(default_factory=dict, compare=False)

    def means(self) -> dict[str, np.ndarray]:
        """Mean squared activation per column: what llama_model_quantize weighs each column by."""
        return {name: (values / self.counts[name] if self.counts[name] > 0 else values).astype(np.float32)
                for name, values in self.sums.items()}


def compute_imatrix(model_dir: Path, architecture: str, calibration: CalibrationSpec) -> ImatrixData:
    """Run the HF model over the calibration windows and collect Σx² per input column of every block matrix."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.eval()
    calibration_set = build_calibration(tokenizer, calibration)
    names = _gguf_names(model, architecture)
    sums: dict[str, torch.Tensor] = {}
    counts: dict[str, int] = {}

    def hook(gguf_name: str):
        def collect(module: torch.nn.Module, inputs: tuple) -> None:
            rows = inputs[0].detach().reshape(-1, inputs[0].shape[-1]).to(torch.float64)
            sums[gguf_name] = sums.get(gguf_name, 0) + (rows * rows).sum(dim=0)
            counts[gguf_name] = counts.get(gguf_name, 0) + rows.shape[0]
        return collect

    handles = [module.register_forward_pre_hook(hook(names[name]))
               for name, module in model.named_modules() if name in names]
    try:
        with torch.inference_mode():
            for window in calibration_set.windows:
                model(torch.tensor([window]))
    finally:
        for handle in handles:
            handle.remove()
    log.info("imatrix: %d matrices over %d windows of %d tokens", len(sums), len(calibration_set.windows), calibration.seq_len)
    return ImatrixData(
        sums={name: value.numpy() for name, value in sorted(sums.items())},
        counts=dict(sorted(counts.items())),
        datasets=(calibration_set.text.name,),
        chunk_count=len(calibration_set.windows),
        chunk_size=calibration.seq_len,
        describe=calibration_set.describe(),
    )


def _gguf_names(model, architecture: str) -> dict[str, str]:
    """HF nn.Linear module name -> GGUF tensor name, from the converter's TensorNameMap for this architecture."""
    import gguf
    import torch


    arch = converter_class(architecture).model_arch
    name_map = gguf.get_tensor_name_map(arch, model.config.num_hidden_layers)
    names = {}
    for module_name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear):
            gguf_name = name_map.get_name(f"{module_name}.weight", try_suffixes=(".weight",))
            if gguf_name and gguf_name.startswith(_COLLECTED_PREFIX):
                names[module_name] = gguf_name
    if not names:
        raise UnsupportedError(f"{architecture}: no linear layer maps to a GGUF block tensor, so no imatrix can be made")
    return names


def check_against_gguf(data: ImatrixData, gguf_path: Path) -> None:
    """Raise if the imatrix names no tensor of `gguf_path` or has the wrong column count for one it names."""
    from gguf import GGUFReader

    columns = {tensor.name: int(tensor.shape[0]) for tensor in GGUFReader(gguf_path).tensors}
    matched = [name for name in data.sums if name in columns]
    if not matched:
        raise InputError(f"the imatrix names none of the tensors of {gguf_path.name} (made for another model?)")
    for name in matched:
        if data.sums[name].size % columns[name]:
            raise InputError(f"imatrix entry {name} has {data.sums[name].size} values, the model's tensor {columns[name]} columns")


def write_imatrix(data: ImatrixData, path: Path) -> None:
    """Write `data` in llama.cpp's GGUF imatrix format (`<name>.in_sum2`, `<name>.counts`, imatrix.* keys)."""
    import gguf

    writer = gguf.GGUFWriter(path, arch="imatrix")
    writer.add_type(gguf.GGUFType.IMATRIX)
    writer.add_array(gguf.Keys.IMatrix.DATASETS, list(data.datasets))
    writer.add_uint32(gguf.Keys.IMatrix.CHUNK_COUNT, data.chunk_count)
    writer.add_uint32(gguf.Keys.IMatrix.CHUNK_SIZE, data.chunk_size)
    for name, values in data.sums.items():
        writer.add_tensor(name + _SUM_SUFFIX, values.astype(np.float32).reshape(1, -1))
        writer.add_tensor(name + _COUNT_SUFFIX, np.array([[data.counts[name]]], dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def read_imatrix(path: Path) -> ImatrixData:
    """Read an imatrix made by llama.cpp (GGUF or legacy .dat) or by quantwb; InputError if it is neither."""
    path = Path(path)
    try:
        with path.open("rb") as handle:
            magic = handle.read(4)
    except OSError as err:
        raise InputError(f"{path}: cannot read the imatrix file ({err.strerror})") from err
    try:
        return _read_gguf(path) if magic == GGUF_MAGIC else _read_legacy(path)
    except (ValueError, KeyError, struct.error, UnicodeDecodeError) as err:
        raise InputError(f"{path}: not a llama.cpp imatrix file (GGUF or legacy .dat): {err}") from err


def _read_gguf(path: Path) -> ImatrixData:
    from gguf import GGUFReader

    reader = GGUFReader(path)
    tensors = {tensor.name: np.asarray(tensor.data, dtype=np.float32).reshape(-1) for tensor in reader.tensors}
    sums, counts = {}, {}
    for name, values in tensors.items():
        if name.endswith(_SUM_SUFFIX):
            base = name[: -len(_SUM_SUFFIX)]
            per_matrix = tensors[base + _COUNT_SUFFIX]  # KeyError: a sum without its count
            if per_matrix.size != 1:
                raise ValueError(f"{base}: per-expert counts (MoE imatrix) are not supported")
            sums[base], counts[base] = values.astype(np.float64), int(round(float(per_matrix[0])))
    if not sums:
        raise ValueError("no *.in_sum2 tensors")
    fields = reader.fields
    return ImatrixData(
        sums=sums,
        counts=counts,
        datasets=tuple(fields["imatrix.datasets"].contents()) if "imatrix.datasets" in fields else (),
        chunk_count=int(fields["imatrix.chunk_count"].contents()) if "imatrix.chunk_count" in fields else 0,
        chunk_size=int(fields["imatrix.chunk_size"].contents()) if "imatrix.chunk_size" in fields else 0,
    )


def _read_legacy(path: Path) -> ImatrixData:
    """Legacy layout: int32 n; n x (int32 len, name, int32 ncall, int32 nval, float32[nval] = mean x ncall); trailer."""
    blob = path.read_bytes()
    (n_entries,), offset = struct.unpack_from("<i", blob, 0), 4
    if n_entries < 1:
        raise ValueError("no entries")
    sums, counts = {}, {}
    for _ in range(n_entries):
        (length,) = struct.unpack_from("<i", blob, offset)
        if not 0 < length <= len(blob) - offset - 12:
            raise ValueError(f"a tensor name of {length} bytes does not fit in the file")
        name = blob[offset + 4 : offset + 4 + length].decode()
        offset += 4 + length
        ncall, nval = struct.unpack_from("<ii", blob, offset)
        offset += 8
        if nval < 1 or offset + 4 * nval > len(blob):
            raise ValueError(f"entry {name!r} is truncated")
        sums[name] = np.frombuffer(blob, dtype="<f4", count=nval, offset=offset).astype(np.float64)
        counts[name] = ncall
        offset += 4 * nval
    chunk_count, datasets = 0, ()
    if offset + 4 <= len(blob):
        (chunk_count,) = struct.unpack_from("<i", blob, offset)
        if offset + 8 <= len(blob):
            (length,) = struct.unpack_from("<i", blob, offset + 4)
            datasets = (blob[offset + 8 : offset + 8 + length].decode(),) if length > 0 else ()
    return ImatrixData(sums=sums, counts=counts, datasets=datasets, chunk_count=chunk_count)
