"""The .npz files beside records (per-position text data, per-document task scores), read and checked.

A record names its file and the file's sha256; a missing or changed file is reported as a reason, not an
error, so an old record or a copied folder without its .npz still renders (its paired columns say why).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from quantwb.fileio import sha256_file
from quantwb.records import Record, Sidecar
from quantwb.reports.variants import VariantRow


@dataclass(frozen=True)
class Arrays:
    """The arrays of one sidecar (read-only), or why there are none."""

    data: dict[str, np.ndarray]
    reason: str | None = None

    def __bool__(self) -> bool:
        return self.reason is None


def _record_path(row: VariantRow, record: Record) -> Path | None:
    """The file `record` was read from (the row keeps the paths of its text and tasks records in that order)."""
    records = [r for r in (row.text, row.tasks) if r is not None]
    return next((path for path, r in zip(row.sources, records, strict=False) if r is record), None)


def text_positions(row: VariantRow) -> Arrays:
    """The per-position arrays of the row's text record: nll, kld, same_top, base_top_p."""
    if row.text is None:
        return Arrays({}, "no text record")
    return _sidecar(row, row.text, row.text.positions, "per-position data")


def record_positions(record_path: Path, record: Record) -> Arrays:
    """The per-position arrays of the text record read from `record_path`, checked against the sha256 it holds."""
    if record.positions is None:
        return Arrays({}, "its record has no per-position data")
    return _load(str(record_path.parent / record.positions.file), record.positions.sha256)


def task_samples(row: VariantRow) -> Arrays:
    """The per-document task scores of the row's tasks record: '<task>.doc_id' and '<task>.<metric>'."""
    if row.tasks is None:
        return Arrays({}, "no tasks record")
    return _sidecar(row, row.tasks, row.tasks.samples, "per-document scores")


def _sidecar(row: VariantRow, record: Record, sidecar: Sidecar | None, what: str) -> Arrays:
    if sidecar is None:
        return Arrays({}, f"its record has no {what} (measured by a quantwb that did not keep them)")
    path = _record_path(row, record)
    if path is None:
        return Arrays({}, "record file unknown")
    return _load(str(path.parent / sidecar.file), sidecar.sha256)


@lru_cache(maxsize=256)  # a report reads each file for several columns and gates; files are checked by hash
def _load(path: str, sha256: str) -> Arrays:
    file = Path(path)
    if not file.is_file():
        return Arrays({}, f"{file.name} is missing beside its record")
    if sha256_file(file) != sha256:
        return Arrays({}, f"{file.name} does not match the sha256 its record holds (changed after the measurement)")
    try:
        with np.load(file, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as err:
        return Arrays({}, f"{file.name} cannot be read ({err})")
    for array in arrays.values():
        array.setflags(write=False)
    return Arrays(arrays)
