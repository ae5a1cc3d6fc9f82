"""Real photos into EG3D: offline face alignment, camera estimation, PTI inversion, Prosopo-style export.

:mod:`helpers.invert.landmarks` (dlib face detection and 68 landmarks, models from the
``face_recognition_models`` package), :mod:`helpers.invert.crop_recipe` (the FFHQ/EG3D crop geometry),
:mod:`helpers.invert.align` (photo → aligned 512² crop), :mod:`helpers.invert.landmark_template` and
:mod:`helpers.invert.camera` (EG3D camera from the landmarks; its accuracy:
:mod:`helpers.invert.camera_accuracy`), :mod:`helpers.invert.lpips` (LPIPS-VGG16 of our own),
:mod:`helpers.invert.pti` (W/W+ projection and pivotal tuning), :mod:`helpers.invert.delta` (tuned
generators as weight deltas), :mod:`helpers.invert.inversion` (the whole chain for one photo),
:mod:`helpers.invert.report` (loss curves and comparison pictures) and :mod:`helpers.invert.batch`
(``python -m helpers invert PHOTOS --out DATASET``).

dlib is needed only for alignment: ``pip install "eg3d-face-toolkit[face]"`` (``dlib-bin`` and
``face_recognition_models``).
"""
