"""Pictures of an inversion for notebooks: the loss curves (live while it runs) and a comparison strip."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from helpers.base.captions import add_colorbar, add_header, column_centres, gray_ramp
from helpers.base.photo import resize_square
from helpers.dataset_folder.preview import depth_to_gray
from helpers.invert.pti import StepLog

__all__ = ["LiveLossCurve", "comparison_strip", "loss_figure"]


def loss_figure(history: Sequence[StepLog]) -> Any:
    """plotly figure: LPIPS and pixel L2 against the step, for the projection (left) and the tuning (right)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=("projection (w)", "pivotal tuning (weights)"))
    for col, stage in enumerate(("projection", "tuning"), start=1):
        rows = [h for h in history if h.stage == stage]
        steps = [h.step for h in rows]
        for key, color in (("lpips", "#1f77b4"), ("l2", "#ff7f0e")):
            fig.add_trace(go.Scatter(x=steps, y=[getattr(h, key) for h in rows], name=key, mode="lines",
                                     line={"color": color}, showlegend=col == 1), row=1, col=col)
        fig.update_xaxes(title_text="step", row=1, col=col)
    fig.update_yaxes(type="log")
    fig.update_layout(height=320, margin={"l": 40, "r": 10, "t": 40, "b": 40})
    return fig


class LiveLossCurve:
    """An ``on_step`` callback for :func:`helpers.invert.inversion.invert_photo` that redraws the loss
    curves in a notebook every ``every`` steps (and keeps the whole history in ``history``)."""

    def __init__(self, every: int = 10) -> None:
        self.every = max(1, every)
        self.history: list[StepLog] = []
        self._handle: Any = None

    def __call__(self, entry: StepLog) -> None:
        self.history.append(entry)
        if len(self.history) % self.every == 0:
            self.show()

    def show(self) -> None:
        """Draw (or redraw in place) the current curves."""
        from IPython.display import display

        fig = loss_figure(self.history)
        if self._handle is None:
            self._handle = display(fig, display_id=True)
        else:
            self._handle.update(fig)


def comparison_strip(inversion: Any, size: int = 256) -> np.ndarray:
    """(H, 4·size, 3) uint8: the aligned photo, the projection's render (before tuning), the tuned
    reconstruction and its z-depth (near = bright, no surface = black), with titles and the depth's colour bar."""

    depth = np.repeat(resize_square(depth_to_gray(inversion.depth), size, nearest=True)[..., None], 3, axis=-1)
    images = (inversion.target, inversion.projected, inversion.reconstruction)
    strip = np.concatenate([resize_square(image, size) for image in images] + [depth], axis=1)
    titles = ("photo", "projection (before tuning)", "tuned", "z-depth")
    return add_colorbar(add_header(strip, list(zip(column_centres(4, size), titles))), gray_ramp, "far", "near",
                        title="z-depth")
