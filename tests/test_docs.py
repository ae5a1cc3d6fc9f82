"""The documentation's links work: every relative link or image in README.md and docs/**/*.md points at a file or
folder of the repository, and every #anchor into a Markdown file names one of its headings (GitHub's slugs).
README.md stays a front door of at most 200 lines."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
MAX_README_LINES = 200

_FENCED = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
_INLINE = re.compile(r"`[^`\n]*`")
_TARGET = re.compile(r"\]\(\s*<?([^)\s>]+)")  # [text](target) and ![alt](target), nested badges included
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def slugs(markdown: str) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped except - and _, spaces → -; repeats get -1, -2…"""
    found: set[str] = set()
    counts: dict[str, int] = {}
    for heading in _HEADING.findall(_FENCED.sub("", markdown)):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(f"{slug}-{counts[slug]}" if slug in counts else slug)
        counts[slug] = counts.get(slug, 0) + 1
    return found


def links(page: Path) -> list[str]:
    """Relative link targets of a Markdown page (code left out; web and mail links skipped)."""
    text = _INLINE.sub("", _FENCED.sub("", page.read_text(encoding="utf-8")))
    return [t for t in _TARGET.findall(text) if not re.match(r"(https?|mailto):", t)]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_links_resolve(page: Path) -> None:
    broken = []
    for target in links(page):
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in slugs(file.read_text(encoding="utf-8")):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, f"{page.relative_to(REPO)}: broken links: {broken}"


def test_readme_is_short() -> None:
    lines = (REPO / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_README_LINES, f"README.md has {lines} lines; move detail into docs/"


def test_the_fault_table_adds_up() -> None:
    """docs/faults.md: the total of cases is the sum of its rows, and every test file it names exists."""
    text = (REPO / "docs" / "faults.md").read_text(encoding="utf-8")
    total = int(re.search(r"\*\*Counted over the tests below: (\d+) cases tried", text).group(1))
    counted = 0
    for table in re.findall(r"(?:^\|.*\|\n)+", text, re.MULTILINE):
        rows = [[cell.strip() for cell in row.strip().strip("|").split("|")] for row in table.splitlines()]
        column = rows[0].index("cases")
        counted += sum(int(re.match(r"\d+", row[column]).group()) for row in rows[2:])
    assert counted == total, f"docs/faults.md: the rows add up to {counted} cases, the text says {total}"
    named = set(re.findall(r"`(tests/[\w/]+\.py)`", text))
    assert named and all((REPO / name).is_file() for name in named), sorted(n for n in named
                                                                            if not (REPO / n).is_file())
