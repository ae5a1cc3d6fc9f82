"""What the dataset registry knows about a dataset: :class:`DatasetInfo` and its :class:`SourceOption` s."""

from __future__ import annotations

from dataclasses import dataclass

from helpers.download.sources import Source

__all__ = ["DatasetInfo", "SourceOption"]


@dataclass(frozen=True)
class SourceOption:
    """One place to get (a part of) a dataset.

    Attributes:
        source: what :func:`helpers.download.fetcher.fetch` gets.
        part: ``""`` for the whole dataset, else the name of one of several parts that are all needed; options
            with the same part are alternatives, tried in order.
        found_in: where the link was read (provenance).
        verified: False when the link, slug or kind could not be confirmed from the authors' pages.
        note: anything the user should know about this option.
    """

    source: Source
    part: str = ""
    found_in: str = ""
    verified: bool = True
    note: str = ""

    @property
    def kind(self) -> str:
        """``"http"``, ``"google-drive"``, ``"kaggle"``, ``"hugging-face"`` or ``"manual"``."""
        return self.source.kind


@dataclass(frozen=True)
class DatasetInfo:
    """A public dataset the toolkit knows.

    Attributes:
        name: registry name (lower case, ``-``).
        title: one-line name.
        description: what it is.
        sources: where to get it (see :class:`SourceOption`), default first.
        licence: short licence name (for tables).
        licence_text: the terms shown before download.
        licence_url: where the terms are published.
        layout: paths expected in the dataset folder after download, relative to its root; a trailing ``/`` marks a
            folder. Empty when the published layout is not documented.
        size: download size estimate, human readable (says "unknown" where nothing is published).
        converter: ``"module:function"`` turning a downloaded folder into the toolkit's format, or None.
        reader_notes: how to read it with the toolkit, and what is known / unknown about the format.
        homepage: the authors' page.
    """

    name: str
    title: str
    description: str
    sources: tuple[SourceOption, ...]
    licence: str
    licence_text: str
    licence_url: str
    layout: tuple[str, ...] = ()
    size: str = "unknown"
    converter: str | None = None
    reader_notes: str = ""
    homepage: str = ""

    def parts(self) -> dict[str, list[SourceOption]]:
        """Options grouped by part, in order of first appearance."""
        grouped: dict[str, list[SourceOption]] = {}
        for option in self.sources:
            grouped.setdefault(option.part, []).append(option)
        return grouped
