"""Validation during training: ground-truth boxes -> crops -> model -> COCO keypoint AP.

Each validation person is cropped in the DataLoader workers exactly like a training sample
without augmentation (crop box of the ground-truth box, ``cv2.warpAffine``). The model runs
on the crops (with the STN: theta from the crop, crop' resampled from the crop), heatmaps
are decoded with the shared codec, and keypoints go back to the image through
``M^-1 @ theta @ S`` (:func:`rmpe.stn.heatmap_to_image_matrices`). The person score written
to the results is the mean of its keypoint scores (one result per ground-truth person, so no
pose NMS is involved). The results are scored by :func:`rmpe.evaluation.evaluate`.
"""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..crop import sample_affine


def _core(model: torch.nn.Module) -> torch.nn.Module:
    return getattr(model, "module", model)


@torch.no_grad()
def predict_crops(
    model: torch.nn.Module,
    crops: torch.Tensor,
    matrices: torch.Tensor,
    *,
    flip: bool = False,
    amp: bool = False,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Keypoints in image pixels from crops taken with known matrices.

    Args:
        model: :class:`rmpe.model.RMPEModel` (or its DDP wrapper), in eval mode.
        crops: (N,3,H,W) raw RGB crops, float in [0, 1], on the model's device.
        matrices: (N,3,3) image px -> crop px of each crop.
        flip: average with the mirrored crop's heatmaps (flip test).
        amp: fp16 autocast for the networks on CUDA.

    Returns:
        keypoints (N,K,2) float32 in image pixels and scores (N,K) float32.
    """
    core = _core(model)
    theta = None
    x = crops
    if getattr(core, "stn", None) is not None:
        theta = core.predict_theta(x)
        x = sample_affine(x, theta)
    return core.keypoints_from_crops(x, matrices, theta, flip=flip, amp=amp)


def results_from_predictions(
    image_ids: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, category_id: int = 1
) -> List[Dict[str, Any]]:
    """COCO keypoint results, one per person, score = mean keypoint score.

    Args:
        image_ids: (P,) COCO image ids.
        keypoints: (P,K,2) image pixels.
        scores: (P,K) keypoint scores.
        category_id: the keypoint category's id.
    """
    flat = np.concatenate([keypoints, scores[..., None]], axis=-1).reshape(len(keypoints), -1)
    person = scores.mean(axis=1)
    return [
        {
            "image_id": int(i),
            "category_id": int(category_id),
            "keypoints": [float(v) for v in row],
            "score": float(s),
        }
        for i, row, s in zip(image_ids.tolist(), flat, person.tolist())
    ]


class Validator:
    """Runs validation on a :class:`rmpe.data.coco.COCOKeypointDataset` (no augmentation).

    Args:
        dataset: the validation data set (ground-truth boxes).
        batch_size: crops per model call.
        num_workers: DataLoader workers.
        flip: flip test.
        amp: fp16 on CUDA.
        sigmas: OKS sigmas of the keypoint set (None: COCO's).
        warn: called with a message for every unreadable image.
    """

    def __init__(
        self,
        dataset,
        *,
        batch_size: int = 64,
        num_workers: int = 0,
        flip: bool = False,
        amp: bool = False,
        sigmas: Optional[Tuple[float, ...]] = None,
        warn: Callable[[str], None] = print,
    ) -> None:
        from ..evaluation import load_coco

        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.flip = bool(flip)
        self.amp = bool(amp)
        self.sigmas = tuple(sigmas) if sigmas else None
        self.warn = warn
        self.coco = load_coco(dataset.persons.ann_file)
        cats = [c for c in dataset.persons.categories if c.get("keypoints")]
        self.category_id = int(cats[0]["id"]) if cats else 1
        self.bad_seen: set = set()

    def loader(self, pin_memory: bool = False) -> DataLoader:
        from ..data.coco import collate_samples

        from .trainer import worker_init

        return DataLoader(
            self.dataset,
            batch_size=self.batch_size,
            shuffle=False,
            num_workers=self.num_workers,
            collate_fn=collate_samples,
            pin_memory=pin_memory,
            worker_init_fn=worker_init if self.num_workers > 0 else None,
        )

    def predict(self, model: torch.nn.Module, device: torch.device, progress: Any = None) -> List[Dict[str, Any]]:
        """COCO results for every readable validation person, in data set order."""
        from ..errors import RMPEError

        core = _core(model)
        was_training = core.training
        core.eval()
        ids, kps, scs = [], [], []
        try:
            for batch in self.loader(pin_memory=device.type == "cuda"):
                if batch["errors"]:
                    raise RMPEError(batch["errors"][0])
                for path in batch["bad"]:
                    if path not in self.bad_seen:
                        self.bad_seen.add(path)
                        self.warn(f"warning: validation image {path} is missing or unreadable; its people are left out")
                valid = batch["valid"]
                if not bool(valid.any()):
                    continue
                crops = batch["image"][valid].to(device, non_blocking=True).float().div_(255.0)
                kp, sc = predict_crops(core, crops, batch["matrix"][valid], flip=self.flip, amp=self.amp)
                ids.append(self.dataset.persons.image_ids[batch["index"][valid].numpy()])
                kps.append(kp.cpu().numpy())
                scs.append(sc.cpu().numpy())
                if progress is not None:
                    progress(int(valid.sum()))
        finally:
            core.train(was_training)
        if not ids:
            return []
        return results_from_predictions(
            np.concatenate(ids), np.concatenate(kps), np.concatenate(scs), self.category_id
        )

    def __call__(self, model: torch.nn.Module, device: torch.device, progress: Any = None) -> Dict[str, Any]:
        """Validate: returns the COCO statistics (``AP``, ``AP50``, ...), ``num_people`` and ``time_s``."""
        from ..evaluation import evaluate

        start = time.perf_counter()
        results = self.predict(model, device, progress)
        metrics = evaluate(results, self.coco, sigmas=self.sigmas)
        out = {k: float(v) for k, v in metrics.items() if k != "stats"}
        out["num_people"] = len(results)
        out["time_s"] = time.perf_counter() - start
        return out
