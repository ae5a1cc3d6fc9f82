"""Deterministic train / val / test splits by sample id.

Each id is placed by a hash of ``salt + id`` alone: ``blake2b(salt ␀ id)`` read as a 64-bit integer and divided
by 2⁶⁴ gives a number u in [0, 1); ``u < train`` → train, ``u < train + val`` → val, otherwise test. So

- a split never depends on the other ids, their order or their number: adding samples to a dataset (more seeds,
  another shard, a merged folder) never moves an existing id to another split, and the same id in two folders
  (e.g. a seed generated twice) lands in the same split, so it cannot leak between train and test;
- the splits are disjoint and cover every id;
- the fractions are met approximately (binomially: for n ids, the count of a split with fraction p has standard
  deviation sqrt(n·p·(1−p)), about 49 ids for the default 5 % of 50,000).

Python's built-in ``hash`` is salted per process, so it is not used. Change :attr:`SplitConfig.salt` to draw an
independent split of the same ids.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

SplitName = Literal["train", "val", "test"]
#: Names of the three splits, in the order their intervals lie in [0, 1).
SPLITS: tuple[SplitName, ...] = ("train", "val", "test")
#: What a dataset may select: one split, or every id.
Selection = Literal["all", "train", "val", "test"]

_DEFAULT_SALT = "eg3d-face-toolkit/split-v1"


@dataclass(frozen=True)
class SplitConfig:
    """Fractions of the three splits (each >= 0, summing to 1) and the salt of the hash.

    Attributes:
        train: share of ids in the training split (0.9).
        val: share in the validation split (0.05).
        test: share in the test split (0.05).
        salt: mixed into the hash; another salt gives an independent split of the same ids.
    """

    train: float = 0.9
    val: float = 0.05
    test: float = 0.05
    salt: str = _DEFAULT_SALT

    def __post_init__(self) -> None:
        fractions = {"train": self.train, "val": self.val, "test": self.test}
        for name, value in fractions.items():
            if not (math.isfinite(value) and 0.0 <= value <= 1.0):
                raise ValueError(f"SplitConfig.{name} must be a fraction in [0, 1], got {value}")
        total = sum(fractions.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"split fractions must sum to 1, got train + val + test = {total}")

    def bounds(self) -> tuple[float, float]:
        """Upper ends of the train and val intervals of [0, 1); test takes the rest."""
        train_end = self.train
        # When test is 0 the rounding of train + val must not leave a sliver for it.
        val_end = math.inf if self.test == 0 else train_end + self.val
        return train_end, val_end


def split_value(sample_id: str, salt: str = _DEFAULT_SALT) -> float:
    """The id's position u in [0, 1): ``blake2b(salt ␀ id)`` (8 bytes) / 2⁶⁴."""
    digest = hashlib.blake2b(f"{salt}\0{sample_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64


def split_of(sample_id: str, config: SplitConfig | None = None) -> SplitName:
    """The split ``sample_id`` belongs to (``"train"``, ``"val"`` or ``"test"``)."""
    config = config or SplitConfig()
    u = split_value(sample_id, config.salt)
    train_end, val_end = config.bounds()
    if u < train_end:
        return "train"
    return "val" if u < val_end else "test"


def split_ids(ids: Iterable[str], config: SplitConfig | None = None) -> dict[SplitName, list[str]]:
    """``{"train": [...], "val": [...], "test": [...]}``: the ids of each split, in their input order.

    Repeated ids are kept once (their first occurrence).
    """
    config = config or SplitConfig()
    out: dict[SplitName, list[str]] = {name: [] for name in SPLITS}
    for sample_id in dict.fromkeys(ids):
        out[split_of(sample_id, config)].append(sample_id)
    return out


def select_split(ids: Iterable[str], split: Selection, config: SplitConfig | None = None) -> list[str]:
    """The ids of one split (``"all"``: every id), in their input order."""
    if split == "all":
        return list(dict.fromkeys(ids))
    if split not in SPLITS:
        raise ValueError(f"split must be one of {('all', *SPLITS)}, got {split!r}")
    config = config or SplitConfig()
    return [i for i in dict.fromkeys(ids) if split_of(i, config) == split]
