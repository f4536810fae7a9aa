"""Named or file texts for calibration and perplexity, with the content hash that goes into records."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from quantwb.errors import DataError, OfflineError
from quantwb.fileio import sha256_text
from quantwb.home import hub_offline

# Shipped excerpts (see quantwb/data/text/SOURCES.md): they make the product work offline.
PACKAGED_TEXTS = {"wiki": "wiki.txt", "c4": "c4.txt"}
# Hub datasets: (path, config, split, text field). Used only when the hub is reachable.
HUB_TEXTS = {
    "wikitext2": ("wikitext", "wikitext-2-raw-v1", "test", "text"),
    "c4-hub": ("allenai/c4", "en", "validation", "text"),
    "pile-10k": ("NeelNanda/pile-10k", None, "train", "text"),
}


@dataclass(frozen=True)
class Text:
    """A text and where it came from; `sha256` hashes the exact characters used."""

    name: str
    text: str
    sha256: str


def known_names() -> list[str]:
    return sorted({*PACKAGED_TEXTS, *HUB_TEXTS})


def load_text(name_or_path: str | Path) -> Text:
    """A packaged name (wiki, c4), a hub name (wikitext2, c4-hub, pile-10k), or a .txt/.jsonl file."""
    key = str(name_or_path)
    if key in PACKAGED_TEXTS:
        text = resources.files("quantwb.data").joinpath("text", PACKAGED_TEXTS[key]).read_text(encoding="utf-8")
        return _checked(Text(key, text, sha256_text(text)))
    if key in HUB_TEXTS:
        return _checked(_load_hub(key))
    path = Path(key).expanduser()
    if not path.is_file():
        raise DataError(f"{key}: no such text file, and not a known text name ({', '.join(known_names())})")
    return _checked(Text(path.name, _read_file(path), ""))


def _read_file(path: Path) -> str:
    try:
        raw = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(f"{path}: not UTF-8 text") from err
    if path.suffix == ".jsonl":
        texts = []
        for number, line in enumerate(raw.splitlines(), 1):
            if not line.strip():
                continue
            try:
                texts.append(json.loads(line)["text"])
            except (json.JSONDecodeError, KeyError, TypeError) as err:
                raise DataError(f"{path}:{number}: expected a JSON object with a 'text' field") from err
        return "\n\n".join(texts)
    return raw


def _checked(text: Text) -> Text:
    if not text.text.strip():
        raise DataError(f"{text.name}: the text is empty")
    return text if text.sha256 else Text(text.name, text.text, sha256_text(text.text))


def _load_hub(name: str) -> Text:
    path, config, split, field = HUB_TEXTS[name]
    if hub_offline(datasets=True):
        raise OfflineError(f"{name}: the Hugging Face hub is offline here; pass a text file or a packaged name (wiki, c4)")
    try:
        import datasets

        rows = datasets.load_dataset(path, config, split=split)
    except Exception as err:  # datasets raises many unrelated types for "no network"
        raise OfflineError(f"{name}: could not load {path} from the Hugging Face hub ({type(err).__name__}); pass a text file instead") from err
    text = "\n\n".join(row[field] for row in rows)
    return Text(name, text, sha256_text(text))
