"""Named public datasets: where they are, under which licence, what they contain, and how to convert them.

:data:`REGISTRY` maps a name (``prosopo``, ``eg3d-synthetic``, ``lpff``, ``ffhq-eg3d-labels``, ``3dfacenet-coarse``,
``3dfacenet-fine``) to a :class:`DatasetInfo`. :func:`download` shows the licence, asks for its acceptance
(``accept_licence=True``, ``--accept-licence`` or a "yes" typed in a terminal), fetches each part through
:func:`helpers.data.download.fetch` and checks the expected layout. :func:`convert` runs the dataset's converter,
named by a ``"module:function"`` string so that this module imports no converter (and works before one exists).

Sources and their provenance
----------------------------
Every link below was read from the authors' own pages (mirrored repositories, checked 2025); where it could not
be, the option says ``verified=False`` and why. Options of the same ``part`` are alternatives, tried in order;
different parts are all needed (e.g. EG3D's ``dataset.json`` and ``FFHQ_num_replicas.json``).

- ``prosopo``: Kaggle ``cantonioupao/prosopo-a-face-dataset-for-3d-reconstruction``, linked from the author's
  ``github.com/cantonioupao/prosopo-dataset`` README.
- ``eg3d-synthetic``: Google Drive folder ``1-1T7kHcux_v9rjK6AJ_5uH9n3zuka09E``, linked from
  ``github.com/cantonioupao/generate-synthetic-face-data`` README. A Kaggle copy is mentioned by the project, but
  no slug was found in any of the author's pages: the user passes it (``kaggle_dataset=``/``--kaggle-dataset``).
- ``lpff``: Hugging Face dataset ``onethousand/LPFF``, folder ``LPFF-dataset/`` (``github.com/oneThousand1000/
  LPFF-dataset`` ``dataset_download/readme.md``). The authors also share the data on OneDrive, with links renewed
  every two months on request (top-level README): a manual option.
- ``ffhq-eg3d-labels``: ``dataset.json`` from Google Drive ``14mzYD1DxUjh7BGgeWKgXtLHWwvr-he1Z``, the file EG3D's
  ``dataset_preprocessing/ffhq/runme.py`` downloads with gdown; ``FFHQ_num_replicas.json`` is EG3D's
  ``dataset_preprocessing/rebalance_ffhq/num_replicas.json`` (LPFF ships the identical file under that name),
  fetched from the repositories at pinned commits with the sha256 and size of the mirrored blob.
- ``3dfacenet-coarse`` / ``3dfacenet-fine``: Google Drive files from ``github.com/Juyong/3DFace`` README (CoarseData
  ``0B0A9UsiwtVTHY0p4em5qUzRISW8`` with a resource key, FineData ``1z7jVbQOap3oZuZkcNhq4A_viZTJbf5eo``), BaiduYun
  as a manual alternative; the expression basis ``Exp_Pca.bin`` from the same repository. The Basel Face Model needs
  registration at ``faces.dmi.unibas.ch/bfm`` and is never downloaded here.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpers.data.download import (
    GoogleDriveSource,
    HttpSource,
    HuggingFaceSource,
    KaggleDatasetUnknownError,
    KaggleSource,
    ManualSource,
    Source,
    describe,
    fetch,
)
from helpers.download import DownloadError, default_cache_dir

__all__ = [
    "CONVERTER_PATTERN",
    "REGISTRY",
    "ConverterArgumentsError",
    "ConverterUnavailableError",
    "DatasetInfo",
    "DatasetRegistryError",
    "LicenceNotAcceptedError",
    "SourceOption",
    "check_layout",
    "confirm_licence",
    "convert",
    "download",
    "find_root",
    "get",
    "licence_notice",
    "load_converter",
    "names",
]

#: A converter string: ``"package.module:function"``.
CONVERTER_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")


class DatasetRegistryError(ValueError):
    """Unknown dataset name, or a request the registry cannot satisfy (unknown source kind...)."""


class LicenceNotAcceptedError(RuntimeError):
    """A download was asked for without accepting the dataset's licence."""


