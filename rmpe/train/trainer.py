"""The training loop: data, RMPE model, losses, optimiser, checkpoints, validation, logs.

One :class:`Trainer` runs a whole experiment from a :class:`rmpe.config.Config`:

* data: :class:`rmpe.data.coco.COCOKeypointDataset` (one sample per person, augmentation as
  one affine per sample, crops in DataLoader workers with ``cv2.warpAffine``), sampled by
  :class:`rmpe.train.sampler.EpochSampler` (a ``DistributedSampler`` under ``torchrun``);
* targets: the batch's keypoints encoded by the shared :class:`rmpe.codec.HeatmapCodec` on
  the training device; with the STN also the centre-located targets of the parallel SPPE;
* loss (:meth:`rmpe.model.RMPEModel.losses`): ``loss_weight`` x visibility-weighted MSE of
  the SDTN-resampled heatmaps + ``parallel_sppe_weight`` x the same on the frozen parallel
  SPPE's heatmaps (refreshed from the SPPE at every epoch start);
* Adam, ``MultiStepLR`` (milestones ``lr_steps`` epochs, stepped per iteration), optional
  linear warm-up over ``warmup_epochs`` from 1 % of the rate, fp16 AMP on CUDA;
* rank 0 writes ``last.pth`` every epoch (and when a run stops early), ``best.pth`` whenever
  validation AP improves, ``metrics.jsonl``, ``curves.png``, ``config.yaml`` and TensorBoard
  events (when installed); ``--resume`` continues from ``last.pth`` exactly where it stood.

Reproducibility: model initialisation uses ``train.seed``; the sample order of an epoch is
a function of ``(seed, epoch)`` and each sample's augmentation of ``(seed, epoch, index)``,
independent of the worker count, so a resumed run sees the same batches as an
uninterrupted one. With ``train.deterministic`` on the CPU the weights then match bitwise.
"""
from __future__ import annotations

import math
import os
import random
import shutil
import sys
import time
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader

from ..config import Config, save_config
from ..distributed import DistInfo, all_reduce_sum, any_rank, barrier, init_distributed, resolve_device, shutdown
from ..errors import RMPEError
from ..io import atomic_write_json
from .metrics import MetricsLog, TensorBoardLog, plot_curves
from .sampler import EpochSampler
from .state import load_training_checkpoint, save_training_checkpoint

#: Files in the work dir.
LAST = "last.pth"
BEST = "best.pth"
METRICS = "metrics.jsonl"
CURVES = "curves.png"
CONFIG = "config.yaml"
SUMMARY = "summary.json"

#: Warm-up starts at this fraction of the learning rate.
WARMUP_START = 0.01


#: Scheduling niceness added to DataLoader workers: the few milliseconds of decoding and
#: warping per batch then fill the gaps of the training process instead of preempting one of
#: its compute threads (on a 2-core CPU a preempted OpenMP thread stalls the other one too).
WORKER_NICENESS = 10


def worker_init(worker_id: int) -> None:
    """DataLoader worker set-up: one OpenCV thread (workers already run one torch thread) and
    a lower scheduling priority (:data:`WORKER_NICENESS`)."""
    try:
        import cv2

        cv2.setNumThreads(1)
    except Exception:  # noqa: BLE001
        pass
    if WORKER_NICENESS and hasattr(os, "nice"):
        try:
            os.nice(WORKER_NICENESS)
        except OSError:
            pass


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed & 0xFFFFFFFF)
    torch.manual_seed(seed)


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels (and no cuDNN autotuning) when ``enabled``; autotuning otherwise."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    else:
        torch.backends.cudnn.benchmark = True


def build_schedulers(
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    lr_steps: List[int],
    lr_factor: float,
    warmup_epochs: float = 0.0,
) -> Tuple[Optional[torch.optim.lr_scheduler.LinearLR], torch.optim.lr_scheduler.MultiStepLR]:
    """The learning-rate schedule, both schedulers stepped once per optimiser step.

    ``MultiStepLR`` multiplies the rate by ``lr_factor`` at the start of each epoch in
    ``lr_steps`` (milestones expressed in steps); the optional ``LinearLR`` warm-up ramps it
    from ``WARMUP_START`` x to 1 x over ``round(warmup_epochs * steps_per_epoch)`` steps.
    The two compose multiplicatively (PyTorch's chainable schedulers): at step ``i`` the
    rate is ``lr * lr_factor ** #{m in lr_steps: m * steps_per_epoch <= i} * warm(i)``.

    Returns:
        (warm-up scheduler or None, multi-step scheduler).
    """
    warmup_iters = int(round(float(warmup_epochs) * steps_per_epoch))
    warmup = (
        torch.optim.lr_scheduler.LinearLR(optimizer, start_factor=WARMUP_START, end_factor=1.0, total_iters=warmup_iters)
        if warmup_iters > 0
        else None
    )
    multistep = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, milestones=[int(e) * int(steps_per_epoch) for e in lr_steps], gamma=float(lr_factor)
    )
    return warmup, multistep


