"""Validation during training: exactly what ``rmpe-eval`` computes on the validation set.

The validator runs the model being trained through :func:`rmpe.eval_runner.predict_dataset`
and :func:`rmpe.eval_runner.score_results`, the functions ``rmpe-eval`` uses, with the
pipeline :meth:`rmpe.pipeline.PosePipeline.from_config` builds from the same config: ground-
truth boxes of the people with labelled keypoints, the ``inference:`` settings (flip test,
decoder, SPPE batch, person score) and ``pose_nms:``. Results are written by the one COCO
writer (:func:`rmpe.formats.to_coco`), so the AP of a checkpoint's validation equals
``rmpe-eval --config C --checkpoint W --boxes gt`` on the same images.
"""
from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING, Any, Callable, Dict, Optional

import torch

from ..eval_runner import load_dataset_images, predict_dataset, score_results

if TYPE_CHECKING:
    from ..config import Config


class Validator:
    """COCO keypoint AP of a model on the config's validation set (``data.val_ann``, ``data.val_images``).

    Args:
        config: the experiment config; its ``inference:`` and ``pose_nms:`` sections say how
            boxes become poses, as in ``rmpe-eval``.
        warn: called once with a message for every unreadable validation image.
    """

    def __init__(self, config: "Config", *, warn: Callable[[str], None] = print) -> None:
        self.config = config
        self.dataset = load_dataset_images(config.data.val_ann, config.data.val_images)
        self.sigmas = config.data.keypoint_set().sigmas or None
        self.warn = warn
        self.bad_seen: set = set()

    def __len__(self) -> int:
        """Number of validation images."""
        return len(self.dataset.ids)

    def predict(self, model: torch.nn.Module, device: torch.device, progress: Any = None) -> list:
        """COCO results of every readable validation image, in image-id order.

        Args:
            model: :class:`rmpe.model.RMPEModel` (or its DDP wrapper); it is put in eval mode
                for the call and back in its previous mode after it.
            progress: called with the number of images done after every batch.
        """
        from ..bottomup.network import is_bottomup
        from ..bottomup.pipeline import build_pipeline  # bottom-up or top-down, by model.name
        from ..eval_runner import box_source

        core = getattr(model, "module", model)
        was_training = core.training
        core.eval()
        try:
            detector = None if is_bottomup(self.config.model.name) else box_source(self.config, "gt", self.dataset.ann_file, device)
            pipeline = build_pipeline(self.config, model=core, detector=detector, device=str(device))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                results, missing = predict_dataset(pipeline, self.dataset, self.dataset.ids,
                                                   self.config.inference.batch, progress or False)
        finally:
            core.train(was_training)
        for image_id in missing:
            path = self.dataset.paths[image_id]
            if path not in self.bad_seen:
                self.bad_seen.add(path)
                self.warn(f"warning: validation image {path} is missing or unreadable; its people are left out")
        return results

    def __call__(self, model: torch.nn.Module, device: torch.device, progress: Any = None) -> Dict[str, Any]:
        """Validate: the COCO statistics (``AP``, ``AP50``, ...), ``num_people``, ``num_images`` and ``time_s``."""
        start = time.perf_counter()
        results = self.predict(model, device, progress)
        metrics = score_results(results, self.dataset, self.dataset.ids, self.sigmas)
        out: Dict[str, Any] = {k: float(v) for k, v in metrics.items() if k != "stats"}
        out["num_people"] = len(results)
        out["num_images"] = len(self.dataset.ids)
        out["time_s"] = time.perf_counter() - start
        return out

    @classmethod
    def from_config(cls, config: "Config", warn: Callable[[str], None] = print) -> Optional["Validator"]:
        """The validator of ``config``, or None when it names no validation set."""
        if not (config.data.val_ann and config.data.val_images):
            return None
        return cls(config, warn=warn)