class ConverterUnavailableError(RuntimeError):
    """The dataset has no converter, or its module/function is not available (yet)."""


class ConverterArgumentsError(TypeError):
    """Options that do not fit the converter's parameters (the message lists them)."""


@dataclass(frozen=True)
class SourceOption:
    """One place to get (a part of) a dataset.

    Attributes:
        source: what :func:`helpers.data.download.fetch` gets.
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


# ------------------------------------------------------------------------------------------------ entries
_NVIDIA_EG3D = ("NVIDIA Source Code License for EG3D: the work and derivative works may be used only "
                "non-commercially (research or evaluation); redistribution must include the licence.")
_NVIDIA_EG3D_URL = "https://github.com/NVlabs/eg3d/blob/main/LICENSE.txt"
_FFHQ = ("FFHQ photos: published on Flickr by their authors under CC BY 2.0, CC BY-NC 2.0, Public Domain Mark 1.0, "
         "CC0 1.0 or U.S. Government Works; the FFHQ collection by NVIDIA is CC BY-NC-SA 4.0 (non-commercial).")
_EG3D_SHA = "7cf1fd1e99e1061e8b6ba850f91c94fe56e7afe4"  # NVlabs/eg3d main, 2023-01-20
_LPFF_SHA = "619e6c9bbdfccba6cfecc72e1e502efe3f69c7b4"  # oneThousand1000/LPFF-dataset master, 2024-03-25
_FACE3D_SHA = "2b19c9d36cb5e07de9d4dc1203071161abd66110"  # Juyong/3DFace master, 2021-10-18
_NUM_REPLICAS_SHA256 = "ffb133e69dda6b9ea4001d4aa435e35875e740e665f17a9ff0acebf71116deda"
_NUM_REPLICAS_SIZE = 1_707_882
_BFM_PAGE = "https://faces.dmi.unibas.ch/bfm/"
_FACE3D_BAIDU = ManualSource("https://pan.baidu.com/s/1jNVQLXBLbbZSrc8l5zXRIA",
                             note="BaiduYun share of the augmented data and results, password vev7")

_ENTRIES = (
    DatasetInfo(
        name="prosopo",
        title="Prosopo: 1,600 real FFHQ faces with PTI pseudo ground truth",
        description=("Real in-the-wild faces picked from FFHQ, each inverted into EG3D with PTI: depth map, EG3D "
                     "latent code and mesh. The original project's benchmark for single-view face depth."),
        sources=(
            SourceOption(KaggleSource("cantonioupao/prosopo-a-face-dataset-for-3d-reconstruction"),
                         found_in="github.com/cantonioupao/prosopo-dataset README.md (the author's link)"),
        ),
        licence="non-commercial (FFHQ + EG3D)",
        licence_text=("No licence is stated in the author's repository; see the licence field on the Kaggle page. "
                      + _FFHQ + " Depth, latents and meshes were made with EG3D: " + _NVIDIA_EG3D),
        licence_url="https://www.kaggle.com/datasets/cantonioupao/prosopo-a-face-dataset-for-3d-reconstruction",
        layout=("input/", "depth128x128/"),
        size="unknown (1,600 samples)",
        converter="helpers.data.original:convert_original",
        reader_notes=("Read in place: helpers.data.original.OriginalFolder(root, layout='prosopo') and "
                      "helpers.data.depth_dataset (source 'prosopo'); convert_original copies images, latents and "
                      "the 8-bit depth into the toolkit's folder (no metric depth exists). input/ images, depth128x128/ 8-bit depth "
                      "normalised per image (bright = near), latent/ (1, 14, 512) ws; no cameras, no masks. The "
                      "layout inside the Kaggle archive is taken from the original notebooks (input/, "
                      "depth128x128/); download() finds it one folder down too."),
        homepage="https://github.com/cantonioupao/prosopo-dataset",
    ),
    DatasetInfo(
        name="eg3d-synthetic",
        title="The published EG3D synthetic face set (50,000 samples)",
        description=("EG3D (FFHQ 512, rendering 128) samples of the original project: 512² images, 128² depth, "
                     "meshes, latent codes and cameras, with a viewpoint mix of 70% frontal tight, 12% side within "
                     "±70°, 6% beyond ±70°, 12% frontal with neck."),
        sources=(
            SourceOption(GoogleDriveSource(folder_id="1-1T7kHcux_v9rjK6AJ_5uH9n3zuka09E"),
                         found_in="github.com/cantonioupao/generate-synthetic-face-data README.md",
                         note="a folder of 50,000 samples: Drive may throttle; re-run to resume"),
            SourceOption(KaggleSource(None), verified=False,
                         found_in="not found: no Kaggle link in the author's repositories",
                         note="pass the slug: --kaggle-dataset OWNER/NAME (kaggle_dataset=...)"),
        ),
        licence="non-commercial (EG3D)",
        licence_text=("No licence is stated by the authors. The samples were generated with NVIDIA's EG3D FFHQ "
                      "model: " + _NVIDIA_EG3D),
        licence_url=_NVIDIA_EG3D_URL,
        layout=("images/", "depth128x128/", "cam_poses/", "latent/"),
        size="> 20 GB (estimate: 50,000 samples with 512² PNGs and meshes; not published)",
        converter="helpers.data.original:convert_original",
        reader_notes=("Read in place: helpers.data.original.OriginalFolder(root, layout='synthetic') and "
                      "helpers.data.depth_dataset (source 'synthetic'); convert_original copies images, cameras, "
                      "latents, the 8-bit depth and meshes into the toolkit's folder. images/ 512² RGB, depth128x128/ 8-bit depth "
                      "normalised per image, cam_poses/ (1, 25) cameras rendered with focal 4.4652, latent/ "
                      "(1, 14, 512) ws, shapes/ meshes in voxel units (DESIGN §5)."),
        homepage="https://github.com/cantonioupao/generate-synthetic-face-data",
    ),
    DatasetInfo(
        name="lpff",
        title="LPFF: 19,590 large-pose Flickr faces with EG3D cameras",
        description=("Large-pose portraits aligned like EG3D's FFHQ, with Deep3DFaceRecon cameras (25 floats) and "
                     "Flickr metadata; a supplement to FFHQ with a pose-rebalancing recipe (Wu et al., ICCV 2023)."),
        sources=(
            SourceOption(HuggingFaceSource("onethousand/LPFF", subfolder="LPFF-dataset", allow_patterns=(
                "LPFF-dataset/camera_parameters.json", "LPFF-dataset/info.json", "LPFF-dataset/crop/eg3d.zip")),
                found_in="github.com/oneThousand1000/LPFF-dataset dataset_download/readme.md",
                note="EG3D-aligned crops only (crop/eg3d.zip, unpacked to crop/eg3d/); the raw and 2400² images "
                     "and the StyleGAN crops are in the same repository"),
            SourceOption(ManualSource("https://github.com/oneThousand1000/LPFF-dataset",
                                      note="OneDrive share; the authors renew the link every two months on request"),
                         verified=False, found_in="github.com/oneThousand1000/LPFF-dataset README.md"),
        ),
        licence="non-commercial research",
        licence_text=("LPFF is available for non-commercial research purposes only. The images were collected from "
                      "Flickr under CC-BY-2.0, Public-Domain-Mark-1.0, CC-BY-SA-2.0 or CC0-1.0; the licence and "
                      "author of each image are in info.json. Cite Wu et al., ICCV 2023."),
        licence_url="https://github.com/oneThousand1000/LPFF-dataset/tree/master/dataset_download",
        layout=("camera_parameters.json", "crop/eg3d/"),
        size="~8 GB (estimate: 19,590 512² PNG crops; not published)",
        converter="helpers.data.lpff:convert_lpff",
        reader_notes=("helpers.data.lpff.LpffFolder reads the folder (camera_parameters.json, info.json, crops in "
                      "crop/eg3d/); convert with rebalance/mirror options (--set rebalance=true --set mirror=true). "
                      "For the published rebalancing counts pass FFHQ-EG3D's dataset.json as 'reference' (dataset "
                      "ffhq-eg3d-labels; LPFF's renamed copy dataset-ffhq.json is on the same Hugging Face dataset "
                      "under files/, path not verified)."),
        homepage="https://github.com/oneThousand1000/LPFF-dataset",
    ),
    DatasetInfo(
        name="ffhq-eg3d-labels",
        title="EG3D's FFHQ camera labels and pose-rebalancing replica counts",
        description=("dataset.json: EG3D's 25-float cameras of the 139,914 FFHQ crops and mirrors (names "
                     "00000.png, 00000_mirror.png); FFHQ_num_replicas.json: EG3D's per-image replica counts for "
                     "the rebalanced FFHQ (keys are positions in the zip's dataset.json)."),
        sources=(
            SourceOption(GoogleDriveSource(file_id="14mzYD1DxUjh7BGgeWKgXtLHWwvr-he1Z", filename="dataset.json"),
                         part="dataset.json",
                         found_in="NVlabs/eg3d dataset_preprocessing/ffhq/runme.py (gdown 'Downloading poses')"),
            SourceOption(HttpSource(
                f"https://raw.githubusercontent.com/NVlabs/eg3d/{_EG3D_SHA}/dataset_preprocessing/rebalance_ffhq/"
                "num_replicas.json", sha256=_NUM_REPLICAS_SHA256, size=_NUM_REPLICAS_SIZE,
                filename="FFHQ_num_replicas.json"), part="FFHQ_num_replicas.json",
                found_in="NVlabs/eg3d dataset_preprocessing/rebalance_ffhq/num_replicas.json (sha256 of the blob)"),
            SourceOption(HttpSource(
                f"https://raw.githubusercontent.com/oneThousand1000/LPFF-dataset/{_LPFF_SHA}/data_processing/"
                "2_dataset_rebalance/FFHQ_num_replicas.json", sha256=_NUM_REPLICAS_SHA256, size=_NUM_REPLICAS_SIZE,
                filename="FFHQ_num_replicas.json"), part="FFHQ_num_replicas.json",
                found_in="oneThousand1000/LPFF-dataset data_processing/2_dataset_rebalance/FFHQ_num_replicas.json"),
        ),
        licence="non-commercial (EG3D)",
        licence_text="Files of NVIDIA's EG3D release: " + _NVIDIA_EG3D + " The FFHQ images themselves: " + _FFHQ,
        licence_url=_NVIDIA_EG3D_URL,
        layout=("dataset.json", "FFHQ_num_replicas.json"),
        size="~80 MB (estimate for dataset.json's 139,914 labels; FFHQ_num_replicas.json is 1.7 MB)",
        converter=None,
        reader_notes=("helpers.data.ffhq_labels: FfhqLabels (cameras by image name / FFHQ id), read_num_replicas and "
                      "apply_replicas (EG3D's rebalancing). The FFHQ images are not included: they come from "
                      "github.com/NVlabs/ffhq-dataset, cropped by EG3D's preprocessing."),
        homepage="https://github.com/NVlabs/eg3d",
    ),
    DatasetInfo(
        name="3dfacenet-coarse",
        title="3DFaceNet CoarseData: 300-W faces with varied pose and expression, 3DMM parameters",
        description=("3,131 300-W images each augmented 30 times by changing pose and expression, with per-image "
                     "parameters (100 identity, 79 expression, 6 pose). Geometry needs the Basel Face Model 2009, "
                     f"which requires registration ({_BFM_PAGE})."),
        sources=(
            SourceOption(GoogleDriveSource(file_id="0B0A9UsiwtVTHY0p4em5qUzRISW8",
                                           resource_key="0-H-aOtSPiLB_UsqkymVhYzw"),
                         part="CoarseData", found_in=f"github.com/Juyong/3DFace README.md (commit {_FACE3D_SHA[:7]})",
                         note="an old Drive link with a resource key, which gdown does not send: if the download "
                              "fails, open the page in a browser"),
            SourceOption(_FACE3D_BAIDU, part="CoarseData", found_in="github.com/Juyong/3DFace README.md"),
            SourceOption(HttpSource(f"https://raw.githubusercontent.com/Juyong/3DFace/{_FACE3D_SHA}/Exp_Pca.bin"),
                         part="Exp_Pca.bin", found_in="github.com/Juyong/3DFace Exp_Pca.bin (linked from the README)",
                         note="the expression basis; put it beside 01_MorphableModel.mat for the converter"),
        ),
        licence="research only (no commercial use)",
        licence_text=("3DFaceNet data: 'this dataset could be used for research purpose only, and any commercial use "
                      "of the data is prohibited' (README; the repository's code is GPL-3.0). The images derive "
                      "from 300-W (academic use). The Basel Face Model needed for geometry has its own licence "
                      f"agreement: register at {_BFM_PAGE}."),
        licence_url="https://github.com/Juyong/3DFace",
        layout=(),
        size="unknown (93,930 augmented images)",
        converter="helpers.data.facenet3d:convert_coarse",
        reader_notes=("helpers.data.facenet3d: read_coarse_params, load_coarse_sample, convert_coarse (needs "
                      "--set bfm_dir=DIR with 01_MorphableModel.mat from the BFM registration, Exp_Pca.bin and a "
                      "trimming index; helpers.data.bfm names each missing file and where to get it). The layout "
                      "inside the archive is not documented by the authors (helpers.data.facenet3d describes what "
                      "is known)."),
        homepage="https://github.com/Juyong/3DFace",
    ),
    DatasetInfo(
        name="3dfacenet-fine",
        title="3DFaceNet FineData: 300-W faces with transferred details and depth maps",
        description=("3,131 300-W images each augmented 30 times by transferring facial detail from other images, "
                     "with depth maps."),
        sources=(
            SourceOption(GoogleDriveSource(folder_id="1z7jVbQOap3oZuZkcNhq4A_viZTJbf5eo"), verified=False,
                         found_in=f"github.com/Juyong/3DFace README.md (commit {_FACE3D_SHA[:7]})",
                         note="the README's open?id= link does not say file or folder; a folder (split zip parts "
                              "and a README.txt) is assumed, not verified"),
            SourceOption(_FACE3D_BAIDU, found_in="github.com/Juyong/3DFace README.md"),
        ),
        licence="research only (no commercial use)",
        licence_text=("3DFaceNet data: 'this dataset could be used for research purpose only, and any commercial use "
                      "of the data is prohibited' (README; the repository's code is GPL-3.0). The images derive "
                      "from 300-W (academic use)."),
        licence_url="https://github.com/Juyong/3DFace",
        layout=(),
        size="unknown (93,930 augmented images)",
        converter=None,
        reader_notes=("Distributed as split zip parts to merge as its README.txt says (Juyong/3DFace issue #4). "
                      "helpers.data.facenet3d.read_fine_depth reads the depth maps in the plausible encodings and "
                      "returns the stored values; file names, dtype, units and background are not documented."),
        homepage="https://github.com/Juyong/3DFace",
    ),
)

#: All known datasets by name.
REGISTRY: dict[str, DatasetInfo] = {entry.name: entry for entry in _ENTRIES}


def names() -> list[str]:
    """Registry names, in registration order."""
    return list(REGISTRY)


def get(name: str) -> DatasetInfo:
    """The entry called ``name`` (case-insensitive, ``_`` = ``-``); an error listing the known names otherwise."""
    entry = REGISTRY.get(name.strip().lower().replace("_", "-"))
    if entry is None:
        raise DatasetRegistryError(f"unknown dataset {name!r}; known datasets: {', '.join(names())}")
    return entry


# ------------------------------------------------------------------------------------------------ licence
def licence_notice(info: DatasetInfo) -> str:
    """The text shown before a download: title, licence terms and where they are published."""
    return (f"{info.title}\nLicence ({info.licence}): {info.licence_text}\nTerms: {info.licence_url}\n"
            f"Size: {info.size}")


def confirm_licence(info: DatasetInfo, accept_licence: bool = False, *, ask: Callable[[str], bool] | None = None,
                    echo: Callable[[str], None] = print) -> None:
    """Show the licence; return if accepted, else raise :class:`LicenceNotAcceptedError`.

    Accepted means ``accept_licence=True``, or a yes from ``ask(question)``; without ``ask``, a terminal on standard
    input is asked (``y``/``yes``); anywhere else (notebooks, scripts, CI) the flag is required.
    """
    echo(licence_notice(info))
    if accept_licence:
        return
    question = f"Do you accept the licence of {info.name}? [y/N] "
    if ask is None and sys.stdin is not None and sys.stdin.isatty():
        ask = _ask_terminal
    if ask is not None and ask(question):
        return
    raise LicenceNotAcceptedError(
        f"the licence of {info.name} was not accepted: read it above ({info.licence_url}), then pass "
        "accept_licence=True (command line: --accept-licence)")


def _ask_terminal(question: str) -> bool:
    return input(question).strip().lower() in ("y", "yes")


# ------------------------------------------------------------------------------------------------ download
def _layout_missing(root: Path, layout: tuple[str, ...]) -> list[str]:
    missing = []
    for entry in layout:
        path = root / entry.rstrip("/")
        if not (path.is_dir() if entry.endswith("/") else path.exists()):
            missing.append(entry)
    return missing


def check_layout(info: DatasetInfo, root: str | os.PathLike[str]) -> list[str]:
    """Entries of ``info.layout`` missing under ``root`` (empty list: the layout is complete or undocumented)."""
    return _layout_missing(Path(root), info.layout)


def find_root(info: DatasetInfo, folder: str | os.PathLike[str]) -> Path:
    """The dataset's root: ``folder`` itself, or the one sub-folder (up to two levels down) that holds its layout.

    Archives often wrap their content in a folder of their own; this finds it. Falls back to ``folder``.
    """
    folder = Path(folder)
    if not info.layout or not _layout_missing(folder, info.layout):
        return folder
    level = [folder]
    for _ in range(2):
        level = [d for parent in level for d in sorted(parent.iterdir()) if d.is_dir() and not d.name.startswith(".")]
        found = [d for d in level if not _layout_missing(d, info.layout)]
        if len(found) == 1:
            return found[0]
    return folder


def _candidates(info: DatasetInfo, options: list[SourceOption], source: str | None,
                kaggle_dataset: str | None) -> list[SourceOption]:
    chosen = [o for o in options if o.kind == source] if source else list(options)
    if source and not chosen:
        chosen = list(options)  # this part has no such kind: its own options apply
    result = []
    for option in chosen:
        if isinstance(option.source, KaggleSource) and kaggle_dataset:
            option = dataclasses.replace(option, source=dataclasses.replace(option.source, dataset=kaggle_dataset))
        result.append(option)
    return result


def _can_run(option: SourceOption) -> str | None:
    """Why an option cannot be tried automatically, or None."""
    if isinstance(option.source, ManualSource):
        return f"download by hand from {option.source.url}" + (f" ({option.source.note})" if option.source.note else "")
    if isinstance(option.source, KaggleSource) and not option.source.dataset:
        return "Kaggle: the dataset's owner/name is unknown; pass it with --kaggle-dataset OWNER/NAME"
    return None


def download(
    name: str,
    out: str | os.PathLike[str] | None = None,
    *,
    accept_licence: bool = False,
    source: str | None = None,
    kaggle_dataset: str | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    ask: Callable[[str], bool] | None = None,
    echo: Callable[[str], None] = print,
) -> Path:
    """Download the dataset ``name`` into ``out`` (after its licence is accepted) and return its root folder.

    Each part is fetched from its first option that works (``source`` picks a kind first: ``"kaggle"``,
    ``"google-drive"``, ``"hugging-face"``, ``"http"``); a part already fetched is not fetched again. Missing
    entries of the expected layout give a warning line, not an error (some layouts are not documented).

    Args:
        name: registry name.
        out: dataset folder; default ``<cache>/datasets/<name>``.
        accept_licence: the user accepts the licence shown (see :func:`confirm_licence`).
        source: preferred source kind.
        kaggle_dataset: ``owner/name`` for a Kaggle option whose slug is unknown (or to use another copy).
        cache_dir: cache folder (default :func:`helpers.download.default_cache_dir`).
        progress: progress bars.
        ask, echo: how to ask for acceptance and print messages (default: terminal prompt, print).

    Raises:
        LicenceNotAcceptedError: before any network access, when the licence was not accepted.
        DownloadError / ImportError: every option of a part failed (one option: its own error unchanged).
    """
    info = get(name)
    kinds = {o.kind for o in info.sources}
    if source is not None and source not in kinds:
        raise DatasetRegistryError(f"{info.name} has no {source!r} source; its sources: {', '.join(sorted(kinds))}")
    confirm_licence(info, accept_licence, ask=ask, echo=echo)
    cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    folder = Path(out).expanduser() if out is not None else cache / "datasets" / info.name
    for part, options in info.parts().items():
        _download_part(info, part, _candidates(info, options, source, kaggle_dataset), folder, cache,
                       progress=progress, echo=echo)
    root = find_root(info, folder)
    missing = check_layout(info, root)
    if missing:
        echo(f"warning: {root} lacks {', '.join(missing)} expected for {info.name}; the published layout may have "
             "changed: look at the folder before converting")
    return root


def _download_part(info: DatasetInfo, part: str, options: list[SourceOption], folder: Path, cache: Path, *,
                   progress: bool, echo: Callable[[str], None]) -> None:
    what = f"{info.name}{' / ' + part if part else ''}"
    failures: list[tuple[SourceOption, BaseException]] = []
    skipped: list[str] = []
    for option in options:
        reason = _can_run(option)
        if reason is not None:
            skipped.append(reason)
            continue
        echo(f"{what}: {describe(option.source)}")
        try:
            fetch(option.source, folder, cache_dir=cache, progress=progress)
            return
        except (DownloadError, ImportError) as exc:
            failures.append((option, exc))
            echo(f"{what}: {type(exc).__name__}: {exc}")
    if len(failures) == 1 and not skipped:
        raise failures[0][1]  # the only way there was: its own error, unchanged (an ImportError stays one)
    if not failures and len(skipped) == 1 and "Kaggle" in skipped[0]:
        raise KaggleDatasetUnknownError(f"{what}: {skipped[0]}")
    lines = [f"  - {describe(o.source)}: {type(e).__name__}: {e}" for o, e in failures] + [f"  - {s}" for s in skipped]
    raise DownloadError(f"could not download {what}; tried:\n" + "\n".join(lines))


# ------------------------------------------------------------------------------------------------ convert
def load_converter(info: DatasetInfo) -> Callable[..., Any]:
    """Import the converter function named by ``info.converter``.

    Raises:
        ConverterUnavailableError: no converter, or its module / function is not there (yet), with what to do.
    """
    if info.converter is None:
        raise ConverterUnavailableError(f"{info.name} has no converter: {info.reader_notes}")
    module_name, _, function_name = info.converter.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(exc.name + ".")):
            raise ConverterUnavailableError(
                f"the converter of {info.name} ({info.converter}) is not available in this version of the toolkit "
                f"(no module {module_name}): update the toolkit, or read the downloaded folder directly "
                f"({info.reader_notes})") from None
        raise ConverterUnavailableError(f"the converter of {info.name} ({info.converter}) needs the package "
                                        f"{exc.name}: pip install {exc.name}") from None
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConverterUnavailableError(f"the converter of {info.name} ({info.converter}) is not available: "
                                        f"{module_name} has no function {function_name}; update the toolkit")
    return function


def convert(name: str, src: str | os.PathLike[str], out: str | os.PathLike[str], **options: Any) -> Any:
    """Run the converter of dataset ``name``: ``converter(src, out, **options)``; returns what it returns.

    Raises:
        ConverterUnavailableError: see :func:`load_converter`.
        ConverterArgumentsError: ``options`` do not fit the converter; the message lists its parameters.
    """
    info = get(name)
    function = load_converter(info)
    try:
        inspect.signature(function).bind(Path(src), Path(out), **options)
    except TypeError as exc:
        raise ConverterArgumentsError(f"{info.converter}: {exc}; its parameters: {inspect.signature(function)} "
                                      "(command line: --set KEY=VALUE)") from None
    return function(Path(src), Path(out), **options)
