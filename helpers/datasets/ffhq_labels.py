"""EG3D's FFHQ camera labels (``dataset.json``) and its pose rebalancing (``FFHQ_num_replicas.json``).

- **dataset.json** is ``{"labels": [[image name, [25 floats]], ...]}``: each label is an EG3D camera vector
  (:mod:`helpers.base.cameras`: OpenCV cam2world, then the normalised intrinsics, f = 4.2647). EG3D's
  ``ImageFolderDataset`` turns the list into a dict by name, so repeated names collapse into one label.
- **Image names** come in two schemes: the crops EG3D downloads, ``"00000.png"`` and ``"00000_mirror.png"`` (FFHQ id,
  ``_mirror`` for the horizontal flip), and the zip's ``f"{i // 1000:05d}/img{i:08d}.png"`` (``i`` = position in the
  sorted file list). Only the first scheme can be joined to FFHQ ids (:meth:`FfhqLabels.by_ffhq_id`).
- **FFHQ_num_replicas.json** maps the *position* of a label in the zip's ``dataset.json`` (a decimal string) to a
  replica count (1, 2, 4, 8 or 16); EG3D's rebalancing writes each image ``n`` times under replica names
  (:func:`replica_name`) with the same label. :func:`dumps_labels` writes a ``dataset.json`` as EG3D does.

Design notes: docs/design/datasets.md (ffhq_labels): the facts and where they were read.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from helpers.base.cameras import CAMERA_DIM
from helpers.dataset_folder.eg3d_export import replica_name
from helpers.dataset_folder.layout import DatasetFolderError

#: md5 of the ``dataset.json`` inside EG3D's FFHQ zip that ``num_replicas.json`` indexes (EG3D's script prints it).
OFFICIAL_ZIP_DATASET_JSON_MD5 = "a5893550587656894051685f1a5930ce"
#: md5 of the rebalanced ``dataset.json`` EG3D's ``rebalance_ffhq_dataset.py`` writes from it.
OFFICIAL_REBALANCED_DATASET_JSON_MD5 = "bae1b0b52267670f1735fef9092b5c11"
#: md5 of ``FFHQ_num_replicas.json`` (LPFF) = ``num_replicas.json`` (EG3D).
OFFICIAL_NUM_REPLICAS_MD5 = "e83616dd82b2dbae5f0eeae2acd9df75"

# "00000.png" / "00000_mirror.png": the flat crop names of EG3D's FFHQ preprocessing.
_FFHQ_CROP_NAME = re.compile(r"^(\d{5})(_mirror)?\.png$")


class LabelsFormatError(DatasetFolderError):
    """A labels or replicas file does not have the published structure."""


LabelPairs = Sequence[tuple[str, np.ndarray]]


def as_camera(value: Any, where: str) -> np.ndarray:
    """(25,) float64 EG3D camera from a label value (a list of 25 finite numbers).

    ``where`` prefixes the :class:`LabelsFormatError` message (file and entry), e.g. ``"dataset.json: labels[3]"``.
    """
    try:
        camera = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise LabelsFormatError(f"{where}: a camera label must be a list of 25 numbers, got {value!r:.80}") from None
    if camera.shape != (CAMERA_DIM,):
        raise LabelsFormatError(f"{where}: a camera label has 25 numbers (16 cam2world + 9 intrinsics), "
                                f"got shape {camera.shape}")
    if not np.all(np.isfinite(camera)):
        raise LabelsFormatError(f"{where}: the camera label holds NaN or infinite values")
    return camera  # float64: the JSON values exactly, so a rewritten label is the same text


def parse_labels(data: Any, where: str = "dataset.json") -> list[tuple[str, np.ndarray]]:
    """``[(name, (25,) float64 camera), ...]`` in file order from a parsed EG3D ``dataset.json`` object.

    Raises :class:`LabelsFormatError` naming the first malformed entry. ``"labels": null`` (EG3D's marker for an
    unlabelled dataset) is an error here: a camera file without cameras is of no use to the callers.
    """
    if not isinstance(data, dict) or "labels" not in data:
        raise LabelsFormatError(f'{where}: expected an object {{"labels": [[name, [25 floats]], ...]}} '
                                f"(EG3D's dataset.json), got {type(data).__name__}"
                                + (f" with keys {sorted(data)[:5]}" if isinstance(data, dict) else ""))
    labels = data["labels"]
    if not isinstance(labels, list):
        raise LabelsFormatError(f'{where}: "labels" must be a list of [name, [25 floats]] pairs, '
                                f"got {type(labels).__name__}")
    pairs = []
    for i, item in enumerate(labels):
        if not (isinstance(item, (list, tuple)) and len(item) == 2 and isinstance(item[0], str)):
            raise LabelsFormatError(f"{where}: labels[{i}] must be [image name, [25 floats]], got {item!r:.80}")
        pairs.append((item[0], as_camera(item[1], f"{where}: labels[{i}] ({item[0]})")))
    return pairs


def read_json(path: str | os.PathLike[str]) -> Any:
    """Parsed JSON of ``path``, with an error that names the file when it is missing or not JSON."""
    path = Path(path)
    if not path.is_file():
        raise LabelsFormatError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise LabelsFormatError(f"{path}: not a valid JSON file ({exc}); download it again") from None


def _stem(name: str) -> str:
    return PurePosixPath(name.replace("\\", "/")).stem


def ffhq_id_of(name: str) -> tuple[int, bool] | None:
    """(FFHQ id, mirrored) of a flat crop name ``"00042.png"`` / ``"00042_mirror.png"``; None for other names."""
    match = _FFHQ_CROP_NAME.match(PurePosixPath(name.replace("\\", "/")).name)
    return (int(match.group(1)), match.group(2) is not None) if match else None


@dataclass(frozen=True, eq=False)
class FfhqLabels:
    """EG3D camera labels by image name, in file order.

    Attributes:
        names: image names as in the file (e.g. ``"00000/img00000000.png"`` or ``"00000.png"``).
        cameras: (N, 25) float64 EG3D cameras, the file's values exactly (see the module doc).
        md5: md5 of the file's bytes when read with :meth:`from_file` (compare with
            :data:`OFFICIAL_ZIP_DATASET_JSON_MD5`), else None.
    """

    names: tuple[str, ...]
    cameras: np.ndarray
    md5: str | None = None

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, Any]], md5: str | None = None) -> FfhqLabels:
        pairs = list(pairs)
        cams = np.stack([as_camera(c, n) for n, c in pairs]) if pairs else np.zeros((0, CAMERA_DIM))
        return cls(tuple(n for n, _ in pairs), cams, md5)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> FfhqLabels:
        """Read an EG3D ``dataset.json`` (see the module doc)."""
        path = Path(path)
        if not path.is_file():
            raise LabelsFormatError(f"{path}: file not found (EG3D's FFHQ dataset.json: "
                                    "`python -m helpers datasets download ffhq-eg3d-labels`)")
        data = path.read_bytes()
        try:
            parsed = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise LabelsFormatError(f"{path}: not a valid JSON file ({exc}); download it again") from None
        return cls.from_pairs(parse_labels(parsed, str(path)), hashlib.md5(data).hexdigest())

    def __post_init__(self) -> None:
        index: dict[str, int] = {}
        keys_of_stem: dict[str, set[str]] = {}
        ids: dict[tuple[int, bool], int] = {}
        for i, name in enumerate(self.names):
            key = name.replace("\\", "/")
            index[key] = i  # a repeated name resolves to its last entry, as in EG3D's dict(labels)
            keys_of_stem.setdefault(_stem(key), set()).add(key)
            fid = ffhq_id_of(key)
            if fid is not None:
                ids[fid] = i
        # -1 marks a stem shared by different names: it must be looked up by full name.
        stems = {stem: (index[next(iter(keys))] if len(keys) == 1 else -1) for stem, keys in keys_of_stem.items()}
        object.__setattr__(self, "_index", index)
        object.__setattr__(self, "_stems", stems)
        object.__setattr__(self, "_ids", ids)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._find(key) is not None

    def _find(self, key: str) -> int | None:
        key = key.replace("\\", "/")
        if key in self._index:  # type: ignore[attr-defined]
            return self._index[key]  # type: ignore[attr-defined]
        found = self._stems.get(_stem(key))  # type: ignore[attr-defined]
        return None if found is None or found < 0 else found

    def index_of(self, key: str) -> int:
        """Position of an image in the file, by exact name or by stem (``"img00000000"``, ``"00000_mirror"``).

        A name that occurs twice resolves to its last occurrence, as in EG3D's ``dict(labels)``. A stem shared by
        several names (same file name in two folders) must be looked up by full name. An unknown name raises a
        KeyError that suggests close names.
        """
        found = self._find(key)
        if found is None:
            ambiguous = self._stems.get(_stem(key)) == -1  # type: ignore[attr-defined]
            reason = "several images share this stem: use the full name" if ambiguous else "no such image"
            close = difflib.get_close_matches(key, self.names, n=5, cutoff=0.6)
            hint = f"; close names: {close}" if close else ""
            raise KeyError(f"{key!r}: {reason} ({len(self)} labels, e.g. {self.names[:2]}){hint}")
        return found

    def camera(self, key: str) -> np.ndarray:
        """(25,) float32 camera of an image, by name or stem (see :meth:`index_of`)."""
        return self.cameras[self.index_of(key)].astype(np.float32)

    def by_ffhq_id(self, ffhq_id: int, *, mirror: bool = False) -> np.ndarray:
        """(25,) float32 camera of FFHQ image ``ffhq_id`` (or its mirror) in the flat-crop naming scheme.

        Raises KeyError when the file uses the zip scheme (``"00000/img00000000.png"``: positions, not FFHQ ids,
        see the module doc) or when EG3D dropped that image.
        """
        found = self._ids.get((int(ffhq_id), bool(mirror)))  # type: ignore[attr-defined]
        if found is None:
            if not self._ids:  # type: ignore[attr-defined]
                raise KeyError(f"FFHQ id {ffhq_id}: these labels are not named by FFHQ id ('00042.png'); "
                               "the zip's names ('00000/img00000000.png') count images, not FFHQ ids")
            raise KeyError(f"FFHQ id {ffhq_id}{' (mirror)' if mirror else ''}: no label (EG3D dropped 43 FFHQ "
                           "images that resisted face detection)")
        return self.cameras[found].astype(np.float32)

    def pairs(self) -> list[tuple[str, np.ndarray]]:
        return list(zip(self.names, self.cameras))

    def to_json(self) -> dict[str, Any]:
        """``{"labels": [[name, [25 floats]], ...]}`` (EG3D's dataset.json)."""
        return {"labels": [[n, [float(v) for v in c]] for n, c in zip(self.names, self.cameras)]}

    def rebalanced(self, replicas: Mapping[int, int]) -> dict[str, Any]:
        """EG3D's rebalanced dataset.json from a replica table (see :func:`apply_replicas`)."""
        return apply_replicas(self.pairs(), replicas)


def read_num_replicas(path: str | os.PathLike[str]) -> dict[int, int]:
    """``FFHQ_num_replicas.json`` / ``num_replicas.json``: {label position: replica count}, in file order.

    Keys are decimal strings in the file; counts must be integers >= 1 (the official file holds 1, 2, 4, 8, 16).
    """
    path = Path(path)
    data = read_json(path)
    if not isinstance(data, dict):
        raise LabelsFormatError(f'{path}: expected an object {{"<label index>": <replica count>, ...}}, '
                                f"got {type(data).__name__}")
    out: dict[int, int] = {}
    for key, value in data.items():
        if not (isinstance(key, str) and key.isdigit()):
            raise LabelsFormatError(f"{path}: key {key!r} is not a label index (a decimal string like \"42\")")
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise LabelsFormatError(f"{path}: entry {key!r}: a replica count is an integer >= 1, got {value!r}")
        out[int(key)] = value
    return out


def replicate(pairs: LabelPairs, counts: Iterable[tuple[int, int]]) -> dict[str, Any]:
    """``{"labels": [...]}`` with label ``i`` written ``n`` times under :func:`replica_name` names, for each
    ``(i, n)`` of ``counts`` in order. Duplicated names would collapse in EG3D's ``dict(labels)``: the replicas
    need files of their own, as EG3D's ``rebalance_ffhq_dataset.py`` writes them."""
    labels = []
    for index, n in counts:
        if not 0 <= index < len(pairs):
            raise LabelsFormatError(f"replica entry {index} is outside the {len(pairs)} labels: the replica table "
                                    "indexes the labels of another dataset.json (EG3D's zip: 139,914 labels)")
        name, camera = pairs[index]
        cam = [float(v) for v in camera]
        labels += [[replica_name(name, r), cam] for r in range(int(n))]
    return {"labels": labels}


def apply_replicas(labels: LabelPairs | FfhqLabels, replicas: Mapping[int, int]) -> dict[str, Any]:
    """EG3D's rebalanced FFHQ ``dataset.json``: entries in the replica table's order (as EG3D's script), each
    label repeated under replica names. Labels the table does not name are left out, as in EG3D's script."""
    pairs = labels.pairs() if isinstance(labels, FfhqLabels) else list(labels)
    return replicate(pairs, replicas.items())


def dumps_labels(labels: dict[str, Any]) -> str:
    """The JSON text EG3D's scripts write (``json.dumps`` defaults), e.g. to compare md5 sums."""
    return json.dumps(labels)
