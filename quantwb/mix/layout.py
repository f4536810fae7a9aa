"""What a mixed-precision GGUF can be made of: tensor groups, and for each group the types llama.cpp would
really write for each candidate (its dry run, row-size fallbacks applied) with their exact bytes.

A 576-wide row is not a whole number of 256-weight K-quant blocks, so llama.cpp writes Q4_K as Q5_0 there:
candidates that land on the same written types are one option, named by what is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from quantwb.errors import InputError, UnsupportedError
from quantwb.formats.ggml_sizes import ggml_type_id, ggml_type_names, padded, tensor_nbytes
from quantwb.formats.gguf_types import parse_gguf_type
from quantwb.quantize.llama_quantize import PlannedTensor, plan_quantization

_LAYER = re.compile(r"^blk\.(\d+)\.(.+)\.weight$")


@dataclass(frozen=True)
class GroupOption:
    """One way to store a group: the types written per tensor and what they cost."""

    label: str  # the written type(s), e.g. "Q5_0"
    types: tuple[str, ...]  # per tensor of the group, in the group's order
    candidates: tuple[str, ...]  # the asked-for types that llama.cpp writes this way
    tensor_bytes: int
    file_bytes: int  # with the GGUF alignment padding of each tensor


@dataclass(frozen=True)
class TensorGroup:
    """Tensors that always get one type together (one kind of weight in one band of layers)."""

    name: str  # "blk.0.attn_q", "blk.0-9.ffn_down", "token_embd"
    tensors: tuple[str, ...]
    options: tuple[GroupOption, ...]  # ascending bytes
    reference: GroupOption  # how the group is stored while another group is measured


@dataclass(frozen=True)
class MixLayout:
    """The groups of one converted GGUF and the bytes outside them."""

    source: Path
    reference_type: str  # the file type (ftype) every mix is written with; its default type is the reference
    groups: tuple[TensorGroup, ...]
    header_bytes: int  # metadata and tensor table: the same for every mix of this source
    fixed_tensor_bytes: int  # tensors that no group holds (norms), as written
    fixed_file_bytes: int  # the same with their alignment padding
    n_params: int

    def group(self, name: str) -> TensorGroup:
        return next(g for g in self.groups if g.name == name)

    def size(self, choice: dict[str, GroupOption]) -> tuple[int, int]:
        """(file bytes, tensor bytes) of the mix that stores each group as `choice` says."""
        fixed_file = self.header_bytes + self.fixed_file_bytes
        file_bytes = fixed_file + sum(choice[g.name].file_bytes for g in self.groups)
        return file_bytes, self.fixed_tensor_bytes + sum(choice[g.name].tensor_bytes for g in self.groups)

    def stock_file_bytes(self, gguf_type: str) -> int:
        """File bytes of the stock type `gguf_type` (Q4_K_M, ...) of this source, as llama.cpp's dry run plans it."""
        plan = plan_quantization(self.source, parse_gguf_type(gguf_type).ftype).tensors
        return self.header_bytes + sum(padded(tensor_nbytes(t.shape, t.type_name)) for t in plan)


def tensor_pattern(name: str) -> str:
    """An anchored regex that matches exactly one tensor name (llama.cpp's overrides are regex searches)."""
    return "^" + re.escape(name) + "$"


def check_candidates(candidates: list[str]) -> list[str]:
    """Upper-cased ggml tensor types; one line listing the valid ones for an unknown or unquantized name."""
    names = ggml_type_names()
    checked = []
    for candidate in candidates:
        name = candidate.strip().upper()
        if name not in names or name.startswith(("F", "BF", "I8", "I16", "I32", "I64")):
            quantized = [n for n in names if not n.startswith(("F", "BF", "I8", "I16", "I32", "I64"))]
            raise UnsupportedError(f"unknown candidate type {candidate!r}; valid types: {', '.join(quantized)}")
        checked.append(name)
    if not checked:
        raise InputError("give at least one candidate type")
    return list(dict.fromkeys(checked))


