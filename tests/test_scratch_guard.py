"""The guard in front of every move of a library's output: nothing outside our own scratch folder is touched.

auto-round's quantize_and_save returns a str for one format and a list for several; indexing the str once gave
"/", and the entries of "/" were moved into a folder that was then deleted. These tests build everything under
tmp_path and never move, rename or delete anything outside it."""

from __future__ import annotations

from pathlib import Path

import pytest

from quantwb.errors import QuantizationError
from quantwb.fileio import contained, move_entries
from quantwb.quantize import autoround


@pytest.fixture
def layout(tmp_path: Path) -> dict[str, Path]:
    """scratch/ with the library's subfolder, a sibling folder beside scratch, and the destination."""
    scratch, sibling, dest = tmp_path / "scratch", tmp_path / "scratch-sibling", tmp_path / "dest"
    (scratch / "model-w4g128").mkdir(parents=True)
    (scratch / "model-w4g128" / "config.json").write_text("{}")
    sibling.mkdir()
    (sibling / "keep.txt").write_text("keep")
    dest.mkdir()
    return {"scratch": scratch, "sibling": sibling, "dest": dest}


def test_root_and_sibling_are_refused(layout: dict[str, Path]) -> None:
    scratch = layout["scratch"]
    for outside in (Path("/"), layout["sibling"], scratch / ".." / "scratch-sibling", scratch.parent):
        with pytest.raises(ValueError, match="lies outside"):
            contained(outside, scratch)
    assert contained(scratch / "model-w4g128", scratch) == (scratch / "model-w4g128").resolve()
    assert contained(scratch, scratch) == scratch.resolve()


def test_link_out_of_scratch_is_refused(layout: dict[str, Path]) -> None:
    link = layout["scratch"] / "escape"
    link.symlink_to(layout["sibling"], target_is_directory=True)
    with pytest.raises(ValueError, match="lies outside"):
        contained(link, layout["scratch"])


def test_moving_from_root_or_sibling_moves_nothing(layout: dict[str, Path]) -> None:
    for outside in (Path("/"), layout["sibling"]):
        with pytest.raises(ValueError, match="lies outside"):
            move_entries(outside, layout["scratch"], layout["dest"])
    assert list(layout["dest"].iterdir()) == []
    assert (layout["sibling"] / "keep.txt").read_text() == "keep"


def test_a_link_among_the_entries_stops_every_move(layout: dict[str, Path]) -> None:
    source = layout["scratch"] / "model-w4g128"
    (source / "escape").symlink_to(layout["sibling"], target_is_directory=True)
    with pytest.raises(ValueError, match="lies outside"):
        move_entries(source, layout["scratch"], layout["dest"])
    assert list(layout["dest"].iterdir()) == [] and (source / "config.json").is_file()


def test_entries_inside_scratch_move(layout: dict[str, Path]) -> None:
    move_entries(layout["scratch"] / "model-w4g128", layout["scratch"], layout["dest"])
    assert [p.name for p in layout["dest"].iterdir()] == ["config.json"]


def test_written_folder_is_found_inside_scratch_only(layout: dict[str, Path]) -> None:
    scratch = layout["scratch"]
    assert autoround.written_folder(scratch, "config.json") == (scratch / "model-w4g128").resolve()
    with pytest.raises(QuantizationError, match="wrote 0 folders with \\*.gguf"):
        autoround.written_folder(scratch, "*.gguf")
    with pytest.raises(QuantizationError, match="not touching it"):
        autoround.inside(Path("/"), scratch)
    with pytest.raises(QuantizationError, match="not touching it"):
        autoround.inside(layout["sibling"] / "keep.txt", scratch)
