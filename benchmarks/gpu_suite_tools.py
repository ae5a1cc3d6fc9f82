"""Python helpers of ``benchmarks/gpu_suite.sh`` and ``gpu_prepare.sh`` (see there); not for use on their own.

    python benchmarks/gpu_suite_tools.py env                     # Python, torch, GPU and package facts
    python benchmarks/gpu_suite_tools.py official-ops EG3D_SRC   # build + check the official custom CUDA ops
    python benchmarks/gpu_suite_tools.py launch SCRIPT ARGS...   # run SCRIPT with the suite's import hooks
    python benchmarks/gpu_suite_tools.py export-official SRC DEST  # NVlabs/eg3d's eg3d/ folder -> DEST (+ DEST.commit)

``export-official`` takes a checkout of https://github.com/NVlabs/eg3d (its root or its ``eg3d/`` folder; the
files as they are there) or a git mirror of it (a bare repository or a ``.git`` folder: ``git archive HEAD``).

``launch`` hides the top-level packages named in ``GPU_SUITE_HIDE`` unless a carried wheel in ``GPU_SUITE_SITE``
provides them (the smoke mode's stand-in for the GPU machine's package list), and with ``OFFICIAL_OPS=reference``
makes the official custom ops report "not built", so that the official code takes its reference PyTorch path.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.metadata
import os
import platform
import runpy
import shutil
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

OFFICIAL_OPS = {"torch_utils.ops.bias_act", "torch_utils.ops.upfirdn2d", "torch_utils.ops.filtered_lrelu"}
PACKAGES = ("numpy", "scipy", "scikit-image", "pillow", "transformers", "safetensors", "trimesh", "mrcfile", "plyfile",
            "plotly")
HOW_TO_GET = "git clone https://github.com/NVlabs/eg3d, then set EG3D_SRC to the clone"


class ImportHooks(importlib.abc.MetaPathFinder):
    """Hides packages the GPU machine lacks; switches the official ops to their reference code on request."""

    def __init__(self, hide: set[str], site: list[str], reference_ops: bool):
        self.hide, self.site, self.reference_ops = hide, site, reference_ops

    def find_spec(self, name, path=None, target=None):
        if name in self.hide:  # only a carried wheel may provide it
            spec = importlib.machinery.PathFinder.find_spec(name, self.site)
            if spec is None:
                raise ModuleNotFoundError(f"No module named {name!r} (hidden by gpu_suite.sh: not on the GPU "
                                          "machine and not carried)", name=name)
            return spec
        if name in OFFICIAL_OPS and self.reference_ops:
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is not None:
                run_module = spec.loader.exec_module

                def exec_module(module):
                    run_module(module)
                    module._init = lambda: False  # plugin "unavailable": the op runs its reference code

                spec.loader.exec_module = exec_module
            return spec
        return None


def launch(script: str, args: list[str]) -> None:
    site = [p for p in os.environ.get("GPU_SUITE_SITE", "").split(os.pathsep) if p]
    hooks = ImportHooks(set(os.environ.get("GPU_SUITE_HIDE", "").split()), site,
                        os.environ.get("OFFICIAL_OPS") == "reference")
    sys.meta_path.insert(0, hooks)
    sys.argv = [script, *args]
    sys.path[0] = str(Path(script).resolve().parent)  # as when the script is run directly
    runpy.run_path(script, run_name="__main__")


def env() -> None:
    import torch

    header = Path(sysconfig.get_paths()["include"]) / "Python.h"  # the official ops' build needs it
    print(f"python {platform.python_version()} ({sys.executable}); "
          f"Python.h {'present' if header.exists() else 'MISSING'}")
    print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
          f"GPU available {torch.cuda.is_available()}")
    if torch.cuda.is_available():
        p = torch.cuda.get_device_properties(0)
        print(f"GPU 0: {p.name}, {p.total_memory / 2**30:.1f} GiB, {p.multi_processor_count} SMs, "
              f"capability {p.major}.{p.minor}")
    print(f"TF32 (both sides run with these defaults): matmul {torch.backends.cuda.matmul.allow_tf32}, "
          f"cuDNN convolutions {torch.backends.cudnn.allow_tf32}")
    versions = []
    for name in PACKAGES:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name} MISSING")
    print(", ".join(versions))


def official_ops(src: str) -> int:
    """Build the official bias_act and upfirdn2d ops the way its code loads them; 0 if they match the reference."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from eg3d_speed import add_official_to_path

    add_official_to_path(src)
    from torch_utils.ops import bias_act, upfirdn2d  # type: ignore

    if not torch.cuda.is_available():
        print("no GPU: the official code uses its reference ops; nothing to build (imports checked)")
        return 0
    for name, module in (("bias_act", bias_act), ("upfirdn2d", upfirdn2d)):
        began = time.perf_counter()
        module._init()
        print(f"{name}: built and loaded in {time.perf_counter() - began:.1f} s")
    x = torch.randn(4, 64, 64, 64, device="cuda")
    b = torch.randn(64, device="cuda")
    f = upfirdn2d.setup_filter([1, 3, 3, 1], device="cuda")
    d_bias = (bias_act.bias_act(x, b, act="lrelu") - bias_act.bias_act(x, b, act="lrelu", impl="ref")).abs().max()
    d_up = (upfirdn2d.upsample2d(x, f) - upfirdn2d.upsample2d(x, f, impl="ref")).abs().max()
    print(f"custom vs reference: bias_act max |diff| {d_bias.item():.2e}, upfirdn2d {d_up.item():.2e}")
    return 0 if max(d_bias.item(), d_up.item()) < 1e-3 else 1


