"""Latent-code regression: predict EG3D's latent w from one photo, then let EG3D render the face in 3D.

:mod:`helpers.latent.dataset` (images with their w, camera and depth), :mod:`helpers.latent.encoder` (image → w
networks: a small ResNet of our own or DINOv2 through ``transformers``), :mod:`helpers.latent.train`
(``python -m helpers train-latent``: the shared loop of :mod:`helpers.training`), :mod:`helpers.latent.evaluate`
(latent and rendered-depth errors, with the ``w_avg`` and mean-w baselines) and :mod:`helpers.latent.infer`
(photo → w → image, depth and mesh).
"""
