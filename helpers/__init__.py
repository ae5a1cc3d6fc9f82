"""Single-image 3D face reconstruction built on EG3D synthetic data.

Sub-packages are organised by concept and imported on demand:

- :mod:`helpers.cameras`   EG3D camera conventions (OpenCV cam2world, normalised intrinsics, 25-vectors)
- :mod:`helpers.mesh`      meshes from density volumes and depth maps, mesh and volume files
- :mod:`helpers.depth_png` 16-bit depth PNG codec and the original's 8-bit format
- :mod:`helpers.viewer`    plotly / ipywidgets mesh viewer and standalone HTML export

World units, conventions and file formats are documented in each module and in the README.
"""

__version__ = "0.1.0"
