"""The scripts of benchmarks/ still run, on tiny settings: they measure nothing here, they prove that the code moves
with them (the GPU figures of benchmarks/RESULTS.md are measured only when a GPU is lent, so nothing else would run
them in between).

- ``benchmarks/gpu_suite.sh all`` in its CPU smoke mode covers ``eg3d_speed.py``, ``generate_speed.py``,
  ``pti_speed.py`` (with ``--save-aligned``: no ``.gpu/`` is prepared here) and ``depth_speed.py --quick``. The
  official EG3D code is never part of the project, so its steps run only when ``EG3D_SRC`` names a checkout or mirror
  of NVlabs/eg3d; without it (as in CI) they are SKIPPED and every step of our own code must still pass.
- ``latent_learnability.py`` runs on a handful of samples.
- ``crop_vs_eg3d.py`` needs the Basel Face Model's ``similarity_Lm3D_all.mat``, which users supply and the project
  never holds; the test writes a stand-in of the same format (our own landmark template, in the BFM frame), so the
  whole script runs, dlib on the astronaut included. Its numbers then mean nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from scipy.io import savemat
from skimage import data

from helpers.invert.landmark_template import landmark_template

REPO = Path(__file__).resolve().parents[1]
OUR_STEPS = ("eg3d-tiny-batch2", "eg3d-tiny-bf16", "generate-tiny-batch2", "generate-tiny-bf16", "pti-align",
             "pti-tiny", "depth-quick", "pti-tiny-bf16")
OFFICIAL_STEPS = ("official-ops", "eg3d-official", "generate-official")


def _run(command: list[str], env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
    assert result.returncode == 0, f"{' '.join(command)}: exit {result.returncode}\n{result.stdout[-4000:]}\n" \
                                   f"{result.stderr[-4000:]}"
    return result


def test_gpu_suite_smoke_mode_runs_every_step_of_our_code(tmp_path):
    out = tmp_path / "out"
    env = {key: value for key, value in os.environ.items() if key not in ("BUDGET_S", "SITE")}
    # An empty GPU_DIR: the suite as on a clean clone (CI), whatever .gpu/ this checkout holds.
    env.update(SMOKE="1", PYTHON=sys.executable, OUT=str(out), GPU_DIR=str(tmp_path / "gpu"), TMPDIR=str(tmp_path))
    _run(["bash", "benchmarks/gpu_suite.sh", "all"], env=env, timeout=900)

    summary = (out / "summary.txt").read_text(encoding="utf-8")
    status = {m[2]: (m[1], m[3]) for m in re.finditer(r"^(ok|SKIPPED|FAILED|TIMEOUT)\s+([\w.-]+): (.*)$", summary,
                                                        flags=re.MULTILINE)}
    assert {step: status.get(step, ("missing", ""))[0] for step in OUR_STEPS} == dict.fromkeys(OUR_STEPS, "ok"), summary
    for step in OFFICIAL_STEPS:
        if os.environ.get("EG3D_SRC"):
            assert status[step][0] == "ok", summary
        else:
            assert status[step] == ("SKIPPED", "no official EG3D source (set EG3D_SRC)"), summary
    assert "ours:" in (out / "generate.log").read_text(encoding="utf-8")


def test_latent_learnability_runs_on_a_few_samples():
    result = _run([sys.executable, "benchmarks/latent_learnability.py", "--samples", "6", "--train", "2,4",
                   "--batch-size", "6", "--size", "8", "--lambdas", "1"])
    rows = [line for line in result.stdout.splitlines() if re.match(r"\| [24] \| 2 \|", line)]
    assert len(rows) == 2, result.stdout


def test_crop_vs_eg3d_runs_on_a_stand_in_for_the_bfm_landmarks(tmp_path):
    bfm, photos = tmp_path / "bfm", tmp_path / "photos"
    bfm.mkdir()
    photos.mkdir()
    # The file's format: "lm", (68, 3) landmarks, y up, face towards +z (the template's frame too).
    savemat(bfm / "similarity_Lm3D_all.mat", {"lm": np.asarray(landmark_template(), dtype=np.float64)})
    Image.fromarray(data.astronaut()).save(photos / "astronaut.png")
    result = _run([sys.executable, "benchmarks/crop_vs_eg3d.py", "--bfm", str(bfm), "--photos", str(photos)])
    rows = [line for line in result.stdout.splitlines() if line.startswith("| CropRecipe")]
    # 2 recipes × (template, astronaut from skimage, astronaut.png from --photos): dlib found both photos' face
    assert len(rows) == 6, result.stdout
    # The stand-in is the template itself, so the landmark camera fit reads it as frontal.
    fit = re.search(r"fitted yaw ([-+]?[\d.]+)°, elevation ([-+]?[\d.]+)°", result.stdout)
    assert fit and abs(float(fit[1])) < 0.5 and abs(float(fit[2])) < 0.5, result.stdout


def test_lpff_fit_threshold_prints_its_table():
    result = _run([sys.executable, "benchmarks/lpff_fit_threshold.py", "--poses", "3"])
    rows = [line for line in result.stdout.splitlines() if re.match(r"\| [\d.]+ \| [\d.]+ \| [\d.]+ \|", line)]
    assert len(rows) == 5, result.stdout
    fits = dict(re.findall(r"^astronaut ?(.*?): ([\d.]+) px$", result.stdout, flags=re.MULTILINE))
    assert float(fits["(dlib landmarks)"]) < 20 < float(fits["shuffled"]), result.stdout


def test_mesh_cleanup_prints_its_tables():
    result = _run([sys.executable, "benchmarks/mesh_cleanup.py", "--resolutions", "40", "--targets", "500",
                   "--repeats", "1"])
    assert re.search(r"^\| 40³ \| [\d,]+ \| [\d,]+ \| [\d,]+ \| [\d,]+ \|", result.stdout, flags=re.MULTILINE)
    assert re.search(r"^\| 40³ \| 500 \| ", result.stdout, flags=re.MULTILINE), result.stdout


def test_multiview_inversion_prints_its_table():
    result = _run([sys.executable, "benchmarks/multiview_inversion.py", "--seeds", "0", "--counts", "1,2",
                   "--tuning-steps", "1", "--device", "cpu"])
    rows = re.findall(r"^\| ([12]) \| ([\d.]+) \| ([\d.]+) \| [\d.]+ \|$", result.stdout, flags=re.MULTILINE)
    assert [r[0] for r in rows] == ["1", "2"], result.stdout
