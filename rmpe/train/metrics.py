"""Training records: a JSON Lines log, optional TensorBoard, and a PNG of the curves.

Every record is one JSON object on its own line of ``metrics.jsonl`` in the work dir:

* ``{"type": "train", "epoch", "step", "global_step", "loss", "loss_heatmap",
  "loss_parallel", "lr", "samples_per_s", "time_s"}`` every ``train.log_interval`` steps;
* ``{"type": "epoch", ...same keys, averaged over the epoch..., "bad_images"}`` at the end
  of each epoch (and when a run stops early);
* ``{"type": "val", "epoch", "global_step", "AP", "AP50", ..., "num_people", "time_s"}``
  after each validation.

Lines are appended and flushed one at a time; a resumed run first rewrites the file
(atomically) without the records written after its checkpoint, so the log never holds a
step twice.
"""
from __future__ import annotations

import json
import math
import os
from typing import Any, Dict, Iterable, List, Optional

from ..io import atomic_open


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


class MetricsLog:
    """Append-only JSON Lines file of training records.

    Args:
        path: the ``.jsonl`` file (created on the first record).
    """

    def __init__(self, path: str) -> None:
        self.path = os.fspath(path)

    def append(self, record: Dict[str, Any]) -> None:
        """Write one record as a line and flush it to disk."""
        os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(_clean(record), sort_keys=False) + "\n")
            fh.flush()

    def records(self) -> List[Dict[str, Any]]:
        """All complete records (a torn last line from a crash is ignored)."""
        if not os.path.isfile(self.path):
            return []
        out = []
        with open(self.path, "r", encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(rec, dict):
                    out.append(rec)
        return out

    def truncate_after(self, global_step: int) -> None:
        """Drop records written after optimiser step ``global_step`` (atomic rewrite)."""
        if not os.path.isfile(self.path):
            return
        keep = [r for r in self.records() if int(r.get("global_step", 0)) <= int(global_step)]
        with atomic_open(self.path, "w") as fh:
            for rec in keep:
                fh.write(json.dumps(rec) + "\n")


class TensorBoardLog:
    """Scalars to TensorBoard when the ``tensorboard`` package is installed; else nothing."""

    def __init__(self, log_dir: str) -> None:
        self.writer = None
        try:
            from torch.utils.tensorboard import SummaryWriter  # needs the tensorboard package
        except Exception:  # noqa: BLE001 - optional dependency
            return
        try:
            self.writer = SummaryWriter(log_dir=log_dir)
        except Exception:  # noqa: BLE001
            self.writer = None

    @property
    def available(self) -> bool:
        return self.writer is not None

    def scalars(self, prefix: str, values: Dict[str, Any], step: int) -> None:
        if self.writer is None:
            return
        for key, value in values.items():
            if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value)):
                self.writer.add_scalar(f"{prefix}/{key}", float(value), step)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.flush()
            self.writer.close()


def plot_curves(records: Iterable[Dict[str, Any]], path: str, title: Optional[str] = None) -> bool:
    """Draw the loss (per logged step) and validation AP (per epoch) curves into a PNG.

    Args:
        records: metrics records (:class:`MetricsLog`).
        path: the PNG file, written atomically.
        title: figure title.

    Returns:
        False when matplotlib is not installed (nothing is written), else True.
    """
    try:
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt
    except Exception:  # noqa: BLE001 - optional dependency
        return False
    recs = list(records)
    train = [r for r in recs if r.get("type") == "train" and r.get("loss") is not None]
    epochs = [r for r in recs if r.get("type") == "epoch" and r.get("loss") is not None]
    vals = [r for r in recs if r.get("type") == "val" and r.get("AP") is not None]
    fig, (ax_loss, ax_ap) = plt.subplots(1, 2, figsize=(10, 4))
    if train:
        ax_loss.plot([r["global_step"] for r in train], [r["loss"] for r in train], lw=1, alpha=0.6, label="logged")
    if epochs:
        ax_loss.plot(
            [r["global_step"] for r in epochs], [r["loss"] for r in epochs], "o-", lw=1.5, ms=3, label="epoch mean"
        )
    ax_loss.set_xlabel("optimiser step")
    ax_loss.set_ylabel("training loss")
    if train or epochs:
        ax_loss.set_yscale("log")
        ax_loss.legend(loc="upper right")
    ax_loss.grid(True, alpha=0.3)
    if vals:
        ax_ap.plot([r["global_step"] for r in vals], [r["AP"] for r in vals], "o-", label="AP")
        if all("AP50" in r for r in vals):
            ax_ap.plot([r["global_step"] for r in vals], [r["AP50"] for r in vals], "s--", ms=3, label="AP50")
        ax_ap.legend(loc="lower right")
    ax_ap.set_xlabel("optimiser step")
    ax_ap.set_ylabel("validation AP (ground-truth boxes)")
    ax_ap.set_ylim(0, 1)
    ax_ap.grid(True, alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=100)
    plt.close(fig)
    return True
