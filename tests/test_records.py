"""Records: round trip, atomic write, and one clear error for damaged or foreign files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from quantwb import records
from quantwb.errors import RecordError


def _record() -> records.Record:
    return records.Record(
        evaluation="tasks",
        created_at=records.now_utc(),
        variant=records.VariantInfo(name="m-Q4_K_M", format="gguf", method="gguf", quant_type="Q4_K_M",
                                    path="/x/m-Q4_K_M.gguf", sha256="a" * 64, size_bytes=1000, n_params=2000,
                                    bits_per_weight=4.0),
        baseline=records.BaselineInfo(name="m", sha256="b" * 64),
        metrics=[records.Metric(name="acc", task="arc_easy", value=0.5, stderr=0.02, higher_is_better=True)],
    )


def test_round_trip(tmp_path: Path) -> None:
    path = records.write_record(_record(), tmp_path)
    assert path.name == "m-Q4_K_M.tasks.json"
    assert records.read_record(path) == _record().model_copy(update={"created_at": records.read_record(path).created_at})
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")], "temporary file left behind"


def test_truncated_record(tmp_path: Path) -> None:
    path = records.write_record(_record(), tmp_path)
    path.write_text(path.read_text()[:50])
    with pytest.raises(RecordError, match="truncated"):
        records.read_record(path)


def test_other_schema_version(tmp_path: Path) -> None:
    path = records.write_record(_record(), tmp_path)
    payload = json.loads(path.read_text())
    payload["schema_version"] = 99
    path.write_text(json.dumps(payload))
    with pytest.raises(RecordError, match="schema version 99"):
        records.read_record(path)


def test_foreign_json(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"results": {}}')
    with pytest.raises(RecordError, match="not a quantwb record"):
        records.read_record(path)


def test_invalid_field_names_its_location(tmp_path: Path) -> None:
    path = records.write_record(_record(), tmp_path)
    payload = json.loads(path.read_text())
    payload["variant"]["size_bytes"] = "big"
    path.write_text(json.dumps(payload))
    with pytest.raises(RecordError, match="variant.size_bytes"):
        records.read_record(path)