def _git(args: list[str]) -> str | None:
    """stdout of ``git ARGS`` (stripped), or None when git fails or is missing."""
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False)
    except OSError:
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def export_official(src: str, dest: str) -> int:
    """Put the ``eg3d/`` folder of NVlabs/eg3d from SRC (a checkout or a git mirror) at DEST, its commit in
    DEST.commit. Returns 0, or 1 with a one-line error that says how to get the code."""
    root, out = Path(src).expanduser().resolve(), Path(dest)
    part = out.with_name(out.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    folder = next((f for f in (root / "eg3d", root) if (f / "training" / "triplane.py").is_file()), None)
    if folder is not None:  # a checkout (or an unpacked archive): the files as they are, without caches and pickles
        shutil.copytree(folder, part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.pkl"))
        top = folder.parent if folder.name == "eg3d" else folder
        commit = _git(["-C", str(top), "rev-parse", "HEAD"]) if (top / ".git").exists() else None
        if commit and _git(["-C", str(top), "status", "--porcelain", "--untracked-files=no", "--", "."]):
            commit += " (with local changes)"
        commit = commit or "unknown (not a git checkout)"
    elif (commit := _git(["--git-dir", str(root), "rev-parse", "--verify", "-q", "HEAD^{commit}"])) is not None:
        part.mkdir(parents=True)
        archive = subprocess.run(["git", "--git-dir", str(root), "archive", "--format=tar", "HEAD", "eg3d"],
                                 capture_output=True, check=False)
        if archive.returncode != 0:
            print(f"error: git archive of {src} failed — is it a mirror of NVlabs/eg3d? ({HOW_TO_GET})",
                  file=sys.stderr)
            return 1
        subprocess.run(["tar", "-x", "-C", str(part), "--strip-components=1"], input=archive.stdout, check=True)
    else:
        print(f"error: {src} holds no NVlabs/eg3d code (no eg3d/training/triplane.py, not a git mirror) — "
              f"{HOW_TO_GET}", file=sys.stderr)
        return 1
    if not (part / "training" / "triplane.py").is_file():
        print(f"error: {src}: no eg3d/training/triplane.py at HEAD — {HOW_TO_GET}", file=sys.stderr)
        return 1
    shutil.rmtree(out, ignore_errors=True)
    part.rename(out)
    out.with_name(out.name + ".commit").write_text(commit + "\n")
    print(f"official EG3D {commit} from {src} -> {out}")
    return 0


if __name__ == "__main__":
    command, rest = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    if command == "launch" and rest:
        launch(rest[0], rest[1:])
    elif command == "env":
        env()
    elif command == "official-ops" and len(rest) == 1:
        sys.exit(official_ops(rest[0]))
    elif command == "export-official" and len(rest) == 2:
        sys.exit(export_official(rest[0], rest[1]))
    else:
        sys.exit(__doc__)
