"""Converting the original layouts (published synthetic set, Prosopo) into our dataset folder format."""

from __future__ import annotations

import numpy as np
import pytest

from helpers.dataset_folder.layout import DATASET_JSON, DatasetFolderError
from helpers.dataset_folder.manifest import read_samples
from helpers.dataset_folder.reader import DatasetFolder
from helpers.datasets.original_layouts import OriginalFolder, convert_original
from helpers.depth.data.depth_dataset import DepthDataset
from helpers.generation.head_dataset import HeadDatasetConfig, write_head_dataset


@pytest.mark.parametrize("layout", ["synthetic", "prosopo"])
def test_convert_keeps_every_file_and_resumes(tmp_path, layout):
    src = write_head_dataset(tmp_path / "src", HeadDatasetConfig(count=4, image_size=32, depth_size=16,
                                                                 layout=layout), progress=False)
    original = OriginalFolder(src)
    out = convert_original(src, tmp_path / "out", limit=3, progress=False)
    converted = DatasetFolder(out)
    assert converted.ids == original.ids[:3] and not converted.has_depth
    for stem in converted.ids:
        sample, record = converted.load(stem), converted.records[stem]
        assert np.array_equal(sample.image, original.load(stem).image)
        assert (out / record["files"]["legacy_depth"]).read_bytes() == original.depth_path(stem).read_bytes()
        assert np.allclose(sample.latent, original.read_latent(stem)[0])  # 14 equal rows stored as w
        if layout == "synthetic":
            assert np.allclose(sample.camera, original.read_camera(stem))  # focal as rendered
        else:
            assert "camera" not in record["files"]
    labels = (out / DATASET_JSON).read_text()
    assert (layout == "synthetic") == ("images/" in labels)

    convert_original(src, out, progress=False)  # resume: adds the last sample, repeats none
    assert len(read_samples(out)) == 4
    other = write_head_dataset(tmp_path / "other", HeadDatasetConfig(count=2, image_size=32, depth_size=16,
                                                                      layout=layout), progress=False)
    with pytest.raises(DatasetFolderError, match=r"other settings \(source: "):
        convert_original(other, out, progress=False)
    with pytest.raises(DatasetFolderError, match="original folder instead"):
        DepthDataset(out)