def mix_layout(source: Path, candidates: list[str], reference_type: str, layers_per_group: int = 1,
               has_imatrix: bool = False) -> MixLayout:
    """Plan every candidate with llama.cpp's dry run and group the tensors it quantizes."""
    if layers_per_group < 1:
        raise InputError(f"--layers-per-group must be at least 1, got {layers_per_group}")
    ftype = parse_gguf_type(reference_type).ftype
    reference_plan = plan_quantization(source, ftype).tensors
    quantized = [t for t in reference_plan if t.quantized]
    per_candidate = {c: _planned_types(source, ftype, c, has_imatrix) for c in dict.fromkeys([*candidates, reference_type])}
    groups = []
    for name, tensors in _grouped(quantized, layers_per_group):
        options: dict[tuple[str, ...], list[str]] = {}
        for candidate, written in per_candidate.items():
            options.setdefault(tuple(written[t.name] for t in tensors), []).append(candidate)
        built = sorted((_option(tensors, types, tuple(asked)) for types, asked in options.items()),
                       key=lambda o: (o.file_bytes, o.label))
        reference = next(o for o in built if reference_type in o.candidates)
        asked = [o for o in built if set(o.candidates) & set(candidates)]
        groups.append(TensorGroup(name, tuple(t.name for t in tensors), tuple(asked), reference))
    in_groups = {name for g in groups for name in g.tensors}
    fixed = [t for t in reference_plan if t.name not in in_groups]
    return MixLayout(
        source=source, reference_type=reference_type, groups=tuple(groups),
        header_bytes=source.stat().st_size - sum(padded(tensor_nbytes(t.shape, t.source_type)) for t in reference_plan),
        fixed_tensor_bytes=sum(tensor_nbytes(t.shape, t.type_name) for t in fixed),
        fixed_file_bytes=sum(padded(tensor_nbytes(t.shape, t.type_name)) for t in fixed),
        n_params=sum(_elements(t.shape) for t in reference_plan),
    )


def overrides(layout: MixLayout, choice: dict[str, GroupOption]) -> list[tuple[str, str]]:
    """(tensor pattern, written type) for every grouped tensor: the recipe of a mix."""
    return [(tensor_pattern(name), type_name)
            for group in layout.groups for name, type_name in zip(group.tensors, choice[group.name].types, strict=True)]


def override_ids(pairs: list[tuple[str, str]]) -> list[tuple[str, int]]:
    return [(pattern, ggml_type_id(type_name)) for pattern, type_name in pairs]


def _planned_types(source: Path, ftype: int, candidate: str, has_imatrix: bool) -> dict[str, str]:
    """Each quantized tensor's written type when every tensor is asked to be `candidate`."""
    plan = plan_quantization(source, ftype, [(".*", ggml_type_id(candidate))])
    if plan.needs_imatrix and not has_imatrix:
        raise UnsupportedError(f"candidate {candidate} needs an importance matrix: leave out --imatrix none, or leave "
                               f"{candidate} out of --candidates")
    return {t.name: t.type_name for t in plan.tensors}


def _grouped(tensors: list[PlannedTensor], layers_per_group: int) -> list[tuple[str, list[PlannedTensor]]]:
    """Per-layer weights grouped by kind and band of `layers_per_group` layers; other tensors alone."""
    groups: dict[str, list[PlannedTensor]] = {}
    n_layers = 1 + max((int(m.group(1)) for t in tensors if (m := _LAYER.match(t.name))), default=0)
    for tensor in tensors:
        found = _LAYER.match(tensor.name)
        if found is None:
            key = tensor.name.removesuffix(".weight")
        else:
            first = int(found.group(1)) // layers_per_group * layers_per_group
            last = min(first + layers_per_group, n_layers) - 1
            band = str(first) if first == last else f"{first}-{last}"
            key = f"blk.{band}.{found.group(2)}"
        groups.setdefault(key, []).append(tensor)
    return list(groups.items())


def _option(tensors: list[PlannedTensor], types: tuple[str, ...], candidates: tuple[str, ...]) -> GroupOption:
    sizes = [tensor_nbytes(t.shape, type_name) for t, type_name in zip(tensors, types, strict=True)]
    return GroupOption("/".join(dict.fromkeys(types)), types, candidates, sum(sizes), sum(padded(n) for n in sizes))


def _elements(shape: tuple[int, ...]) -> int:
    count = 1
    for dim in shape:
        count *= dim
    return count
