"""The registry's entries: every public dataset the toolkit knows, with its sources (where each was verified), licence,
expected layout and converter. :mod:`helpers.datasets.catalogue` indexes them by name."""

from __future__ import annotations

from helpers.datasets.dataset_info import DatasetInfo, SourceOption
from helpers.download.sources import GoogleDriveSource, HttpSource, HuggingFaceSource, KaggleSource, ManualSource

__all__ = ["ENTRIES"]

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

ENTRIES: tuple[DatasetInfo, ...] = (
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
        converter="helpers.datasets.original_layouts:convert_original",
        reader_notes=("Read in place: helpers.datasets.original_layouts.OriginalFolder(root, layout='prosopo') and "
                      "helpers.depth.data.depth_dataset (source 'prosopo'); convert_original copies images, latents and "
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
        converter="helpers.datasets.original_layouts:convert_original",
        reader_notes=("Read in place: helpers.datasets.original_layouts.OriginalFolder(root, layout='synthetic') and "
                      "helpers.depth.data.depth_dataset (source 'synthetic'); convert_original copies images, cameras, "
                      "latents, the 8-bit depth and meshes into the toolkit's folder. images/ 512² RGB, depth128x128/ 8-bit depth "
                      "normalised per image, cam_poses/ (1, 25) cameras rendered with focal 4.4652, latent/ "
                      "(1, 14, 512) ws, shapes/ meshes in voxel units (docs/data-formats.md)."),
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
                     "and the StyleGAN crops are in the same repository (unpack crop/stylegan.zip to crop/stylegan/ "
                     "and put realign2400/ beside it: convert copies them too)"),
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
        converter="helpers.datasets.lpff.lpff_convert:convert_lpff",
        reader_notes=("helpers.datasets.lpff.lpff_convert.LpffFolder reads the folder (camera_parameters.json, info.json, crops in "
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
        reader_notes=("helpers.datasets.ffhq_labels: FfhqLabels (cameras by image name / FFHQ id), read_num_replicas and "
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
        converter="helpers.datasets.facenet3d.facenet3d_convert:convert_coarse",
        reader_notes=("helpers.datasets.facenet3d: read_coarse_params, load_coarse_sample; convert_coarse writes "
                      "training data in EG3D's frame and units (needs --bfm DIR with 01_MorphableModel.mat from the "
                      "BFM registration, Exp_Pca.bin and a trimming index; helpers.datasets.facenet3d.bfm_files names "
                      "each missing file and where to get it). The layout inside the archive is not documented by the "
                      "authors (docs/design/datasets.md, facenet3d_data, describes what is known)."),
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
        converter="helpers.datasets.facenet3d.facenet3d_convert:convert_fine",
        reader_notes=("Distributed as split zip parts to merge as its README.txt says (Juyong/3DFace issue #4). "
                      "helpers.datasets.facenet3d.read_fine_depth reads the depth maps in the plausible encodings and "
                      "returns the stored values; file names, dtype, units and background are not documented. "
                      "convert_fine needs CoarseData-style parameter files beside the images and --bfm DIR, and "
                      "places the maps on the model's depth (FineOptions: sign, background, units)."),
        homepage="https://github.com/Juyong/3DFace",
    ),
)
