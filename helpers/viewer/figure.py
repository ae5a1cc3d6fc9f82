"""plotly figures of meshes, images and depth maps.

Conventions:

- ``view="eg3d"``: meshes in the EG3D world frame (y up, the face looks towards +z). The scene
  camera looks at the face from the front (from +z), y up, like the frontal EG3D camera at
  (0, 0, 2.7) looking at (0, 0, 0.2).
- ``view="camera"``: meshes in an OpenCV camera frame (x right, y down, z forward). The view
  is the camera's own: looking along +z with y pointing down, so the mesh appears as it does
  in the image (drawn turned 180 degrees about x, see :class:`ViewPreset`).
- ``color="depth"`` colours vertices by their depth along the preset's viewing direction, in
  world units (EG3D: 2.7 - z, i.e. distance in front of the frontal camera; camera: z), near =
  bright.
- Depth maps are (H, W) z-depth in world units; 0 or NaN = no surface (drawn blank).

Figures are plain :class:`plotly.graph_objects.Figure` objects (no FigureWidget), so they work
in Jupyter, Colab, VS Code and standalone HTML files alike.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Union

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from helpers.base.depth_png import valid_depth
from helpers.mesh.mesh import Mesh
from helpers.viewer.simplify import simplify_for_display

ColorMode = Literal["shaded", "depth", "vertex"]
ViewName = Literal["eg3d", "camera"]


@dataclass(frozen=True)
class ViewPreset:
    """A scene camera preset.

    ``eye``/``up`` are plotly scene-camera values: ``eye`` is in units of the scene box (about
    1 = box half-size), not world units. ``display_signs`` multiplies the vertex coordinates
    before drawing; the camera preset uses (1, -1, -1), a 180 degree rotation about x that
    turns the OpenCV frame (y down, z forward) into a y-up frame seen from +z. Why: plotly's
    Mesh3d lighting only works when the scene camera is on the +z side of the data (from -z,
    e.g. looking along +z, the whole mesh renders dark whatever the light position), so the
    mesh is turned instead of the camera. Axis values (off by default) then show the turned
    coordinates. ``viewer``/``direction`` (world units, unit vector, in the mesh's own frame)
    define the depth used by ``color="depth"``: ``(p - viewer) . direction``.
    """

    eye: tuple[float, float, float]
    up: tuple[float, float, float]
    display_signs: tuple[float, float, float]
    viewer: tuple[float, float, float]
    direction: tuple[float, float, float]

    def plotly_camera(self) -> dict[str, Any]:
        return {
            "eye": dict(zip("xyz", self.eye)),
            "up": dict(zip("xyz", self.up)),
            "center": {"x": 0.0, "y": 0.0, "z": 0.0},
            "projection": {"type": "perspective"},
        }

    def depth_of(self, points: np.ndarray) -> np.ndarray:
        offset = np.asarray(points, dtype=np.float64) - np.asarray(self.viewer)
        return offset @ np.asarray(self.direction)


VIEWS: dict[str, ViewPreset] = {
    # Front view, y up; depth = distance in front of the frontal EG3D camera (0, 0, 2.7).
    "eg3d": ViewPreset(eye=(0.0, 0.0, 1.7), up=(0.0, 1.0, 0.0), display_signs=(1.0, 1.0, 1.0),
                       viewer=(0.0, 0.0, 2.7), direction=(0.0, 0.0, -1.0)),
    # The camera's own view of a camera-frame mesh (x right, y down, looking along +z); depth = z.
    "camera": ViewPreset(eye=(0.0, 0.0, 1.7), up=(0.0, 1.0, 0.0), display_signs=(1.0, -1.0, -1.0),
                         viewer=(0.0, 0.0, 0.0), direction=(0.0, 0.0, 1.0)),
}


@dataclass(frozen=True)
class Lighting:
    """plotly Mesh3d lighting (all factors in [0, 1] except ``roughness``/``fresnel`` ranges).

    plotly interprets ``position`` in the viewer's clip space, so the light moves with the
    camera (a "head light" above and to the right); the defaults give soft, matte, skin-like
    shading with visible relief. The final colour is ``min(ambient + diffuse * cos, 1) *
    colour + specular * highlight``.
    """

    ambient: float = 0.3
    diffuse: float = 0.7
    specular: float = 0.12
    roughness: float = 0.6
    fresnel: float = 0.05
    position: tuple[float, float, float] = (-7e4, 1e5, -1.5e3)

    def plotly_lighting(self) -> dict[str, float]:
        return {
            "ambient": self.ambient,
            "diffuse": self.diffuse,
            "specular": self.specular,
            "roughness": self.roughness,
            "fresnel": self.fresnel,
        }

    def plotly_position(self) -> dict[str, float]:
        return dict(zip("xyz", self.position))


@dataclass(frozen=True)
class MeshStyle:
    """How a mesh is drawn.

    Attributes:
        color: "shaded" (one base colour + lighting), "depth" (colour map of the depth along
            the view direction, with a colour bar) or "vertex" (the mesh's vertex colours).
        view: scene camera preset, see :data:`VIEWS`.
        max_faces: meshes with more faces are reduced for display by vertex clustering
            (:func:`helpers.viewer.simplify.simplify_for_display`); ``None`` draws all faces.
        base_color: CSS colour for ``color="shaded"``.
        colorscale: plotly colour scale for ``color="depth"``.
        lighting: see :class:`Lighting`.
        show_axes: draw axes, grid and background box (off by default: they distract).
        height: figure height in pixels.
    """

    color: ColorMode = "shaded"
    view: ViewName = "eg3d"
    max_faces: int | None = 200_000
    base_color: str = "#d8b49c"
    colorscale: str = "Viridis"
    lighting: Lighting = field(default_factory=Lighting)
    show_axes: bool = False
    height: int = 600

    def __post_init__(self) -> None:
        if self.color not in ("shaded", "depth", "vertex"):
            raise ValueError(f"color must be 'shaded', 'depth' or 'vertex', got {self.color!r}")
        if self.view not in VIEWS:
            raise ValueError(f"view must be one of {sorted(VIEWS)}, got {self.view!r}")
        if self.max_faces is not None and self.max_faces < 1:
            raise ValueError(f"max_faces must be >= 1 or None, got {self.max_faces}")


@dataclass(frozen=True)
class ViewerSample:
    """One item to show: any of an input image, a depth map and a mesh.

    Attributes:
        name: label in titles and sample selectors.
        mesh: optional :class:`Mesh`.
        image: optional (H, W, 3) RGB, uint8 or float in [0, 1] ((H, W) grey and (H, W, 4)
            RGBA are accepted too); stored as uint8 RGB.
        depth: optional (H, W) z-depth in world units, 0 or NaN (any value <= 0 or not
            finite) = no surface; stored as float32 with NaN for no surface.
    """

    name: str
    mesh: Mesh | None = None
    image: np.ndarray | None = None
    depth: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.image is not None:
            object.__setattr__(self, "image", _as_rgb_uint8(self.image))
        if self.depth is not None:
            depth = np.array(self.depth, dtype=np.float32)
            if depth.ndim != 2:
                raise ValueError(f"depth must have shape (H, W), got {depth.shape}")
            depth[~valid_depth(depth)] = np.nan
            object.__setattr__(self, "depth", depth)
        if self.mesh is not None and not isinstance(self.mesh, Mesh):
            raise TypeError(f"mesh must be a helpers.mesh.Mesh, got {type(self.mesh).__name__}")

    @property
    def is_empty(self) -> bool:
        return self.mesh is None and self.image is None and self.depth is None


SampleLike = Union[ViewerSample, Mesh, tuple[str, Mesh]]


def as_samples(items: SampleLike | Iterable[SampleLike]) -> list[ViewerSample]:
    """Normalise a sample, a Mesh, a (name, Mesh) pair or a sequence of them to ViewerSamples.

    Unnamed meshes are called "mesh 0", "mesh 1", ...
    """
    if isinstance(items, (ViewerSample, Mesh)) or _is_named_mesh(items):
        items = [items]  # type: ignore[list-item]
    samples = []
    for i, item in enumerate(items):  # type: ignore[union-attr]
        if isinstance(item, ViewerSample):
            samples.append(item)
        elif isinstance(item, Mesh):
            samples.append(ViewerSample(f"mesh {i}", mesh=item))
        elif _is_named_mesh(item):
            samples.append(ViewerSample(str(item[0]), mesh=item[1]))
        else:
            raise TypeError(f"item {i}: expected a ViewerSample, a Mesh or a (name, Mesh) pair, got {type(item).__name__}")
    return samples


def _is_named_mesh(item: object) -> bool:
    return isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str) and isinstance(item[1], Mesh)


def _as_rgb_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 2:
        image = np.repeat(image[..., None], 3, axis=2)
    if image.ndim != 3 or image.shape[2] not in (3, 4):
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    image = image[..., :3]
    if np.issubdtype(image.dtype, np.floating):
        image = np.rint(np.clip(image, 0.0, 1.0) * 255.0)
    elif image.dtype != np.uint8 and image.max(initial=0) > 255:
        raise ValueError(f"integer images must be 0..255, got max {image.max()}")
    return np.ascontiguousarray(image.astype(np.uint8))


def _hex_colors(colors: np.ndarray) -> np.ndarray:
    """(V, 3) uint8 -> (V,) '#rrggbb' strings, vectorised through a 256-entry lookup table."""
    table = np.array([f"{v:02x}" for v in range(256)])
    hexes = table[colors]
    return np.char.add(np.char.add(np.char.add("#", hexes[:, 0]), hexes[:, 1]), hexes[:, 2])


def _png_data_uri(image: np.ndarray) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def mesh_trace(mesh: Mesh, style: MeshStyle = MeshStyle(), *, name: str = "mesh", colorbar_x: float | None = None) -> go.Mesh3d:
    """A shaded :class:`plotly.graph_objects.Mesh3d` for ``mesh`` (reduced to ``style.max_faces``)."""
    if style.color == "vertex" and mesh.vertex_colors is None:
        raise ValueError("color='vertex' needs a mesh with vertex_colors; use color='shaded' or 'depth'")
    if style.max_faces is not None:
        mesh = simplify_for_display(mesh, style.max_faces)
    preset = VIEWS[style.view]
    v = mesh.vertices * np.asarray(preset.display_signs, dtype=np.float32)  # a rotation: winding kept
    f = mesh.faces.astype(np.int32)  # plotly.js has no int64 typed arrays
    kwargs: dict[str, Any] = {}
    if style.color == "shaded":
        kwargs["color"] = style.base_color
    elif style.color == "vertex":
        kwargs["vertexcolor"] = _hex_colors(mesh.vertex_colors)  # type: ignore[arg-type]
    else:
        colorbar: dict[str, Any] = {"title": {"text": "depth"}, "len": 0.75}
        if colorbar_x is not None:
            colorbar["x"] = colorbar_x
        kwargs.update(
            intensity=preset.depth_of(mesh.vertices).astype(np.float32),
            intensitymode="vertex",
            colorscale=style.colorscale,
            reversescale=True,  # near = bright
            showscale=True,
            colorbar=colorbar,
        )
    return go.Mesh3d(
        x=v[:, 0], y=v[:, 1], z=v[:, 2], i=f[:, 0], j=f[:, 1], k=f[:, 2],
        name=name,
        flatshading=False,  # smooth shading from plotly's per-vertex normals
        lighting=style.lighting.plotly_lighting(),
        lightposition=style.lighting.plotly_position(),
        hoverinfo="skip",  # picking 100k+ faces on hover makes rotation sluggish
        **kwargs,
    )


def scene_layout(style: MeshStyle) -> dict[str, Any]:
    """plotly ``layout.scene`` settings: equal axis scales, camera preset, axes off by default."""
    axis = {"visible": style.show_axes, "showgrid": style.show_axes, "showbackground": style.show_axes, "title": ""}
    return {
        "aspectmode": "data",
        "camera": VIEWS[style.view].plotly_camera(),
        "xaxis": axis,
        "yaxis": axis,
        "zaxis": axis,
        "dragmode": "orbit",
    }


def mesh_figure(
    mesh: Mesh,
    *,
    color: ColorMode = "shaded",
    view: ViewName = "eg3d",
    title: str | None = None,
    max_faces: int | None = 200_000,
    base_color: str = MeshStyle.base_color,
    colorscale: str = MeshStyle.colorscale,
    lighting: Lighting | None = None,
    show_axes: bool = False,
    height: int = MeshStyle.height,
) -> go.Figure:
    """An interactive, shaded 3D view of ``mesh``; see :class:`MeshStyle` for the arguments."""
    style = MeshStyle(color, view, max_faces, base_color, colorscale, lighting or Lighting(), show_axes, height)
    if mesh.is_empty:
        raise ValueError("the mesh has no faces: nothing to show")
    fig = go.Figure(mesh_trace(mesh, style))
    fig.update_layout(
        scene=scene_layout(style),
        title={"text": title} if title else None,
        height=style.height,
        margin={"l": 0, "r": 0, "b": 0, "t": 40 if title else 0},
        paper_bgcolor="white",
    )
    return fig


_PANELS = ("image", "depth", "mesh")
_PANEL_TITLES = {"image": "input image", "depth": "depth map", "mesh": "mesh"}


def _panels(sample: ViewerSample) -> list[str]:
    return [p for p in _PANELS if getattr(sample, p) is not None and not (p == "mesh" and sample.mesh.is_empty)]  # type: ignore[union-attr]


def samples_figure(samples: SampleLike | Sequence[SampleLike], style: MeshStyle = MeshStyle(), *, dropdown: bool = True) -> go.Figure:
    """All samples in one figure: image, depth and mesh panels side by side, one sample shown
    at a time, switched by a plotly dropdown menu (no Python needed: works in saved HTML).

    Panels are the union over samples; a sample lacking a panel leaves it empty. Every
    sample's data is in the figure, so its size grows with the number of samples: lower
    ``style.max_faces`` for long lists (each mesh costs about 25 bytes per face in HTML).
    """
    samples = as_samples(samples)
    if not samples:
        raise ValueError("no samples to show")
    for s in samples:
        if not _panels(s):
            raise ValueError(f"sample {s.name!r} has no image, depth map or non-empty mesh to show")
    panels = [p for p in _PANELS if any(p in _panels(s) for s in samples)]
    specs = [[{"type": "scene" if p == "mesh" else "xy"} for p in panels]]
    widths = [1.6 if p == "mesh" else 1.0 for p in panels]  # the 3D view gets the most room
    fig = make_subplots(
        rows=1, cols=len(panels), specs=specs, column_widths=[w / sum(widths) for w in widths],
        subplot_titles=[_PANEL_TITLES[p] for p in panels], horizontal_spacing=0.06,
    )
    col = {p: i + 1 for i, p in enumerate(panels)}
    domain = {p: fig.get_subplot(1, col[p]) for p in panels}

    owner: list[int] = []  # sample index of each trace, for the dropdown's visibility masks
    for index, sample in enumerate(samples):
        for panel in _panels(sample):
            trace = _panel_trace(sample, panel, style, domain[panel])
            trace.visible = index == 0
            fig.add_trace(trace, row=1, col=col[panel])
            owner.append(index)

    for panel in panels:
        if panel == "mesh":
            continue
        axis = {"visible": False, "constrain": "domain"}
        fig.update_xaxes(axis, row=1, col=col[panel])
        # Square pixels, row 0 at the top (go.Image does this itself; the heatmap needs it).
        x_name = "x" if col[panel] == 1 else f"x{col[panel]}"
        fig.update_yaxes({**axis, "autorange": "reversed", "scaleanchor": x_name}, row=1, col=col[panel])
    if "mesh" in panels:
        fig.update_scenes(scene_layout(style), row=1, col=col["mesh"])

    top = 90 if dropdown and len(samples) > 1 else 60
    fig.update_layout(
        title={"text": samples[0].name, "x": 0.5},
        height=style.height,
        margin={"l": 10, "r": 10, "b": 10, "t": top},
        paper_bgcolor="white",
        plot_bgcolor="white",
        showlegend=False,
    )
    if dropdown and len(samples) > 1:
        owners = np.asarray(owner)
        buttons = [
            {"label": s.name, "method": "update", "args": [{"visible": (owners == i).tolist()}, {"title.text": s.name}]}
            for i, s in enumerate(samples)
        ]
        fig.update_layout(
            updatemenus=[{"type": "dropdown", "buttons": buttons, "active": 0, "x": 0.0, "y": 1.0,
                          "xanchor": "left", "yanchor": "bottom", "pad": {"b": 30}, "showactive": True}]
        )
    return fig


def _panel_trace(sample: ViewerSample, panel: str, style: MeshStyle, subplot: Any) -> go.BaseTraceType:
    if panel == "image":
        # A PNG data URI is ~10x smaller in the HTML than the pixel array as JSON.
        return go.Image(source=_png_data_uri(sample.image), name=f"{sample.name} image", hoverinfo="skip")  # type: ignore[arg-type]
    right = subplot.xaxis.domain[1] if panel == "depth" else subplot.domain.x[1]
    if panel == "depth":
        return go.Heatmap(
            z=sample.depth, colorscale=style.colorscale, reversescale=True, name=f"{sample.name} depth",
            # NaN (no surface) cells are not drawn: they stay background-coloured.
            hoverongaps=False, colorbar={"title": {"text": "depth"}, "x": right + 0.005, "len": 0.75},
        )
    return mesh_trace(sample.mesh, style, name=f"{sample.name} mesh", colorbar_x=right)  # type: ignore[arg-type]


def sample_figure(sample: SampleLike, style: MeshStyle = MeshStyle()) -> go.Figure:
    """Input image, depth map and mesh of one sample side by side (panels it lacks are left out)."""
    samples = as_samples(sample)
    if len(samples) != 1:
        raise ValueError(f"sample_figure shows one sample, got {len(samples)}; use samples_figure")
    return samples_figure(samples, style, dropdown=False)
