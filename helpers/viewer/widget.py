"""An ipywidgets sample browser for notebooks (Jupyter, JupyterLab, Colab, VS Code).

It uses only core widgets (Dropdown, IntSlider, Output) that exist in ipywidgets 7.7 (Colab)
and 8.x, and shows plain plotly figures with plotly's own renderer, so it needs neither
FigureWidget nor anywidget. In Colab with ipywidgets 8, run
``from google.colab import output; output.enable_custom_widget_manager()`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import plotly.graph_objects as go

from helpers.viewer.figure import MeshStyle, SampleLike, ViewerSample, as_samples, sample_figure


class MeshViewer:
    """Pick a sample with a dropdown (by name) or a slider (by index); the Output area below
    shows its :func:`sample_figure` (image, depth, mesh).

    Args:
        samples: ViewerSamples, Meshes or (name, Mesh) pairs.
        style: how meshes are drawn.
        renderer: plotly renderer name (None = plotly's default for the environment).
        show: function that draws a figure into the current output; default
            ``fig.show(renderer=renderer)``. Tests and custom front-ends replace it.

    Display it as the last expression of a cell, with ``display(viewer)`` or ``viewer.show()``.
    The figure is built when the viewer is displayed and whenever the selection changes.
    """

    def __init__(
        self,
        samples: SampleLike | Iterable[SampleLike],
        *,
        style: MeshStyle | None = None,
        renderer: str | None = None,
        show: Callable[[go.Figure], None] | None = None,
    ) -> None:
        import ipywidgets as widgets  # optional at import time of helpers.viewer

        self.samples: list[ViewerSample] = as_samples(samples)
        if not self.samples:
            raise ValueError("MeshViewer needs at least one sample")
        self.style = style or MeshStyle()
        self.renderer = renderer
        self._show = show or (lambda fig: fig.show(renderer=self.renderer))
        self.figure: go.Figure | None = None  # what is currently displayed
        self._displayed = False
        self._rendered_index = -1

        self.dropdown = widgets.Dropdown(
            options=[(s.name, i) for i, s in enumerate(self.samples)], value=0, description="sample"
        )
        self.slider = widgets.IntSlider(
            value=0, min=0, max=len(self.samples) - 1, description="index", continuous_update=False
        )
        self.output = widgets.Output()
        controls = [self.dropdown] + ([self.slider] if len(self.samples) > 1 else [])
        self.widget = widgets.VBox([widgets.HBox(controls), self.output])
        # Both controls funnel into select(); it keeps the other one in sync.
        self.dropdown.observe(lambda change: self.select(change["new"]), names="value")
        self.slider.observe(lambda change: self.select(change["new"]), names="value")

    @property
    def index(self) -> int:
        """Index of the selected sample."""
        return int(self.dropdown.value)

    @property
    def current(self) -> ViewerSample:
        return self.samples[self.index]

    def select(self, key: int | str) -> None:
        """Select a sample by index or name and redraw it if the viewer is on screen."""
        index = self._index_of(key)
        if self.dropdown.value != index:
            self.dropdown.value = index  # re-enters select() through the observer
            return
        if self.slider.value != index:
            self.slider.value = index
        if self._displayed and (self.figure is None or self._rendered_index != index):
            self.render()

    def _index_of(self, key: int | str) -> int:
        if isinstance(key, str):
            names = [s.name for s in self.samples]
            if key not in names:
                raise KeyError(f"no sample named {key!r}; names: {names}")
            return names.index(key)
        if not 0 <= key < len(self.samples):
            raise IndexError(f"sample index {key} out of range [0, {len(self.samples)})")
        return int(key)

    def render(self) -> go.Figure:
        """Build the selected sample's figure and draw it into the Output area."""
        self._rendered_index = self.index
        self.figure = sample_figure(self.current, self.style)
        # Captured here and set as the Output widget's state in one update, never `with self.output:`: through
        # that, nbclient (nbmake, nbconvert, papermill) sends widget state on the shell socket while it waits there
        # for the cell's reply, and can miss the reply until its timeout (docs/install.md, "A notebook that waited
        # out its timeout"). Replacing the outputs also swaps figures without flicker.
        self.output.outputs = self._capture(self.figure)
        return self.figure

    def _capture(self, figure: go.Figure) -> tuple[dict, ...]:
        """What ``self._show(figure)`` prints and displays, as Output-widget outputs."""
        from IPython.utils.capture import capture_output

        with capture_output(stdout=True, stderr=True, display=True) as captured:
            self._show(figure)
        outputs: list[dict] = []
        for name, text in (("stdout", captured.stdout), ("stderr", captured.stderr)):
            if text:
                outputs.append({"output_type": "stream", "name": name, "text": text})
        for shown in captured.outputs:
            outputs.append(
                {"output_type": "display_data", "data": shown.data, "metadata": shown.metadata or {}}
            )
        return tuple(outputs)

    def show(self) -> None:
        """Display the viewer in the current notebook cell output."""
        from IPython.display import display

        self._displayed = True
        self.render()
        display(self.widget)

    def _ipython_display_(self) -> None:
        self.show()
