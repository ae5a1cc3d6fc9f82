"""PNG screenshots of HTML pages (e.g. exported viewers) with headless Chromium.

WebGL (plotly's 3D scenes) is rendered in software through SwiftShader, so no GPU or display is
needed. Used by the browser tests and handy for thumbnails in reports.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from helpers.base.atomic import atomic_path

INSTALL_HINT = (
    "Headless Chromium is needed: install it with `apt-get install chromium` (Debian/Ubuntu), "
    "or set the CHROMIUM environment variable to a Chromium/Chrome executable."
)
_CANDIDATES = ("chromium", "chromium-browser", "google-chrome")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def find_chromium() -> str:
    """Path of a Chromium executable: $CHROMIUM, /usr/bin/chromium, then chromium,
    chromium-browser or google-chrome on PATH.

    Raises:
        RuntimeError: none found (the message says how to install one).
    """
    env = os.environ.get("CHROMIUM")
    if env:
        found = shutil.which(env)
        if found is None:
            raise RuntimeError(f"CHROMIUM={env!r} is not an executable. {INSTALL_HINT}")
        return found
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in _CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    raise RuntimeError(f"No Chromium found. {INSTALL_HINT}")


def chromium_command(chromium: str, html_path: Path, png_path: Path, width: int, height: int, wait_ms: int, profile: str) -> list[str]:
    """The headless Chromium command line (flags verified to render WebGL on CPU-only machines)."""
    return [
        chromium,
        "--headless",
        "--no-sandbox",  # containers and root users have no usable sandbox
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",  # no update checks, no network at all is needed
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",  # a fresh profile: no locks shared with other instances
        "--enable-unsafe-swiftshader",  # software WebGL
        "--use-angle=swiftshader",
        "--hide-scrollbars",
        f"--window-size={width},{height}",
        # Virtual time lets the page's scripts finish (plotly draws asynchronously) before
        # the capture, without waiting that long in real time when the page goes idle.
        f"--virtual-time-budget={wait_ms}",
        f"--screenshot={png_path}",
        html_path.resolve().as_uri(),
    ]


def screenshot_html(
    html_path: str | os.PathLike[str],
    png_path: str | os.PathLike[str],
    width: int = 1000,
    height: int = 700,
    wait_ms: int = 15000,
    *,
    timeout_s: float | None = None,
) -> Path:
    """Render ``html_path`` in headless Chromium and save a ``width`` x ``height`` PNG.

    Args:
        html_path: a local HTML file.
        png_path: output PNG (written atomically).
        width, height: browser window size in CSS pixels.
        wait_ms: virtual time given to the page before the capture, in milliseconds.
        timeout_s: real-time limit for Chromium (default: wait_ms + 90 s).

    Raises:
        FileNotFoundError: ``html_path`` does not exist.
        RuntimeError: no Chromium, Chromium timed out, or it produced no PNG (the message
            includes the end of Chromium's output).
    """
    html_path = Path(html_path)
    if not html_path.is_file():
        raise FileNotFoundError(f"no HTML file at {html_path}")
    chromium = find_chromium()
    timeout = timeout_s if timeout_s is not None else wait_ms / 1000 + 90
    png_path = Path(png_path)
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, atomic_path(png_path) as tmp:
        command = chromium_command(chromium, html_path, tmp, width, height, wait_ms, profile)
        # Own process group, so that a timeout also ends Chromium's helper processes.
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
        )
        try:
            _, stderr = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired as error:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise RuntimeError(f"Chromium did not finish within {timeout:.0f} s while rendering {html_path}") from error
        if not tmp.is_file() or tmp.read_bytes()[:8] != _PNG_SIGNATURE:
            raise RuntimeError(
                f"Chromium produced no PNG for {html_path} (exit code {process.returncode}). "
                f"Output:\n{(stderr or '')[-2000:]}"
            )
    return png_path
