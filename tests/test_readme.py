"""The README's promises: short, the two commands first, and a link to every documentation page. mkdocs
(`make docs`) checks the links between docs/ pages; the README sits outside docs/, so its links are checked here."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def _relative_links(text: str) -> list[str]:
    return [target for target in re.findall(r"\]\(([^)\s]+)\)", text) if "://" not in target]


def test_readme_is_short_and_opens_with_the_two_commands() -> None:
    lines = README.splitlines()
    assert len(lines) <= 150
    first_block = README[README.index("```bash") : README.index("```", README.index("```bash") + 3)]
    assert [line.split()[:2] for line in first_block.splitlines()[1:]] == [["make", "demo"], ["make", "test"]]


def test_readme_links_resolve() -> None:
    links = _relative_links(README)
    assert links
    assert [link for link in links if not (ROOT / link.split("#")[0]).is_file()] == []


def test_readme_links_every_documentation_page() -> None:
    linked = {link.split("#")[0] for link in _relative_links(README)}
    pages = {f"docs/{page.name}" for page in (ROOT / "docs").glob("*.md") if page.name != "index.md"}
    assert pages - linked == set()
