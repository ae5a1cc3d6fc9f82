"""Single-image 3D face reconstruction built on EG3D synthetic data.

The package is organised by concept, in layers that import only downwards (docs/architecture.md):

- :mod:`helpers.base`            crash-safe files, where a job runs, photos as arrays, depth PNGs, EG3D cameras
- :mod:`helpers.download`        one cached, resumable, verified downloader (HTTP, Google Drive, Kaggle, HF Hub)
- :mod:`helpers.mesh`            triangle meshes: marching cubes, depth back-projection, mesh and volume files
- :mod:`helpers.viewer`          plotly / ipywidgets mesh viewer, offline HTML pages, screenshots
- :mod:`helpers.dataset_folder`  the toolkit's dataset folder format: layout, manifests, reader, splits, merge
- :mod:`helpers.eg3d`            pure-PyTorch EG3D: generator, checkpoints, one face as a renderable subject
- :mod:`helpers.generation`      synthetic datasets: EG3D samples, the viewpoint mix, the analytic head
- :mod:`helpers.datasets`        public datasets: catalogue, licences, Prosopo, LPFF, FFHQ labels, 3DFaceNet
- :mod:`helpers.training`        the training loop every model shares (resumable, mixed precision, DDP)
- :mod:`helpers.depth`           depth regressors (Attention U-Net, DPT): data, metrics, training, reconstruction
- :mod:`helpers.latent`          latent-code regression: photo → EG3D w → 3D face
- :mod:`helpers.invert`          real photos into EG3D: alignment, camera fit, LPIPS, PTI
- :mod:`helpers.cli`, :mod:`helpers.demo`, :mod:`helpers.notebook`   command line, the demo job, notebook set-up
"""

__version__ = "0.1.0"
