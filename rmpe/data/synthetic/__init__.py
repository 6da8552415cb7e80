"""A synthetic world of articulated people: images, COCO annotations and simulated detections.

No COCO images or pretrained weights reach this project's machines, so this package makes a
data set in which the whole pipeline can be trained and measured on a CPU in minutes, and
in which each RMPE component has real errors to fix. Public entry points:

* :func:`generate_dataset` writes ``images/*.jpg``, ``annotations.json`` (COCO
  person_keypoints, loadable by pycocotools) and ``detections.json`` (COCO detection results
  of the simulated detector);
* :func:`generate_video` writes an mp4 of people walking and moving smoothly, with per-frame
  annotations (image id = frame index) and detections;
* :func:`render_scene` makes one image in memory (for tests and on-the-fly training), and
  :func:`simulate_detections` detects its people.

Everything is deterministic: image ``i`` of seed ``s`` is drawn from
``numpy.random.default_rng([s, i, 0])`` and its detections from ``[s, i, 1]``, so images can
be made in any order or in parallel with identical results, and the same seed gives
byte-identical JSON files. Coordinates are pixels with pixel centres at integers (DESIGN.md).
Keypoint visibility: see :mod:`rmpe.data.synthetic.scene`.

Modules, from the settings up to the files:

=============  ==========================================================================
``config``     :class:`SyntheticConfig`, :class:`PoseFamilyWeights`,
               :class:`SimulatedDetectorConfig` (the YAML ``synthetic:`` section)
``pose``       joint angles per posture family and the walk cycle
``body``       body proportions and forward kinematics
``render``     appearance sampling and the OpenCV painter of one person
``background`` backgrounds, clutter, limb-like distractors, pixel grain
``scene``      one image in memory: placement, painting in depth order, visibility
``detector``   the simulated person detector (still images, and :class:`VideoDetector`)
``coco``       COCO records and deterministic JSON files
``files``      image encoding, bulk file writes, config and seed checks
``generate``   :func:`generate_dataset`, :func:`make_example`
``scenarios``  video motion: ``lanes``, ``crossing``, ``crowd``
``video``      :func:`generate_video`
=============  ==========================================================================

The names below are loaded on first use, so ``rmpe.config`` can import
:mod:`rmpe.data.synthetic.config` without loading OpenCV and the renderer.

Example::

    import numpy as np
    from rmpe.data.synthetic import generate_dataset, render_scene
    summary = generate_dataset("work_dirs/synth", num_images=200, seed=0)
    scene = render_scene(np.random.default_rng(0), size=(320, 240))
    scene.image, scene.people[0]["keypoints"]   # (240, 320, 3) uint8, (17, 3)
"""
from __future__ import annotations

import importlib
from typing import Any

#: Public name -> the submodule that defines it.
_HOME = {
    "POSE_FAMILIES": "config",
    "PoseFamilyWeights": "config",
    "SimulatedDetectorConfig": "config",
    "SyntheticConfig": "config",
    "SimulatedDetections": "detector",
    "simulate_detections": "detector",
    "VideoDetector": "detector",
    "SyntheticScene": "scene",
    "render_scene": "scene",
    "generate_dataset": "generate",
    "make_example": "generate",
    "scene_rng": "generate",
    "detector_rng": "generate",
    "generate_video": "video",
}

__all__ = sorted(_HOME)


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return sorted(set(globals()) | set(__all__))
