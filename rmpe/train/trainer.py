"""The training loop: data, RMPE model, losses, optimiser, checkpoints, validation, logs.

One :class:`Trainer` runs a whole experiment from a :class:`rmpe.config.Config`:

* data: :class:`rmpe.data.dataset.COCOKeypointDataset` (one sample per person, augmentation as
  one affine per sample, crops in DataLoader workers with ``cv2.warpAffine``), sampled by
  :class:`rmpe.train.sampler.EpochSampler` (a ``DistributedSampler`` under ``torchrun``);
* targets: the batch's keypoints encoded by the shared :class:`rmpe.codec.HeatmapCodec` on
  the training device; with the STN also the centre-located targets of the parallel SPPE;
* loss (:meth:`rmpe.model.RMPEModel.losses`): ``loss_weight`` x visibility-weighted MSE of
  the SDTN-resampled heatmaps + ``parallel_sppe_weight`` x the same on the frozen parallel
  SPPE's heatmaps (refreshed from the SPPE at every epoch start);
* Adam, ``MultiStepLR`` (milestones ``lr_steps`` epochs, stepped per iteration), optional
  linear warm-up over ``warmup_epochs`` from 1 % of the rate, fp16 AMP on CUDA;
* validation: :class:`rmpe.train.validate.Validator`, the rmpe-eval path on the validation images;
* rank 0 writes ``last.pth`` every epoch (and when a run stops early), ``best.pth`` whenever
  validation AP improves, ``metrics.jsonl``, ``curves.png``, ``config.yaml`` and TensorBoard
  events (when installed); ``--resume`` continues from ``last.pth`` exactly where it stood.

A run stops early, after the optimiser step in progress and with a mid-epoch ``last.pth``,
when ``train.max_minutes`` would be exceeded (it validates first), when ``max_steps`` steps
are done (likewise), or on SIGINT / SIGTERM (:mod:`rmpe.train.interrupt`; it saves at once,
without validating). Every rank takes the same decision at the same step.

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
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm

from ..config import Config, save_config
from ..data.loader import build_loader, collate_samples
from ..distributed import DistInfo, all_reduce_sum, any_rank, barrier, init_distributed, resolve_device, shutdown
from ..errors import RMPEError
from ..io import atomic_write_json
from .interrupt import StopSignals
from .metrics import MetricsLog, TensorBoardLog, plot_curves
from .sampler import EpochSampler
from .state import load_training_checkpoint, save_training_checkpoint
from .validate import Validator

if TYPE_CHECKING:
    from ..model import RMPEModel

#: Files in the work dir.
LAST = "last.pth"
BEST = "best.pth"
METRICS = "metrics.jsonl"
CURVES = "curves.png"
CONFIG = "config.yaml"
SUMMARY = "summary.json"

#: Warm-up starts at this fraction of the learning rate.
WARMUP_START = 0.01


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


#: Why a run stopped early (:attr:`TrainSummary.stop_reason`).
STOP_SIGNAL = "signal"
STOP_TIME = "train.max_minutes"
STOP_STEPS = "max_steps"


@dataclass
class TrainSummary:
    """What a finished (or stopped) run reports.

    ``stop_reason`` says why a run stopped early (None when it finished): ``"signal"``
    (SIGINT/SIGTERM on some rank), ``"train.max_minutes"`` or ``"max_steps"``;
    ``stop_signal`` is the signal number this process received (None otherwise).
    """

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
    stop_reason: Optional[str] = None
    stop_signal: Optional[int] = None

    def as_dict(self) -> Dict[str, Any]:
        """The fields as a JSON-ready dict (``summary.json``)."""
        return asdict(self)


@dataclass
class LossSums:
    """Summed per-step losses over a run of optimiser steps (a log window or an epoch).

    Attributes:
        sums: loss name (``total``, ``heatmap``, ``parallel``) -> sum of the 0-d loss
            tensors of :meth:`rmpe.model.RMPEModel.losses`, detached.
        steps: number of steps summed.
        t0: ``time.perf_counter()`` when the run of steps began.
    """

    sums: Dict[str, torch.Tensor] = field(default_factory=dict)
    steps: int = 0
    t0: float = field(default_factory=time.perf_counter)

    def add(self, losses: Dict[str, torch.Tensor]) -> None:
        """Add one step's losses."""
        self.steps += 1
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + v

    def mean(self, key: str) -> Optional[float]:
        """Mean of ``key`` per step (None when that loss is not computed)."""
        return float(self.sums[key]) / self.steps if key in self.sums else None


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
        self._bar: Optional[tqdm] = None
        self.bad_paths: set = set()
        self.bad_count = 0
        # built by _setup(): process group, device, data, model, optimisation, outputs
        self.dist = DistInfo()  # rank 0 of 1 until _setup joins the process group
        self.device = torch.device("cpu")
        self.use_amp = False
        self.train_set: Any = None
        self.bottomup = False  # a bottom-up model.name (set by _setup)
        self.model: Optional["RMPEModel"] = None
        self.train_model: Optional[torch.nn.Module] = None  # the model, DDP-wrapped under torchrun
        self.codec: Any = None
        self.optimizer: Optional[torch.optim.Optimizer] = None
        self.warmup: Optional[torch.optim.lr_scheduler.LinearLR] = None
        self.multistep: Optional[torch.optim.lr_scheduler.MultiStepLR] = None
        self.scaler: Optional[torch.amp.GradScaler] = None
        self.sampler: Optional[EpochSampler] = None
        self.drop_last = True
        self.steps_per_epoch = 0
        self.validator: Any = None
        self.metrics = MetricsLog(os.path.join(self.workdir, METRICS))
        self.tb: Optional[TensorBoardLog] = None
        # where training stands (restored by --resume)
        self.epoch = 0
        self.step = 0
        self.global_step = 0
        self.best_ap: Optional[float] = None
        self.last_ap: Optional[float] = None
        self.last_loss: Optional[float] = None
        self.elapsed_before = 0.0
        # clocks and stopping
        self._t0 = time.monotonic()
        self._last_val_s = 0.0
        self._first_step = 0
        self._signals = StopSignals()
        self._warned_plot = False

    # ------------------------------------------------------------------ console

    def echo(self, message: str) -> None:
        """A console line (rank 0 only, nothing when quiet)."""
        if self.quiet or not self.dist.is_main:
            return
        if self._echo is not None:
            self._echo(message)
        elif self._bar is not None:
            self._bar.write(message, file=sys.stderr)
        else:
            print(message, file=sys.stderr, flush=True)

    # ------------------------------------------------------------------ set-up

    def _setup(self) -> None:
        from ..data.dataset import COCOKeypointDataset
        from ..bottomup.network import is_bottomup
        from ..data.synthetic.coco import is_synthetic
        from ..model import RMPEModel

        c = self.config
        self.bottomup = is_bottomup(c.model.name)  # bottom-up (rmpe.bottomup): whole images, maps + fields
        if not c.data.train_ann or not c.data.train_images:
            raise RMPEError("config has no training data: set data.train_ann and data.train_images")
        device = resolve_device(self.device_name)
        self.dist = init_distributed(device.type)
        if device.type == "cuda" and self.dist.world_size > 1:
            device = torch.device("cuda", self.dist.local_rank)
        self.device = device
        self.use_amp = bool(c.train.amp and device.type == "cuda")
        set_deterministic(c.train.deterministic)
        seed_everything(c.train.seed)

        if self.bottomup:
            from ..bottomup.data import BottomUpDataset

            self.train_set = BottomUpDataset.from_config(c, "train")
        else:
            self.train_set = COCOKeypointDataset.from_config(c, "train")
        # only rank 0 validates, with the rmpe-eval path (rmpe.train.validate)
        self.validator = Validator.from_config(c, warn=self.echo) if self.dist.is_main else None
        if self.train_set.persons.skipped:
            skipped = ", ".join(f"{v} {k}" for k, v in sorted(self.train_set.persons.skipped.items()))
            self.echo(f"training annotations left out: {skipped}")
        if c.train.flip and is_synthetic(self.train_set.persons.description):
            self.echo(
                "warning: train.flip is on, but rmpe-synth people carry a marking on their left side that "
                "mirrored crops contradict; set train.flip: false for synthetic data (README: synthetic data)"
            )

        if self.bottomup:
            from ..bottomup.network import BottomUpNet

            model = BottomUpNet.from_config(c)
        else:
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

        self._open_workdir()

        if self.dist.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [device.index] if device.type == "cuda" else None
            self.train_model = DistributedDataParallel(self.model, device_ids=ids)
        else:
            self.train_model = self.model

        self.tb = TensorBoardLog(os.path.join(self.workdir, "tensorboard")) if self.dist.is_main else None
        if self.dist.is_main:
            save_config(c, os.path.join(self.workdir, CONFIG))

    def _open_workdir(self) -> None:
        """Create the work dir; with ``--resume`` restore ``last.pth`` (model, optimiser,
        schedulers, scaler, RNG, position), else refuse a work dir that holds one."""
        device, world = self.device, self.dist.world_size
        os.makedirs(self.workdir, exist_ok=True)
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

    def _schedulers(self) -> Dict[str, Any]:
        return {"warmup": self.warmup, "multistep": self.multistep}

    # ------------------------------------------------------------------ pieces

    def _loader(self) -> DataLoader:
        return build_loader(
            self.train_set,
            batch_size=self.config.train.batch_size,
            sampler=self.sampler,
            num_workers=self.config.data.num_workers,
            drop_last=self.drop_last,
            pin_memory=self.device.type == "cuda",
            collate=getattr(self.train_set, "collate", collate_samples),
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

    def _over_budget(self, reserve: float) -> bool:
        """This process's clock: ``train.max_minutes`` is spent ``reserve`` seconds from now."""
        limit = self.config.train.max_minutes
        return limit is not None and (time.monotonic() - self._t0) + reserve >= 60.0 * limit

    def _stop_reason(self, reserve: float) -> Optional[str]:
        """Why the run must stop now, the same answer on every rank; None to go on.

        ``max_steps`` reached; else a stop signal on any rank; else rank 0's clock says
        ``train.max_minutes`` is spent ``reserve`` seconds from now (one exchange per call
        under torchrun).
        """
        if self.max_steps is not None and self.global_step - self._first_step >= self.max_steps:
            return STOP_STEPS
        own_signal = self._signals.received is not None
        own_budget = self.dist.is_main and self._over_budget(reserve)
        signalled, spent = any_rank([own_signal, own_budget], self.dist)
        if signalled:
            return STOP_SIGNAL
        return STOP_TIME if spent else None

    def _validate(self) -> Optional[Dict[str, Any]]:
        """Rank 0 validates; the others wait. Returns the metrics on rank 0."""
        metrics = None
        if self.validator is not None:
            bar = None
            if not self.quiet:
                bar = tqdm(total=len(self.validator), desc="validate", unit="img", leave=False, dynamic_ncols=True)
            try:
                metrics = self.validator(self.model, self.device, progress=bar.update if bar is not None else None)
            finally:
                if bar is not None:
                    bar.close()
            self.last_ap = metrics["AP"]
            self._last_val_s = metrics["time_s"]
            record = {"type": "val", "epoch": self.epoch + 1, "global_step": self.global_step}
            record.update(metrics)
            self._log(record, metrics)
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
        if self.bottomup:
            return self._bottomup_step(batch)
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
        return self._optimizer_step(losses)

    def _optimizer_step(self, losses: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Backward of ``losses["total"]``, the (AMP-scaled) Adam step and the schedulers; detached losses."""
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(losses["total"]).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        if self.warmup is not None:
            self.warmup.step()
        self.multistep.step()
        return {k: v.detach() for k, v in losses.items()}

    def _bottomup_step(self, batch: Dict[str, Any]) -> Dict[str, torch.Tensor]:
        """One optimiser step of a bottom-up network: masked L2 of every stage (rmpe.bottomup.network)."""
        from ..bottomup.network import bottomup_losses

        dev = self.device
        images = batch["image"].to(dev, non_blocking=True).float().div_(255.0)
        maps, fields, mask = (batch[k].to(dev, non_blocking=True) for k in ("maps", "fields", "mask"))
        with torch.autocast(device_type=dev.type, dtype=torch.float16, enabled=self.use_amp):
            losses = bottomup_losses(self.train_model(images), maps, fields, mask)
        return self._optimizer_step(losses)

    # ------------------------------------------------------------------ records

    def _record(
        self, kind: str, losses: LossSums, seconds: float, loss: Optional[float], **extra: Any
    ) -> Dict[str, Any]:
        """A ``train`` or ``epoch`` record of :mod:`rmpe.train.metrics` for the steps in ``losses``.

        Args:
            kind: ``"train"`` (a log window) or ``"epoch"``.
            losses: the steps' summed losses.
            seconds: wall time of those steps (for ``samples_per_s``, over all ranks).
            loss: the total loss to report (the window's mean, or the epoch's mean over ranks).
            extra: further keys, appended in order.
        """
        samples = losses.steps * self.config.train.batch_size * self.dist.world_size
        record = {
            "type": kind, "epoch": self.epoch + 1, "step": self.step, "global_step": self.global_step,
            "loss": loss, "loss_heatmap": losses.mean("heatmap"), "loss_parallel": losses.mean("parallel"),
            "lr": self._lr(), "samples_per_s": samples / max(seconds, 1e-9), "time_s": self._elapsed(),
        }
        record.update(extra)
        return record

    def _log(self, record: Dict[str, Any], scalars: Dict[str, Any]) -> None:
        """Rank 0: ``record`` to ``metrics.jsonl``, ``scalars`` to TensorBoard under the record's type."""
        if not self.dist.is_main:
            return
        self.metrics.append(record)
        if self.tb is not None:
            self.tb.scalars(record["type"], scalars, self.global_step)

    def _log_window(self, window: LossSums, now: float) -> None:
        """Log the steps since the last ``train`` record; stop a diverged run."""
        loss = window.mean("total")
        if not math.isfinite(loss):
            raise RMPEError(
                f"training diverged at step {self.global_step} (loss {loss}); lower train.lr or check the data"
            )
        record = self._record("train", window, now - window.t0, loss)
        self._log(record, {k: record[k] for k in ("loss", "lr", "samples_per_s")})
        self._bar.set_postfix(loss=f"{loss:.3g}", lr=f"{record['lr']:.2g}", sps=f"{record['samples_per_s']:.1f}")

    def _log_epoch(self, losses: LossSums, seconds: float, finished: bool) -> None:
        """Log the epoch's (or the stopped epoch's) mean loss over all ranks."""
        summed = float(losses.sums["total"]) if losses.sums else 0.0
        total = all_reduce_sum(torch.tensor([summed, float(losses.steps)]), self.dist)
        bad = int(all_reduce_sum(torch.tensor([len(self.bad_paths)]), self.dist).item())
        if float(total[1]) > 0:
            self.last_loss = float(total[0] / total[1])
        if not (self.dist.is_main and losses.steps):
            return
        record = self._record("epoch", losses, seconds, self.last_loss, complete=finished, bad_images=bad)
        self._log(record, {k: record[k] for k in ("loss", "samples_per_s")})
        self.echo(
            f"epoch {self.epoch + 1}{'' if finished else ' (stopped early)'}: loss {self.last_loss:.4g}, "
            f"lr {record['lr']:.3g}, {record['samples_per_s']:.1f} samples/s, {seconds:.0f} s"
        )

    def _plot(self) -> None:
        ok = plot_curves(self.metrics.records(), os.path.join(self.workdir, CURVES), title=os.path.basename(self.workdir))
        if not ok and not self._warned_plot:
            self._warned_plot = True
            self.echo("note: matplotlib is not installed; no curves.png is drawn (metrics.jsonl has the numbers)")

    # ------------------------------------------------------------------ loop

    def fit(self) -> TrainSummary:
        """Run the experiment to the end, or until it is stopped early (module docstring)."""
        self._t0 = time.monotonic()
        self._last_val_s = 0.0
        try:
            self._setup()
            with warnings.catch_warnings(), self._signals:
                # the scheduler step after a step skipped by the AMP scaler is harmless
                warnings.filterwarnings("ignore", message="Detected call of `lr_scheduler.step\\(\\)`")
                return self._fit()
        finally:
            if self._bar is not None:
                self._bar.close()
                self._bar = None
            if self.tb is not None:
                self.tb.close()
            shutdown(self.dist)

    def _fit(self) -> TrainSummary:
        self._first_step = self.global_step
        self._announce()
        stop = None
        while self.epoch < self.config.train.epochs and stop is None:
            losses, seconds, stop = self._train_epoch()
            stop = self._end_epoch(losses, seconds, stop)
        return self._summary(stop)

    def _announce(self) -> None:
        c, t, world = self.config, self.config.train, self.dist.world_size
        n_val = len(self.validator) if self.validator is not None else 0
        self.echo(
            f"training {c.model.name} {c.model.input_size[0]}x{c.model.input_size[1]}"
            f"{' + STN' if c.model.stn else ''} on {len(self.train_set)} {'images' if self.bottomup else 'people'} "
            f"({self.steps_per_epoch} steps/epoch x {t.epochs} epochs, batch {t.batch_size} x {world} process"
            f"{'es' if world > 1 else ''}), validation on {n_val} images, device {self.device}"
            f"{', AMP' if self.use_amp else ''}; work dir {self.workdir}"
        )

    def _train_epoch(self) -> Tuple[LossSums, float, Optional[str]]:
        """Run the current epoch's remaining steps, or fewer when the run must stop.

        Returns:
            (the steps' summed losses, their wall time in seconds, why the run must stop
            or None).
        """
        t = self.config.train
        if self.step == 0 and self.model.parallel_sppe is not None:
            self.model.update_parallel_sppe()
        self.sampler.set_epoch(self.epoch)
        self.sampler.skip(self.step * t.batch_size)
        self.train_model.train()
        loader = self._loader()
        self._bar = tqdm(
            total=self.steps_per_epoch, initial=self.step, desc=f"epoch {self.epoch + 1}/{t.epochs}",
            unit="step", disable=self.quiet or not self.dist.is_main, leave=False, dynamic_ncols=True,
        )
        epoch = LossSums()
        window = LossSums(t0=epoch.t0)
        stop = None
        for batch in loader:
            if batch["errors"]:
                raise RMPEError(batch["errors"][0])
            if batch["bad"]:
                self._note_bad(batch["bad"])
            losses = self._train_step(batch)
            self.step += 1
            self.global_step += 1
            epoch.add(losses)
            window.add(losses)
            self._bar.update(1)
            if window.steps >= t.log_interval or self.step >= self.steps_per_epoch:
                now = time.perf_counter()
                self._log_window(window, now)
                window = LossSums(t0=now)
            stop = self._stop_reason(self._last_val_s)
            if stop is not None and self.step < self.steps_per_epoch:
                break
        self._bar.close()
        self._bar = None
        del loader
        return epoch, time.perf_counter() - epoch.t0, stop

    def _end_epoch(self, losses: LossSums, seconds: float, stop: Optional[str]) -> Optional[str]:
        """Close the epoch after its steps ran: log it, validate when due, save ``last.pth``
        (and ``best.pth`` on a better AP), draw the curves, and move on to the next epoch
        when this one is complete.

        Args:
            losses / seconds: the epoch's steps (this run's part of it) and their wall time.
            stop: why the run must stop, as :meth:`_stop_reason` said after the last step.

        Returns:
            why the run stops here, or None to go on.
        """
        t = self.config.train
        finished = self.step >= self.steps_per_epoch
        last_epoch = self.epoch + 1 >= t.epochs
        self._log_epoch(losses, seconds, finished)
        if stop == STOP_SIGNAL:
            due = False  # stop promptly: whoever sent the signal is waiting
        elif finished:
            due = (self.epoch + 1) % t.val_interval == 0 or last_epoch
            if not due and t.max_minutes is not None:
                # validate now if the next epoch may not fit in the time left
                per_epoch = seconds * self.steps_per_epoch / max(losses.steps, 1)
                due = self._stop_reason(self._last_val_s + per_epoch) is not None
        else:
            due = True  # a mid-epoch stop by time or step budget validates what there is
        metrics = self._validate() if due else None
        improved = metrics is not None and (self.best_ap is None or metrics["AP"] > self.best_ap)
        if improved:
            self.best_ap = metrics["AP"]
        if self.dist.is_main:
            position = (self.epoch + 1, 0) if finished else (self.epoch, self.step)
            self._save(*position)
            if improved:
                self._copy_best()
            self._plot()
        barrier(self.dist)
        if not finished:
            return stop
        self.epoch += 1
        self.step = 0
        if stop == STOP_SIGNAL:
            return stop
        return None if last_epoch else self._stop_reason(self._last_val_s)

    def _summary(self, stop: Optional[str]) -> TrainSummary:
        """The run's summary (written to ``summary.json`` by rank 0), with closing messages."""
        best = os.path.join(self.workdir, BEST)
        summary = TrainSummary(
            epochs_done=self.epoch,
            global_step=self.global_step,
            stopped_early=stop is not None,
            best_ap=self.best_ap,
            last_ap=self.last_ap,
            last_loss=self.last_loss,
            elapsed_s=self._elapsed(),
            bad_images=int(all_reduce_sum(torch.tensor([self.bad_count]), self.dist).item()),
            workdir=self.workdir,
            last_checkpoint=os.path.join(self.workdir, LAST),
            best_checkpoint=best if os.path.isfile(best) else None,
            stop_reason=stop,
            stop_signal=self._signals.received if stop == STOP_SIGNAL else None,
        )
        if self.dist.is_main:
            atomic_write_json(os.path.join(self.workdir, SUMMARY), summary.as_dict(), indent=2)
            if stop is not None:
                cause = self._signals.name if stop == STOP_SIGNAL and self._signals.name else stop
                self.echo(f"stopped after {summary.elapsed_s / 60:.1f} min ({cause}); resume with --resume to continue")
            if summary.bad_images:
                self.echo(f"warning: {summary.bad_images} samples had missing or unreadable images and were replaced")
        return summary


def train(config: Config, workdir: str, **kwargs: Any) -> TrainSummary:
    """Train ``config`` into ``workdir`` (keyword arguments as for :class:`Trainer`)."""
    return Trainer(config, workdir, **kwargs).fit()
