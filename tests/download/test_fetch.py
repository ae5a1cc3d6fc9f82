"""helpers.download.fetcher (fetch and its back-ends), helpers.datasets.catalogue and ``python -m helpers datasets``, offline.

HTTP goes to a local server on 127.0.0.1 (the pattern of test_download.py: Range support, dropped connections and
every request recorded); gdown, kaggle and the Hugging Face Hub are replaced by small fakes that write what the real
packages would, so each test proves which call was made and that a second fetch needs no network.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import io
import json
import os
import sys
import tarfile
import types
import zipfile
from pathlib import Path
from typing import Any

import huggingface_hub
import pytest
from tests.local_http import FileServer

from helpers import cli
from helpers.datasets import catalogue as registry
from helpers.datasets.dataset_info import SourceOption
from helpers.download import fetcher as dl
from helpers.download import fetch_kaggle
from helpers.download.fetcher import fetch
from helpers.download.fetch_kaggle import kaggle_credentials
from helpers.download.fetch_store import MARKER_DIR
from helpers.download.http_download import ChecksumError, DownloadError
from helpers.download.sources import (
    GoogleDriveSource,
    HttpSource,
    HuggingFaceSource,
    KaggleCredentialsError,
    KaggleDatasetUnknownError,
    KaggleSource,
    ManualDownloadError,
    ManualSource,
    source_key,
)


# ------------------------------------------------------------------------------------------------ fixtures
def make_zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buffer.getvalue()


def make_tar_gz(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


ARCHIVE_FILES = {"set/input/0001.png": b"png" * 1000, "set/depth128x128/0001.png": bytes(range(256)) * 4000}
ARCHIVE = make_zip(ARCHIVE_FILES)  # ~1 MB: more than one read chunk of the downloader


@pytest.fixture(autouse=True)
def archive_file(server: FileServer) -> None:
    server.files["set.zip"] = ARCHIVE


def hidden_leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


# ------------------------------------------------------------------------------------------------ HTTP
def test_http_archive_unpacks_into_folder_and_second_call_needs_no_network(server: FileServer, tmp_path: Path,
                                                                           cache: Path) -> None:
    source = HttpSource(server.url("set.zip"), sha256=sha(ARCHIVE), size=len(ARCHIVE))
    out = tmp_path / "data" / "prosopo"
    assert fetch(source, out, progress=False) == out
    assert {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*.png")} == ARCHIVE_FILES
    marker = json.loads((out / MARKER_DIR / f"{source_key(source)}.json").read_text())
    assert marker["entries"] == ["set"] and marker["archive_sha256"] == sha(ARCHIVE)
    assert hidden_leftovers(out.parent) == []  # no staging folder left beside it
    assert not any(p.is_file() for p in (cache / "archives").rglob("*"))  # archive deleted after unpacking
    server.status = 500  # from now on any request would fail
    assert fetch(source, out, progress=False) == out and dl.is_fetched(source, out)
    assert len(server.requests) == 1


def test_http_download_shows_a_progress_bar(server: FileServer, tmp_path: Path, cache: Path, capsys) -> None:
    fetch(HttpSource(server.url("set.zip"), sha256=sha(ARCHIVE)), tmp_path / "out", progress=True)
    shown = capsys.readouterr().err
    assert "set.zip: 100%" in shown and "unpack set.zip: 100%" in shown, shown  # transfer and unpacking bars


def test_http_tar_gz_plain_file_and_default_cache_folder(server: FileServer, tmp_path: Path, cache: Path) -> None:
    server.files["labels.tar.gz"] = make_tar_gz({"a/dataset.json": b"{}"})
    server.files["num_replicas.json"] = b'{"0": 2}'
    folder = fetch(HttpSource(server.url("labels.tar.gz")), progress=False)
    assert folder.parent == cache / "sources" and (folder / "a" / "dataset.json").read_bytes() == b"{}"
    plain = HttpSource(server.url("num_replicas.json"), sha256=sha(b'{"0": 2}'), filename="FFHQ_num_replicas.json")
    path = fetch(plain, tmp_path / "labels", progress=False)
    assert path == tmp_path / "labels" / "FFHQ_num_replicas.json" and path.read_bytes() == b'{"0": 2}'
    assert fetch(plain, tmp_path / "labels", progress=False) == path  # the downloader's own cache
    assert len(server.requests) == 2


def test_checksum_mismatch_raises_and_leaves_no_folder_or_file(server: FileServer, tmp_path: Path,
                                                               cache: Path) -> None:
    out = tmp_path / "out"
    with pytest.raises(ChecksumError, match=f"expected {'0' * 64}, got {sha(ARCHIVE)}"):
        fetch(HttpSource(server.url("set.zip"), sha256="0" * 64), out, progress=False)
    assert not out.exists() and hidden_leftovers(tmp_path) == []
    assert not any(p.is_file() for p in cache.rglob("*"))  # not even a .part
    server.files["x.json"] = b"[1]"
    with pytest.raises(ChecksumError, match="expected 7 bytes"):
        fetch(HttpSource(server.url("x.json"), size=7), out, progress=False)
    assert not (out / "x.json").exists()


def test_interrupted_archive_download_resumes_then_unpacks(server: FileServer, tmp_path: Path) -> None:
    half = len(ARCHIVE) // 2
    server.drop_after = half
    source = HttpSource(server.url("set.zip"), sha256=sha(ARCHIVE))
    with pytest.raises(DownloadError, match="interrupted.*run again to resume"):
        fetch(source, tmp_path / "out", progress=False, retries=0)
    assert not (tmp_path / "out").exists()
    assert fetch(source, tmp_path / "out", progress=False) == tmp_path / "out"
    assert [r.range for r in server.requests] == [None, f"bytes={half}-"]  # only the remainder the second time
    assert (tmp_path / "out" / "set" / "input" / "0001.png").read_bytes() == ARCHIVE_FILES["set/input/0001.png"]


def test_archive_paths_leaving_the_folder_are_refused(server: FileServer, tmp_path: Path) -> None:
    server.files["evil.zip"] = make_zip({"ok.txt": b"1", "../evil.txt": b"2"})
    with pytest.raises(DownloadError, match="refusing to unpack member '../evil.txt'"):
        fetch(HttpSource(server.url("evil.zip")), tmp_path / "out", progress=False)
    assert not (tmp_path / "evil.txt").exists() and not (tmp_path / "out").exists()
    server.files["broken.zip"] = b"<html>quota exceeded</html>"
    with pytest.raises(DownloadError, match="not a readable archive"):
        fetch(HttpSource(server.url("broken.zip")), tmp_path / "out", progress=False)
    with pytest.raises(DownloadError):  # the unreadable archive was deleted, not cached: a retry downloads again
        fetch(HttpSource(server.url("broken.zip")), tmp_path / "out", progress=False)
    assert [r.path for r in server.requests].count("/broken.zip") == 2


def test_existing_folder_gets_new_entries_but_nothing_is_overwritten(server: FileServer, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    server.files["a.zip"] = make_zip({"a.txt": b"a"})
    server.files["b.zip"] = make_zip({"mine.txt": b"theirs"})
    fetch(HttpSource(server.url("a.zip")), out, progress=False)
    assert (out / "a.txt").read_bytes() == b"a" and (out / "mine.txt").read_text() == "keep me"
    with pytest.raises(DownloadError, match="already holds mine.txt"):
        fetch(HttpSource(server.url("b.zip")), out, progress=False)
    assert (out / "mine.txt").read_text() == "keep me"


def test_manual_source_says_where_to_go(tmp_path: Path) -> None:
    with pytest.raises(ManualDownloadError, match="pan.example/x.*password 1.*by hand.*into"):
        fetch(ManualSource("https://pan.example/x", note="password 1"), tmp_path / "out")


# ------------------------------------------------------------------------------------------------ Kaggle
def test_kaggle_without_credentials_gives_the_documented_error_and_never_imports_kaggle(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delitem(sys.modules, "kaggle", raising=False)
    attempts: list[str] = []

    class ImportSpy:  # sees any attempt to import kaggle, even one that would fail
        def find_spec(self, name: str, path: object = None, target: object = None) -> None:
            if name.split(".")[0] == "kaggle":
                attempts.append(name)

    monkeypatch.setattr(sys, "meta_path", [ImportSpy(), *sys.meta_path])
    with pytest.raises(KaggleCredentialsError) as info:
        fetch(KaggleSource("owner/name"), tmp_path / "out")
    message = str(info.value)
    for expected in ("KAGGLE_USERNAME", "KAGGLE_KEY", "~/.kaggle/kaggle.json", "KAGGLE_CONFIG_DIR", "Colab",
                     "kaggle.com/settings"):
        assert expected in message
    assert "kaggle" not in sys.modules
    assert capsys.readouterr().out == ""  # no banner
    assert cli.main(["datasets", "download", "prosopo", "--accept-licence", "--out", str(tmp_path / "p")]) == 2
    assert "Kaggle credentials not found" in capsys.readouterr().err and "kaggle" not in sys.modules
    assert attempts == []


class FakeKaggle:
    """A stand-in for the ``kaggle`` module: records calls; downloads write what Kaggle would."""

    def __init__(self, archive: bytes) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.archive = archive
        self.module = types.ModuleType("kaggle")
        self.module.KaggleApi = self._api  # type: ignore[attr-defined]

    def _api(self) -> Any:
        fake = self

        class Api:
            def authenticate(self) -> None:
                fake.calls.append(("authenticate",))

            def dataset_download_files(self, dataset: str, path: str, quiet: bool, unzip: bool) -> None:
                fake.calls.append(("dataset_download_files", dataset, quiet, unzip))
                Path(path).mkdir(parents=True, exist_ok=True)
                (Path(path) / f"{dataset.split('/')[1]}.zip").write_bytes(fake.archive)

            def dataset_download_file(self, dataset: str, file_name: str, path: str, quiet: bool) -> None:
                fake.calls.append(("dataset_download_file", dataset, file_name))
                Path(path).mkdir(parents=True, exist_ok=True)
                if file_name.endswith(".bin"):  # Kaggle zips large files on the way
                    (Path(path) / f"{file_name}.zip").write_bytes(make_zip({file_name: b"big"}))
                else:
                    (Path(path) / file_name).write_bytes(b"small")

        return Api()


def test_kaggle_with_credentials_calls_the_api_and_caches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0123")
    fake = FakeKaggle(ARCHIVE)
    monkeypatch.setitem(sys.modules, "kaggle", fake.module)
    out = tmp_path / "prosopo"
    assert fetch(KaggleSource("cantonioupao/prosopo"), out, progress=False) == out
    assert fake.calls == [("authenticate",), ("dataset_download_files", "cantonioupao/prosopo", True, False)]
    assert (out / "set" / "input" / "0001.png").is_file() and hidden_leftovers(tmp_path) == []
    monkeypatch.delitem(sys.modules, "kaggle")
    monkeypatch.delenv("KAGGLE_KEY")
    assert fetch(KaggleSource("cantonioupao/prosopo"), out) == out  # cache hit: no import, no credentials needed
    assert "kaggle" not in sys.modules and len(fake.calls) == 2


def test_kaggle_json_and_single_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "home" / ".kaggle").mkdir()
    (tmp_path / "home" / ".kaggle" / "kaggle.json").write_text('{"username": "u", "key": "k"}')
    assert kaggle_credentials().endswith("kaggle.json")
    fake = FakeKaggle(ARCHIVE)
    monkeypatch.setitem(sys.modules, "kaggle", fake.module)
    out = fetch(KaggleSource("o/n", files=["a.csv", "big.bin"]), tmp_path / "files", progress=False)
    assert (out / "a.csv").read_bytes() == b"small" and (out / "big.bin").read_bytes() == b"big"
    assert fake.calls[1:] == [("dataset_download_file", "o/n", "a.csv"), ("dataset_download_file", "o/n", "big.bin")]
    single = fetch(KaggleSource("o/n", files=["a.csv"]), tmp_path / "one", progress=False)
    assert single == tmp_path / "one" / "a.csv"
    with pytest.raises(KaggleDatasetUnknownError, match="--kaggle-dataset OWNER/NAME"):
        fetch(KaggleSource(None), tmp_path / "x")
    with pytest.raises(KaggleDatasetUnknownError, match="not a Kaggle dataset name"):
        fetch(KaggleSource("just-a-name"), tmp_path / "x")


def test_colab_secrets_are_used_when_nothing_else_is_there(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = {"KAGGLE_USERNAME": "colab-user", "KAGGLE_KEY": "colab-key"}
    monkeypatch.setattr(fetch_kaggle, "_colab_secret", secrets.get)
    assert kaggle_credentials().startswith("Colab secrets")
    assert os.environ["KAGGLE_USERNAME"] == "colab-user" and os.environ["KAGGLE_KEY"] == "colab-key"


# ------------------------------------------------------------------------------------------------ Google Drive
def test_gdown_missing_is_an_import_error_with_the_pip_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gdown", None)  # makes `import gdown` fail
    with pytest.raises(ImportError, match="pip install gdown"):
        fetch(GoogleDriveSource(file_id="abc"), tmp_path / "out")
    assert not (tmp_path / "out").exists()


class FakeGdown:
    """A stand-in for ``gdown``: ``download`` writes one file, ``download_folder`` a small tree."""

    def __init__(self, payload: bytes, name: str) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.module = types.ModuleType("gdown")
        self.module.download = self.download  # type: ignore[attr-defined]
        self.module.download_folder = self.download_folder  # type: ignore[attr-defined]
        self.payload, self.name = payload, name

    def download(self, *, id: str, output: str, quiet: bool, resume: bool) -> str:
        self.calls.append(("download", id, quiet, resume))
        path = Path(output + self.name) if output.endswith(("/", "\\")) else Path(output)
        leftovers = sorted(path.parent.glob("*.part")) if resume else []
        head = leftovers[0].read_bytes() if leftovers else b""  # as gdown resumes: the earlier bytes, then the rest
        path.write_bytes(head + self.payload[len(head):])
        for leftover in leftovers:
            leftover.unlink()
        return str(path)

    def download_folder(self, *, id: str, output: str, quiet: bool) -> list[str]:  # no resume: as in gdown 4
        self.calls.append(("download_folder", id))
        (Path(output) / "images").mkdir(parents=True)
        (Path(output) / "images" / "0.png").write_bytes(self.payload)
        return [str(Path(output) / "images" / "0.png")]


def test_google_drive_file_folder_and_checksum(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeGdown(ARCHIVE, "Coarse_Dataset.zip")
    monkeypatch.setitem(sys.modules, "gdown", fake.module)
    out = fetch(GoogleDriveSource(file_id="abc", sha256=sha(ARCHIVE)), tmp_path / "coarse", progress=False)
    assert out == tmp_path / "coarse" and (out / "set" / "depth128x128" / "0001.png").is_file()
    assert fake.calls == [("download", "abc", True, True)] and hidden_leftovers(tmp_path) == []
    labels = fetch(GoogleDriveSource(file_id="def", filename="dataset.json"), tmp_path / "labels", progress=False)
    assert labels == tmp_path / "labels" / "dataset.json" and labels.read_bytes() == ARCHIVE
    folder = fetch(GoogleDriveSource(folder_id="fold"), tmp_path / "synthetic", progress=False)
    assert (folder / "images" / "0.png").is_file()
    with pytest.raises(ChecksumError, match="sha256 mismatch"):
        fetch(GoogleDriveSource(file_id="ghi", sha256="0" * 64), tmp_path / "bad", progress=False)
    assert not (tmp_path / "bad").exists()
    calls = len(fake.calls)
    assert fetch(GoogleDriveSource(file_id="abc", sha256=sha(ARCHIVE)), tmp_path / "coarse") == out  # cached
    assert len(fake.calls) == calls


def test_google_drive_resumes_an_earlier_run_only_when_the_sha256_can_catch_a_splice(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeGdown(b"version B of the labels", "dataset.json")
    monkeypatch.setitem(sys.modules, "gdown", fake.module)
    source = GoogleDriveSource(file_id="def", filename="dataset.json")
    partial = tmp_path / f".labels.{source_key(source)}.part"
    partial.mkdir()
    (partial / "dataset.jsonab12cd34.part").write_bytes(b"version A, half")  # left by an interrupted run
    out = fetch(source, tmp_path / "labels", progress=False)
    assert out.read_bytes() == b"version B of the labels"
    assert fake.calls == [("download", "def", True, False)]  # gdown would resume without If-Range: not asked to
    assert hidden_leftovers(tmp_path) == []
    verified = GoogleDriveSource(file_id="def", filename="dataset.json", sha256=sha(fake.payload))
    fetch(verified, tmp_path / "checked", progress=False)
    assert fake.calls[-1] == ("download", "def", True, True)


def test_google_drive_refusal_names_the_page(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(**kwargs: Any) -> str:
        raise RuntimeError("Cannot retrieve the public link of the file")

    module = types.ModuleType("gdown")
    module.download = refuse  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gdown", module)
    source = GoogleDriveSource(file_id="0B0A", resource_key="0-xyz")
    with pytest.raises(DownloadError, match=r"drive.google.com/file/d/0B0A/view\?resourcekey=0-xyz.*by hand"):
        fetch(source, tmp_path / "out", progress=False)
    assert hidden_leftovers(tmp_path) == []  # nothing partial to resume: no partial folder kept


# ------------------------------------------------------------------------------------------------ Hugging Face
def fake_lpff_snapshot(calls: list[dict[str, Any]]) -> Any:
    def snapshot_download(**kwargs: Any) -> str:
        calls.append(kwargs)
        root = Path(kwargs["local_dir"]) / "LPFF-dataset"
        (root / "crop").mkdir(parents=True)
        (root / "camera_parameters.json").write_text('{"x_01": []}')
        (root / "crop" / "eg3d.zip").write_bytes(make_zip({"eg3d/x_01.png": b"png"}))
        (Path(kwargs["local_dir"]) / ".cache" / "huggingface").mkdir(parents=True)
        return kwargs["local_dir"]

    return snapshot_download


def test_hugging_face_snapshot_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_lpff_snapshot(calls))
    source = HuggingFaceSource("onethousand/LPFF", subfolder="LPFF-dataset",
                               allow_patterns=["LPFF-dataset/camera_parameters.json", "LPFF-dataset/crop/eg3d.zip"])
    out = fetch(source, tmp_path / "lpff", progress=False)
    assert (out / "camera_parameters.json").is_file() and (out / "crop" / "eg3d" / "x_01.png").is_file()
    assert not (out / "crop" / "eg3d.zip").exists() and not (out / ".cache").exists()
    assert calls[0]["repo_id"] == "onethousand/LPFF" and calls[0]["repo_type"] == "dataset"
    assert calls[0]["allow_patterns"] == list(source.allow_patterns or ())
    assert fetch(source, tmp_path / "lpff") == out and len(calls) == 1

    def hf_hub_download(**kwargs: Any) -> str:
        path = Path(kwargs["local_dir"]) / kwargs["filename"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("{}")
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
    got = fetch(HuggingFaceSource("onethousand/LPFF", filename="files/dataset-ffhq.json"), tmp_path / "f")
    assert got == tmp_path / "f" / "dataset-ffhq.json" and got.read_text() == "{}"


def test_hugging_face_offline_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def offline(**kwargs: Any) -> str:
        raise huggingface_hub.errors.LocalEntryNotFoundError("cannot find the requested files in the disk cache")

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", offline)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DownloadError, match="offline.*HF_HUB_OFFLINE is set.*huggingface.co/datasets/o/n"):
        fetch(HuggingFaceSource("o/n", filename="a.json"), tmp_path / "out")
    assert not (tmp_path / "out").exists() and hidden_leftovers(tmp_path) == []


# ------------------------------------------------------------------------------------------------ registry
def test_licence_gate_blocks_download_until_accepted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_lpff_snapshot(calls))
    shown: list[str] = []
    with pytest.raises(registry.LicenceNotAcceptedError, match="--accept-licence"):
        registry.download("lpff", tmp_path / "lpff", echo=shown.append)  # pytest's stdin is no terminal
    assert "non-commercial research" in shown[0] and registry.get("lpff").licence_url in shown[0]
    with pytest.raises(registry.LicenceNotAcceptedError):
        registry.download("lpff", tmp_path / "lpff", ask=lambda question: False, echo=shown.append)
    assert calls == [] and not (tmp_path / "lpff").exists()
    root = registry.download("lpff", tmp_path / "lpff", ask=lambda question: True, echo=shown.append, progress=False)
    assert root == tmp_path / "lpff" and registry.check_layout(registry.get("lpff"), root) == [] and len(calls) == 1


@pytest.fixture
def local_labels(server: FileServer, monkeypatch: pytest.MonkeyPatch) -> FileServer:
    """ffhq-eg3d-labels pointed at the test server: dataset.json (first mirror 404) and the replicas file."""
    server.files["dataset.json"] = b'{"labels": []}'
    server.files["num_replicas.json"] = b'{"0": 1}'
    entry = registry.get("ffhq-eg3d-labels")
    sources = (
        SourceOption(HttpSource(server.url("gone.json"), filename="dataset.json"), part="dataset.json"),
        SourceOption(HttpSource(server.url("dataset.json")), part="dataset.json"),
        SourceOption(HttpSource(server.url("num_replicas.json"), sha256=sha(b'{"0": 1}'),
                                         filename="FFHQ_num_replicas.json"), part="FFHQ_num_replicas.json"),
    )
    monkeypatch.setitem(registry.REGISTRY, "ffhq-eg3d-labels", dataclasses.replace(entry, sources=sources))
    return server


def test_registry_download_tries_alternatives_and_fetches_every_part(local_labels: FileServer,
                                                                     tmp_path: Path) -> None:
    root = registry.download("ffhq-eg3d-labels", tmp_path / "labels", accept_licence=True, progress=False,
                             echo=lambda text: None)
    assert root == tmp_path / "labels"
    assert (root / "dataset.json").read_bytes() == b'{"labels": []}'
    assert (root / "FFHQ_num_replicas.json").read_bytes() == b'{"0": 1}'
    assert [r.path for r in local_labels.requests] == ["/gone.json", "/dataset.json", "/num_replicas.json"]
    registry.download("ffhq-eg3d-labels", tmp_path / "labels", accept_licence=True, echo=lambda text: None)
    assert len(local_labels.requests) == 3  # everything cached


def test_registry_entries_are_consistent() -> None:
    names = registry.names()
    assert len(names) == len(set(names)) and set(names) == {
        "prosopo", "eg3d-synthetic", "lpff", "ffhq-eg3d-labels", "3dfacenet-coarse", "3dfacenet-fine"}
    kinds = {"http", "google-drive", "kaggle", "hugging-face", "manual"}
    for name in names:
        info = registry.get(name)
        assert info.name == name == name.lower() and info.title and info.description and info.reader_notes
        assert info.licence and info.licence_text and info.licence_url.startswith("https://")
        assert info.converter is None or registry.CONVERTER_PATTERN.match(info.converter), info.converter
        assert info.sources and all(option.kind in kinds for option in info.sources)
        assert all(option.found_in for option in info.sources)
        for options in info.parts().values():  # every part has a way to get it, at least by hand
            assert options
        for option in info.sources:
            if isinstance(option.source, HttpSource):
                assert option.source.url.startswith("https://")
        if info.converter is not None and importlib.util.find_spec(info.converter.split(":")[0]) is not None:
            assert callable(registry.load_converter(info))  # a module that exists must have the named function
    assert registry.get("PROSOPO") is registry.get("prosopo")
    with pytest.raises(registry.DatasetRegistryError, match="unknown dataset 'ffhq'.*prosopo"):
        registry.get("ffhq")


def test_find_root_looks_one_folder_down(tmp_path: Path) -> None:
    info = registry.get("prosopo")
    (tmp_path / "wrapped" / "prosopo" / "input").mkdir(parents=True)
    (tmp_path / "wrapped" / "prosopo" / "depth128x128").mkdir()
    assert registry.find_root(info, tmp_path / "wrapped") == tmp_path / "wrapped" / "prosopo"
    assert registry.check_layout(info, tmp_path / "wrapped") == ["input/", "depth128x128/"]


# ------------------------------------------------------------------------------------------------ command line
def test_cli_list_and_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in registry.names():
        assert name in out
    assert "kaggle?" in out  # the synthetic set's unverified Kaggle copy
    assert cli.main(["datasets", "info", "prosopo"]) == 0
    out = capsys.readouterr().out
    assert "cantonioupao/prosopo-a-face-dataset-for-3d-reconstruction" in out and "Licence" in out
    assert cli.main(["datasets", "info", "nope"]) == 2  # a user error: one line, exit code 2
    assert "unknown dataset" in capsys.readouterr().err
    assert cli.main(["datasets"]) == 2


def test_cli_download_needs_the_licence_flag(local_labels: FileServer, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    args = ["datasets", "download", "ffhq-eg3d-labels", "--out", str(tmp_path / "l"), "--no-progress"]
    assert cli.main(args) == 2
    captured = capsys.readouterr()
    assert "NVIDIA Source Code License" in captured.out and "--accept-licence" in captured.err
    assert local_labels.requests == []
    assert cli.main([*args, "--accept-licence"]) == 0
    assert (tmp_path / "l" / "FFHQ_num_replicas.json").is_file()


def test_cli_convert_dispatches_or_explains(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    received: list[tuple[Any, ...]] = []

    def convert(src: Path, out: Path, *, rebalance: bool = False, limit: int | None = None,
                progress: bool = True) -> Path:
        received.append((src, out, rebalance, limit, progress))
        return out

    module = types.ModuleType("fake_converter_module")
    module.convert = convert  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "fake_converter_module", module)
    entry = registry.get("lpff")
    monkeypatch.setitem(registry.REGISTRY, "lpff", dataclasses.replace(entry, converter="fake_converter_module:convert"))
    args = ["datasets", "convert", "lpff", str(tmp_path / "src"), "--out", str(tmp_path / "dst")]
    assert cli.main([*args, "--set", "rebalance=true", "--limit", "3", "--no-progress"]) == 0
    assert received == [(tmp_path / "src", tmp_path / "dst", True, 3, False)]
    assert cli.main([*args, "--set", "colour=red"]) == 2
    assert "unexpected keyword argument 'colour'" in capsys.readouterr().err
    assert cli.main([*args, "--bfm", str(tmp_path)]) == 2
    assert "--bfm is for the 3DFaceNet converters" in capsys.readouterr().err
    monkeypatch.setitem(registry.REGISTRY, "lpff", dataclasses.replace(entry, converter="helpers.datasets.not_yet:convert"))
    assert cli.main(args) == 2
    assert "not available in this version" in capsys.readouterr().err
    assert cli.main(["datasets", "convert", "ffhq-eg3d-labels", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "has no converter" in capsys.readouterr().err
    assert cli.main(["datasets", "convert", "3dfacenet-fine", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "pass --bfm DIR" in capsys.readouterr().err