@dataclass
class TrainSummary:
    """What a finished (or stopped) run reports."""

    epochs_done: int
    global_step: int
    stopped_early: bool
    best_ap: Optional[float]
    last_ap: Optional[float]
    last_loss: Optional[float]
    elapsed_s: float
    bad_images: int
    workdir: str
    last_checkpoint: Optional[str] = None
    best_checkpoint: Optional[str] = None
    history: List[Dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> Dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "history"}


class Trainer:
    """Trains an :class:`rmpe.model.RMPEModel` as the config describes (module docstring).

    Args:
        config: the experiment.
        workdir: folder for checkpoints, logs and plots (created).
        resume: continue from ``workdir/last.pth``.
        device: overrides ``config.device`` (``auto``, ``cpu``, ``cuda``, ``cuda:N``).
        quiet: no progress bar and no console messages.
        max_steps: stop after this many optimiser steps in this run (like
            ``train.max_minutes``: validate, save ``last.pth`` mid-epoch, resumable).
        echo: where console messages go (default: stderr, through tqdm when a bar is shown).
    """

    def __init__(
        self,
        config: Config,
        workdir: str,
        *,
        resume: bool = False,
        device: Optional[str] = None,
        quiet: bool = False,
        echo: Optional[Callable[[str], None]] = None,
        max_steps: Optional[int] = None,
    ) -> None:
        self.config = config
        self.max_steps = None if max_steps is None else int(max_steps)
        self.workdir = os.fspath(workdir)
        self.resume = bool(resume)
        self.device_name = device if device is not None else config.device
        self.quiet = bool(quiet)
        self._echo = echo
        self._bar = None
        self.bad_paths: set = set()
        self.bad_count = 0

    # ------------------------------------------------------------------ console

    def echo(self, message: str) -> None:
        """A console line (rank 0 only, nothing when quiet)."""
        if self.quiet or not getattr(self, "dist", DistInfo()).is_main:
            return
        if self._echo is not None:
            self._echo(message)
        elif self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ set-up

    def _check_config(self) -> None:
        c = self.config
        t = c.train
        if t.epochs < 1:
            raise RMPEError(f"train.epochs must be at least 1, got {t.epochs}")
        if t.batch_size < 1:
            raise RMPEError(f"train.batch_size must be at least 1, got {t.batch_size}")
        if not (t.lr > 0 and math.isfinite(t.lr)):
            raise RMPEError(f"train.lr must be a positive number, got {t.lr}")
        if t.val_interval < 1:
            raise RMPEError(f"train.val_interval must be at least 1, got {t.val_interval}")
        if t.log_interval < 1:
            raise RMPEError(f"train.log_interval must be at least 1, got {t.log_interval}")
        if t.max_minutes is not None and t.max_minutes <= 0:
            raise RMPEError(f"train.max_minutes must be positive, got {t.max_minutes}")
        if c.data.num_workers < 0:
            raise RMPEError(f"data.num_workers must be >= 0, got {c.data.num_workers}")
        if not c.data.train_ann or not c.data.train_images:
            raise RMPEError("config has no training data: set data.train_ann and data.train_images")
        hm = tuple(c.model.heatmap_size)
        expect = (c.model.input_size[0] // 4, c.model.input_size[1] // 4)
        if hm != expect:
            raise RMPEError(f"model.heatmap_size {list(hm)} must be model.input_size / 4 = {list(expect)}")

    def _setup(self) -> None:
        from ..data.coco import COCOKeypointDataset
        from ..data.synthetic_coco import is_synthetic
        from ..model import RMPEModel

        c = self.config
        self._check_config()
        device = resolve_device(self.device_name)
        self.dist = init_distributed(device.type)
        if device.type == "cuda" and self.dist.world_size > 1:
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        self.use_amp = bool(c.train.amp and device.type == "cuda")
        set_deterministic(c.train.deterministic)
        seed_everything(c.train.seed)

        self.train_set = COCOKeypointDataset.from_config(c, "train")
        has_val = bool(c.data.val_ann and c.data.val_images)
        # only rank 0 validates
        self.val_set = COCOKeypointDataset.from_config(c, "val") if (has_val and self.dist.is_main) else None
        if self.train_set.persons.skipped:
            skipped = ", ".join(f"{v} {k}" for k, v in sorted(self.train_set.persons.skipped.items()))
            self.echo(f"training annotations left out: {skipped}")
        if c.train.flip and is_synthetic(self.train_set.persons.description):
            self.echo(
                "warning: train.flip is on, but rmpe-synth people carry a marking on their left side that "
                "mirrored crops contradict; set train.flip: false for synthetic data (README: synthetic data)"
            )

        model = RMPEModel.from_config(c)  # loads model.init_from into the SPPE
        self.model = model.to(device)
        self.codec = self.model.codec
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(params, lr=c.train.lr, weight_decay=c.train.weight_decay)

        world, rank = self.dist.world_size, self.dist.rank
        self.sampler = EpochSampler(
            len(self.train_set), num_replicas=world, rank=rank, shuffle=True, seed=c.train.seed, drop_last=world > 1
        )
        per_rank = self.sampler.samples_per_epoch
        bs = c.train.batch_size
        # keep every batch full (BatchNorm) unless the data set is smaller than one batch
        self.drop_last = per_rank >= bs
        self.steps_per_epoch = per_rank // bs if self.drop_last else 1
        self.warmup, self.multistep = build_schedulers(
            self.optimizer, self.steps_per_epoch, c.train.lr_steps, c.train.lr_factor, c.train.warmup_epochs
        )
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.use_amp)

        self.epoch = 0
        self.step = 0
        self.global_step = 0
        self.best_ap: Optional[float] = None
        self.last_ap: Optional[float] = None
        self.elapsed_before = 0.0
        os.makedirs(self.workdir, exist_ok=True)
        self.metrics = MetricsLog(os.path.join(self.workdir, METRICS))
        last = os.path.join(self.workdir, LAST)
        if self.resume:
            if not os.path.isfile(last):
                raise RMPEError(f"--resume: no checkpoint {last}; train without --resume first")
            meta = load_training_checkpoint(
                last, self.model, optimizer=self.optimizer, schedulers=self._schedulers(), scaler=self.scaler,
                map_location=device,
            )
            self.epoch, self.step, self.global_step = int(meta["epoch"]), int(meta["step"]), int(meta["global_step"])
            self.best_ap = meta.get("best_ap")
            info = meta.get("trainer") or {}
            self.bad_count = int(info.get("bad_images", 0))
            self.elapsed_before = float(info.get("elapsed_s", 0.0))
            if int(meta.get("world_size", world)) != world:
                self.echo(
                    f"warning: the checkpoint was written by {meta.get('world_size')} processes, resuming with "
                    f"{world}: the sample order differs from the original run"
                )
            if self.step >= self.steps_per_epoch:
                self.epoch, self.step = self.epoch + 1, 0
            if self.dist.is_main:
                self.metrics.truncate_after(self.global_step)
            self.echo(f"resumed from {last}: epoch {self.epoch + 1}, step {self.step}, global step {self.global_step}")
        elif os.path.isfile(last):
            raise RMPEError(
                f"work dir {self.workdir} already holds {LAST}; pass --resume to continue it or choose another --workdir"
            )
        elif self.dist.is_main and os.path.isfile(self.metrics.path):
            os.replace(self.metrics.path, self.metrics.path + ".old")

        if self.dist.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.train_model: torch.nn.Module = DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.train_model = self.model

        self.validator = None
        if self.val_set is not None and self.dist.is_main:
            from .validate import Validator

            ks = c.data.keypoint_set()
            self.validator = Validator(
                self.val_set,
                batch_size=c.eval.batch,
                num_workers=c.data.num_workers,
                flip=c.eval.flip,
                amp=self.use_amp,
                sigmas=ks.sigmas if c.data.keypoint_names is not None else None,
                warn=self.echo,
            )
        self.tb = TensorBoardLog(os.path.join(self.workdir, "tensorboard")) if self.dist.is_main else None
        if self.dist.is_main:
            save_config(c, os.path.join(self.workdir, CONFIG))

    def _schedulers(self) -> Dict[str, Any]:
        return {"warmup": self.warmup, "multistep": self.multistep}

    # ------------------------------------------------------------------ pieces

    def _loader(self) -> DataLoader:
        from ..data.coco import collate_samples

        workers = self.config.data.num_workers
        return DataLoader(
            self.train_set,
            batch_size=self.config.train.batch_size,
            sampler=self.sampler,
            num_workers=workers,
            collate_fn=collate_samples,
            pin_memory=self.device.type == "cuda",
            drop_last=self.drop_last,
            worker_init_fn=worker_init if workers > 0 else None,
            persistent_workers=False,
        )

    def _lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])

    def _save(self, epoch: int, step: int) -> str:
        path = os.path.join(self.workdir, LAST)
        save_training_checkpoint(
            path,
            self.model,
            optimizer=self.optimizer,
            schedulers=self._schedulers(),
            scaler=self.scaler,
            config=self.config.to_dict(),
            epoch=epoch,
            step=step,
            global_step=self.global_step,
            best_ap=self.best_ap,
            world_size=self.dist.world_size,
            trainer={"bad_images": int(self.bad_count), "elapsed_s": float(self._elapsed())},
        )
        return path

    def _copy_best(self) -> str:
        src = os.path.join(self.workdir, LAST)
        dst = os.path.join(self.workdir, BEST)
        tmp = os.path.join(self.workdir, f".{BEST}.{os.getpid()}.tmp")
        try:
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return dst

    def _elapsed(self) -> float:
        return self.elapsed_before + (time.monotonic() - self._t0)

    def _time_is_up(self, reserve: float) -> bool:
        if self.max_steps is not None and self.global_step - self._first_step >= self.max_steps:
            return True
        limit = self.config.train.max_minutes
        if limit is None:
            return False
        up = (time.monotonic() - self._t0) + reserve >= 60.0 * limit
        return any_rank(up and self.dist.is_main, self.dist)  # rank 0's clock decides

    def _validate(self) -> Optional[Dict[str, Any]]:
        """Rank 0 validates; the others wait. Returns the metrics on rank 0."""
        metrics = None
        if self.validator is not None:
            bar = None
            if not self.quiet:
                from tqdm import tqdm

                bar = tqdm(total=len(self.val_set), desc="validate", unit="person", leave=False, dynamic_ncols=True)
            try:
                metrics = self.validator(self.model, self.device, progress=bar.update if bar is not None else None)
            finally:
                if bar is not None:
                    bar.close()
            self.last_ap = metrics["AP"]
            self._last_val_s = metrics["time_s"]
            record = {"type": "val", "epoch": self.epoch + 1, "global_step": self.global_step}
            record.update(metrics)
            self.metrics.append(record)
            if self.tb is not None:
                self.tb.scalars("val", metrics, self.global_step)
            self.echo(
                f"epoch {self.epoch + 1}: val AP {metrics['AP']:.4f}  AP50 {metrics['AP50']:.4f}  "
                f"AR {metrics['AR']:.4f}  ({metrics['num_people']} people, {metrics['time_s']:.1f} s)"
            )
        barrier(self.dist)
        return metrics

    def _note_bad(self, paths: List[str]) -> None:
        for path in paths:
            self.bad_count += 1
            if path not in self.bad_paths:
                self.bad_paths.add(path)
                self.echo(
                    f"warning: skipped missing or unreadable image {path} "
                    f"({len(self.bad_paths)} distinct so far; set data.skip_bad_images: false to fail instead)"
                )

    def _train_step(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        c = self.config.train
        dev = self.device
        crops = batch["image"].to(dev, non_blocking=True).float().div_(255.0)
        if self.config.model.channels_last:
            crops = crops.contiguous(memory_format=torch.channels_last)
        visible = batch["visible"].to(dev, non_blocking=True)
        targets, weights = self.codec.encode(batch["keypoints"].to(dev, non_blocking=True), visible)
        centred = centred_w = None
        if self.model.parallel_sppe is not None and c.parallel_sppe_weight > 0:
            centred, centred_w = self.codec.encode(batch["centred"].to(dev, non_blocking=True), visible)
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=self.use_amp):
            out = self.train_model(crops)
            losses = self.model.losses(
                out, targets, weights, centred, centred_w,
                loss_weight=c.loss_weight, parallel_weight=c.parallel_sppe_weight,
            )
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["total"]).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.warmup is not None:
            self.warmup.step()
        self.multistep.step()
        return {k: v.detach() for k, v in losses.items()}

    # ------------------------------------------------------------------ loop

    def fit(self) -> TrainSummary:
        """Run the experiment to the end (or until ``train.max_minutes``); returns a summary."""
        self._t0 = time.monotonic()
        self._last_val_s = 0.0
        try:
            self._setup()
            with warnings.catch_warnings():
                # the scheduler step after a step skipped by the AMP scaler is harmless
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)`")
                return self._fit()
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            if getattr(self, "tb", None) is not None:
                self.tb.close()
            if hasattr(self, "dist"):
                shutdown(self.dist)

    def _fit(self) -> TrainSummary:
        from tqdm import tqdm

        c = self.config
        t = c.train
        bs = t.batch_size
        world = self.dist.world_size
        stopped = False
        self._first_step = self.global_step
        last_loss = None
        if self.dist.is_main:
            n_val = len(self.val_set) if self.val_set is not None else 0
            self.echo(
                f"training {c.model.name} {c.model.input_size[0]}x{c.model.input_size[1]}"
                f"{' + STN' if c.model.stn else ''} on {len(self.train_set)} people "
                f"({self.steps_per_epoch} steps/epoch x {t.epochs} epochs, batch {bs} x {world} process"
                f"{'es' if world > 1 else ''}), validation on {n_val} people, device {self.device}"
                f"{', AMP' if self.use_amp else ''}; work dir {self.workdir}"
            )
        while self.epoch < t.epochs and not stopped:
            if self.step == 0 and self.model.parallel_sppe is not None:
                self.model.update_parallel_sppe()
            self.sampler.set_epoch(self.epoch)
            self.sampler.skip(self.step * bs)
            self.train_model.train()
            loader = self._loader()
            show = self.dist.is_main and not self.quiet
            self._bar = tqdm(
                total=self.steps_per_epoch, initial=self.step, desc=f"epoch {self.epoch + 1}/{t.epochs}",
                unit="step", disable=not show, leave=False, dynamic_ncols=True,
            )
            sums: Dict[str, torch.Tensor] = {}
            win: Dict[str, torch.Tensor] = {}
            n_steps = win_steps = 0
            epoch_t0 = win_t0 = time.perf_counter()
            for batch in loader:
                if batch["errors"]:
                    raise RMPEError(batch["errors"][0])
                if batch["bad"]:
                    self._note_bad(batch["bad"])
                losses = self._train_step(batch)
                self.step += 1
                self.global_step += 1
                n_steps += 1
                win_steps += 1
                for k, v in losses.items():
                    sums[k] = sums.get(k, 0.0) + v
                    win[k] = win.get(k, 0.0) + v
                self._bar.update(1)
                if win_steps >= t.log_interval or self.step >= self.steps_per_epoch:
                    now = time.perf_counter()
                    loss = float(win["total"]) / win_steps
                    if not math.isfinite(loss):
                        raise RMPEError(
                            f"training diverged at step {self.global_step} (loss {loss}); lower train.lr or check the data"
                        )
                    rate = win_steps * bs * world / max(now - win_t0, 1e-9)
                    record = {
                        "type": "train", "epoch": self.epoch + 1, "step": self.step, "global_step": self.global_step,
                        "loss": loss, "loss_heatmap": float(win["heatmap"]) / win_steps,
                        "loss_parallel": float(win["parallel"]) / win_steps if "parallel" in win else None,
                        "lr": self._lr(), "samples_per_s": rate, "time_s": self._elapsed(),
                    }
                    if self.dist.is_main:
                        self.metrics.append(record)
                        if self.tb is not None:
                            self.tb.scalars("train", {"loss": loss, "lr": self._lr(), "samples_per_s": rate},
                                            self.global_step)
                    self._bar.set_postfix(loss=f"{loss:.3g}", lr=f"{self._lr():.2g}", sps=f"{rate:.1f}")
                    win, win_steps, win_t0 = {}, 0, now
                if self.step < self.steps_per_epoch and self._time_is_up(self._last_val_s):
                    stopped = True
                    break
            self._bar.close()
            self._bar = None
            del loader
            epoch_s = time.perf_counter() - epoch_t0
            total = all_reduce_sum(torch.tensor([float(sums["total"]) if sums else 0.0, float(n_steps)]), self.dist)
            bad = int(all_reduce_sum(torch.tensor([len(self.bad_paths)]), self.dist).item())
            last_loss = float(total[0] / total[1]) if float(total[1]) > 0 else last_loss
            finished = self.step >= self.steps_per_epoch
            if self.dist.is_main and n_steps:
                record = {
                    "type": "epoch", "epoch": self.epoch + 1, "step": self.step, "global_step": self.global_step,
                    "loss": last_loss,
                    "loss_heatmap": float(sums["heatmap"]) / n_steps,
                    "loss_parallel": float(sums["parallel"]) / n_steps if "parallel" in sums else None,
                    "lr": self._lr(), "samples_per_s": n_steps * bs * world / max(epoch_s, 1e-9),
                    "time_s": self._elapsed(), "complete": finished, "bad_images": bad,
                }
                self.metrics.append(record)
                if self.tb is not None:
                    self.tb.scalars("epoch", {"loss": last_loss, "samples_per_s": record["samples_per_s"]},
                                    self.global_step)
                self.echo(
                    f"epoch {self.epoch + 1}{'' if finished else ' (stopped early)'}: loss {last_loss:.4g}, "
                    f"lr {self._lr():.3g}, {record['samples_per_s']:.1f} samples/s, {epoch_s:.0f} s"
                )
            last_epoch = self.epoch + 1 >= t.epochs
            if finished:
                due = (self.epoch + 1) % t.val_interval == 0 or last_epoch
                if not due and t.max_minutes is not None:
                    # validate now if the next epoch may not fit in the time left
                    per_epoch = epoch_s * self.steps_per_epoch / max(n_steps, 1)
                    due = self._time_is_up(self._last_val_s + per_epoch)
                metrics = self._validate() if due else None
                improved = metrics is not None and (self.best_ap is None or metrics["AP"] > self.best_ap)
                if improved:
                    self.best_ap = metrics["AP"]
                if self.dist.is_main:
                    self._save(self.epoch + 1, 0)
                    if improved:
                        self._copy_best()
                    self._plot()
                barrier(self.dist)
                self.epoch += 1
                self.step = 0
                if not last_epoch and self._time_is_up(self._last_val_s):
                    stopped = True
            else:
                metrics = self._validate()
                improved = metrics is not None and (self.best_ap is None or metrics["AP"] > self.best_ap)
                if improved:
                    self.best_ap = metrics["AP"]
                if self.dist.is_main:
                    self._save(self.epoch, self.step)
                    if improved:
                        self._copy_best()
                    self._plot()
                barrier(self.dist)
        summary = TrainSummary(
            epochs_done=self.epoch,
            global_step=self.global_step,
            stopped_early=stopped,
            best_ap=self.best_ap,
            last_ap=self.last_ap,
            last_loss=last_loss,
            elapsed_s=self._elapsed(),
            bad_images=int(all_reduce_sum(torch.tensor([self.bad_count]), self.dist).item()),
            workdir=self.workdir,
            last_checkpoint=os.path.join(self.workdir, LAST),
            best_checkpoint=os.path.join(self.workdir, BEST) if os.path.isfile(os.path.join(self.workdir, BEST)) else None,
        )
        if self.dist.is_main:
            atomic_write_json(os.path.join(self.workdir, SUMMARY), summary.as_dict(), indent=2)
            if stopped:
                self.echo(
                    f"stopped after {summary.elapsed_s / 60:.1f} min (train.max_minutes); "
                    f"resume with --resume to continue"
                )
            if summary.bad_images:
                self.echo(f"warning: {summary.bad_images} samples had missing or unreadable images and were replaced")
        return summary

    def _plot(self) -> None:
        ok = plot_curves(self.metrics.records(), os.path.join(self.workdir, CURVES), title=os.path.basename(self.workdir))
        if not ok and not getattr(self, "_warned_plot", False):
            self._warned_plot = True
            self.echo("note: matplotlib is not installed; no curves.png is drawn (metrics.jsonl has the numbers)")


def train(config: Config, workdir: str, **kwargs: Any) -> TrainSummary:
    """Train ``config`` into ``workdir`` (keyword arguments as for :class:`Trainer`)."""
    return Trainer(config, workdir, **kwargs).fit()
