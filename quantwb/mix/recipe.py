"""The recipe of a mixed GGUF in llama.cpp's own `NAME=TYPE` syntax (`llama-quantize --tensor-type-file`).

One line per tensor, `^name$=type`: llama-quantize reads whitespace-separated `pattern=type` words (no
comments), matches each pattern as a regex search and takes the first that matches, so anchored exact names
make the file mean the same to it as to quantwb.
"""

from __future__ import annotations

from pathlib import Path

RECIPE_SUFFIX = ".tensor-types.txt"  # beside the GGUF: `<stem>.tensor-types.txt`


def recipe_path(gguf_file: Path) -> Path:
    return gguf_file.with_name(gguf_file.stem + RECIPE_SUFFIX)


def recipe_text(pairs: list[tuple[str, str]]) -> str:
    """`pattern=type` lines (ggml type names in lower case, as llama.cpp prints them)."""
    return "".join(f"{pattern}={type_name.lower()}\n" for pattern, type_name in pairs)


def read_recipe(path: Path) -> list[tuple[str, str]]:
    """(pattern, upper-case type) pairs of a recipe file, in order."""
    pairs = []
    for word in Path(path).read_text().split():
        pattern, _, type_name = word.rpartition("=")
        pairs.append((pattern, type_name.upper()))
    return pairs


def reproduce_command(recipe: Path, source_name: str, out_name: str, ftype_name: str, imatrix: Path | None = None) -> str:
    """The llama.cpp command line that writes the same file from the same F16 conversion (and imatrix)."""
    with_imatrix = f"--imatrix {imatrix} " if imatrix else ""
    return f"llama-quantize --tensor-type-file {recipe.name} {with_imatrix}{source_name} {out_name} {ftype_name}"
