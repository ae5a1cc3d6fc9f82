"""Small stand-ins for the public datasets, in each one's published layout, served over HTTP from this machine.

Smoke mode downloads them as it would the real ones (``source="stand-in"`` of
:func:`helpers.notebook.notebook_data.public_dataset`): the same licence, fetch, checksum, unpack and layout check,
offline. The faces are analytic heads (:func:`helpers.generation.write_head_dataset`); 3DFaceNet's carries a random
stand-in Basel Face Model in ``BFM/`` (the real one needs registration). None of it is a real face.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import threading
import zipfile
from pathlib import Path

import numpy as np

from helpers.datasets.facenet3d import CoarseParams, write_coarse_params, write_standin_model
from helpers.download.http_download import sha256_file
from helpers.download.sources import HttpSource
from helpers.generation import HeadDatasetConfig, write_head_dataset

__all__ = ["STANDINS", "standin_source", "write_standin"]

_SMALL = {"count": 6, "image_size": 64, "depth_size": 64, "steps": 48}
#: The datasets that have a stand-in, with the head-dataset settings of each.
STANDINS: dict[str, dict] = {
    "prosopo": {"layout": "prosopo", **_SMALL, "image_size": 128, "depth_size": 128, "count": 12},
    "eg3d-synthetic": {"layout": "synthetic", "seed": 1, "max_yaw": 1.2, **{**_SMALL, "count": 24}},
    "lpff": {"layout": "lpff", "seed": 3, "max_yaw": 1.4, "max_pitch": 0.5, **{**_SMALL, "count": 24}},
    "3dfacenet-coarse": {"layout": "prosopo", "seed": 5, **{**_SMALL, "count": 3}},
}


def write_standin(name: str, folder: str | Path) -> Path:
    """Write the stand-in of dataset ``name`` (a key of :data:`STANDINS`) into ``folder``, as its download unpacks."""
    if name not in STANDINS:
        raise ValueError(f"no stand-in for {name!r}; stand-ins exist for {', '.join(STANDINS)}")
    folder = Path(folder)
    config = HeadDatasetConfig(**STANDINS[name])
    if name != "3dfacenet-coarse":
        return write_head_dataset(folder, config, progress=False)
    with tempfile.TemporaryDirectory() as tmp:  # CoarseData/<subject>/<name>.png + <name>.txt, and BFM/
        heads = write_head_dataset(Path(tmp) / "heads", config, progress=False)
        subject = folder / "CoarseData" / "subject01"
        subject.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        for image in sorted((heads / "input").glob("*.png")):
            shutil.copy(image, subject / image.name)
            write_coarse_params(subject / f"{image.stem}.txt", CoarseParams(
                identity=rng.normal(0, 2e3, 100), expression=rng.normal(0, 1e3, 79), angles=rng.uniform(-0.4, 0.4, 3),
                translation=np.array([32.0, 30.0]), scale=2.5e-4))
    write_standin_model(folder / "BFM", trim_file="model_info.mat")
    return folder


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- the base class's name
        pass


@functools.cache
def _server(directory: str) -> int:
    """Serve ``directory`` on 127.0.0.1 from a daemon thread (one server per folder and process); its port."""
    handler = functools.partial(_QuietHandler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True, name=f"stand-in server {directory}").start()
    return int(server.server_address[1])


def standin_source(name: str, store: str | Path) -> HttpSource:
    """An :class:`HttpSource` for the stand-in of ``name``: its zip is written once into ``store`` and served from
    this process on 127.0.0.1, with its sha256 (checked by the download as a real source's would be)."""
    store = Path(store)
    archive = store / f"{name}.zip"
    if not archive.is_file():
        with tempfile.TemporaryDirectory() as tmp:
            root = write_standin(name, Path(tmp) / name)
            partial = archive.with_suffix(".zip.part")
            store.mkdir(parents=True, exist_ok=True)
            with zipfile.ZipFile(partial, "w") as zf:
                for path in sorted(root.rglob("*")):
                    if path.is_file():
                        zf.write(path, path.relative_to(root))
            partial.replace(archive)
    port = _server(str(store.resolve()))
    return HttpSource(f"http://127.0.0.1:{port}/{archive.name}", sha256=sha256_file(archive), unpack=True)
