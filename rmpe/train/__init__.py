"""Training: the :class:`Trainer` loop, resumable sampling, checkpoints, validation, logs.

Example::

    from rmpe.config import load_config
    from rmpe.train import train

    cfg = load_config("configs/synthetic/quickstart.yaml")
    summary = train(cfg, "runs/quickstart")        # or Trainer(cfg, workdir, resume=True).fit()
    print(summary.best_ap)
"""
from .sampler import EpochSampler
from .state import load_training_checkpoint, save_training_checkpoint
from .trainer import Trainer, TrainSummary, train
from .validate import Validator

__all__ = [
    "EpochSampler",
    "Trainer",
    "TrainSummary",
    "Validator",
    "load_training_checkpoint",
    "save_training_checkpoint",
    "train",
]
