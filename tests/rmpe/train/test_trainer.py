"""The training loop (rmpe.train.trainer) and rmpe-train.

Tiny settings throughout: fastpose_se18 at 64x64 crops (aspect ratio 1) on a handful of
stick-figure people from ``make_keypoint_dataset`` (tests/rmpe/test_dataset.py).
"""
from __future__ import annotations

import contextlib
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from rmpe.codec import HeatmapCodec
from rmpe.config import config_from_dict
from rmpe.errors import RMPEError
from rmpe.testing import reference_crop_box
from rmpe.train import Trainer, train
from rmpe.train.trainer import WARMUP_START, build_schedulers

from tests.rmpe.data.test_dataset import make_keypoint_dataset

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def one_thread():
    """In-process training on one torch thread: on a busy 2-core machine a second OpenMP
    thread mostly waits for a preempted partner."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny_config(ann, img, val=None, **train_overrides):
    train_cfg = {
        "epochs": 2, "batch_size": 4, "lr": 1e-3, "log_interval": 1, "seed": 0, "deterministic": True,
        "scale_factor": 0.25, "rotation_factor": 30.0, "rotation_prob": 0.5, "flip": True,
    }
    train_cfg.update(train_overrides)
    data = {"train_ann": str(ann), "train_images": str(img), "num_workers": 0, "aspect_ratio": 1.0}
    if val is not None:
        data.update(val_ann=str(val[0]), val_images=str(val[1]))
    return {
        "model": {"name": "fastpose_se18", "input_size": [64, 64], "heatmap_size": [16, 16]},
        "data": data,
        "codec": {"sigma": 2.0},
        "train": train_cfg,
        "inference": {"sppe_batch": 8, "flip": False},
        "pose_nms": {"type": "none"},  # validation: one result per ground-truth person
        "device": "cpu",
    }


@pytest.fixture(scope="module")
def people16(tmp_path_factory):
    folder = tmp_path_factory.mktemp("train16")
    ann, img, _ = make_keypoint_dataset(folder, num_images=8, people_per_image=2, seed=3)
    vann, vimg, _ = make_keypoint_dataset(folder / "val", num_images=3, people_per_image=1, seed=4)
    return ann, img, (vann, vimg)


def _weights(path):
    return torch.load(path, map_location="cpu", weights_only=True)


def _assert_same_weights(a, b):
    for key in ("model", "stn"):
        if key not in a:
            continue
        assert a[key].keys() == b[key].keys()
        for name in a[key]:
            assert torch.equal(a[key][name], b[key][name]), f"{key}.{name} differs"


# ----------------------------------------------------------------------------- schedule


@pytest.mark.parametrize("warmup_epochs", [0.0, 1.5])
def test_lr_schedule_matches_formula(warmup_epochs):
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.Adam([p], lr=0.01)
    spe = 4
    warm, multi = build_schedulers(opt, spe, [2, 3], 0.1, warmup_epochs)
    w_iters = round(warmup_epochs * spe)
    for i in range(5 * spe):
        factor = 0.1 ** sum(1 for m in (2, 3) if m * spe <= i)
        if w_iters and i < w_iters:
            factor *= WARMUP_START + (1 - WARMUP_START) * i / w_iters
        assert math.isclose(opt.param_groups[0]["lr"], 0.01 * factor, rel_tol=1e-6), i
        opt.step()
        if warm is not None:
            warm.step()
        multi.step()


# ----------------------------------------------------------------------------- overfitting


def test_overfit_handful_of_samples(tmp_path):
    """8 people, no augmentation: the training loss falls at least 5x within 12 steps."""
    ann, img, _ = make_keypoint_dataset(tmp_path / "d", num_images=8, people_per_image=1, seed=0, blob=4)
    cfg = config_from_dict(tiny_config(ann, img, epochs=12, batch_size=8, scale_factor=0.0, rotation_factor=0.0,
                                       flip=False, deterministic=False))
    summary = train(cfg, str(tmp_path / "w"), quiet=True)
    records = [json.loads(line) for line in open(tmp_path / "w" / "metrics.jsonl")]
    losses = [r["loss"] for r in records if r["type"] == "train"]
    assert len(losses) == 12 and summary.global_step == 12
    # the first step's loss is the untrained net's: outputs ~0, so 0.5 x mean(target^2)
    codec = HeatmapCodec((64, 64), (16, 16), sigma=2.0)
    g = codec.encode(torch.tensor([[[32.0, 32.0]]]), torch.ones(1, 1))[0]
    assert losses[0] == pytest.approx(0.5 * float((g ** 2).mean()), rel=0.15)
    assert np.mean(losses[-2:]) <= losses[0] / 5, losses


# ----------------------------------------------------------------------------- outputs, checkpoints


@pytest.mark.slow
def test_run_writes_checkpoints_logs_and_plot(tmp_path, people16):
    import sppe
    from rmpe.checkpoints import load_model_checkpoint
    from rmpe.model import RMPEModel

    ann, img, val = people16
    cfg = config_from_dict(tiny_config(ann, img, val, epochs=2, batch_size=8))
    cfg.model.stn = True
    work = tmp_path / "w"
    summary = Trainer(cfg, str(work), quiet=True).fit()
    for name in ("last.pth", "best.pth", "metrics.jsonl", "curves.png", "config.yaml", "summary.json"):
        assert (work / name).is_file(), name
    assert summary.epochs_done == 2 and summary.global_step == 4 and summary.best_ap is not None
    ckpt = _weights(work / "last.pth")
    assert ckpt["epoch"] == 2 and ckpt["step"] == 0 and ckpt["global_step"] == 4
    for key in ("optimizer", "schedulers", "scaler", "rng", "config", "stn", "parallel_sppe"):
        assert key in ckpt, key
    assert set(ckpt["rng"]) >= {"torch", "numpy", "python"}
    assert ckpt["config"]["model"]["stn"] is True
    # the SPPE part loads strictly into a plain FastPose ...
    net = sppe.build_sppe("fastpose_se18", input_size=(64, 64))
    extra = sppe.load_checkpoint(net, work / "last.pth")
    assert extra["epoch"] == 2
    for k, v in net.state_dict().items():
        assert torch.equal(v, ckpt["model"][k])
    # ... and the whole model (with the STN) into an RMPEModel
    model = RMPEModel.from_config(cfg)
    load_model_checkpoint(model, work / "last.pth")
    for k, v in model.stn.state_dict().items():
        assert torch.equal(v, ckpt["stn"][k])
    # metrics: train lines every step, epoch lines, validation lines; AP in the summary
    records = [json.loads(line) for line in open(work / "metrics.jsonl")]
    kinds = [r["type"] for r in records]
    assert kinds.count("train") == 4 and kinds.count("epoch") == 2 and kinds.count("val") == 2
    vals = [r for r in records if r["type"] == "val"]
    assert summary.best_ap == max(r["AP"] for r in vals)
    assert all(r["num_people"] == 3 for r in vals)
    assert all(r["loss_parallel"] is not None for r in records if r["type"] == "train")
    # the work dir refuses a second run without --resume
    with pytest.raises(RMPEError, match="--resume"):
        Trainer(cfg, str(work), quiet=True).fit()


def test_init_from_alphapose_style_state_dict(tmp_path, people16):
    import sppe

    ann, img, _ = people16
    torch.manual_seed(123)
    donor = sppe.build_sppe("fastpose_se18", input_size=(64, 64))
    plain = tmp_path / "plain_state_dict.pth"
    torch.save({"module." + k: v for k, v in donor.state_dict().items()}, plain)
    cfg = config_from_dict(tiny_config(ann, img))
    cfg.model.init_from = str(plain)
    trainer = Trainer(cfg, str(tmp_path / "w"), quiet=True)
    trainer._setup()
    for k, v in donor.state_dict().items():
        assert torch.equal(trainer.model.sppe.state_dict()[k], v), k


def test_flip_on_synthetic_data_warns(tmp_path, people16):
    from rmpe.data.synthetic import generate_dataset

    synth = tmp_path / "synth"
    generate_dataset(synth, 3, seed=2, size=(160, 120))
    ann, img = synth / "annotations.json", synth / "images"

    def messages(ann, img, flip):
        out = []
        cfg = config_from_dict(tiny_config(ann, img, flip=flip))
        Trainer(cfg, str(tmp_path / "work"), echo=out.append)._setup()  # _setup writes nothing there
        return [m for m in out if "train.flip" in m]

    assert len(messages(ann, img, True)) == 1  # rmpe-synth marks the left side: mirroring contradicts it
    assert messages(ann, img, False) == []
    assert messages(people16[0], people16[1], True) == []  # other data: flip is the usual augmentation


@pytest.mark.slow
def test_mid_epoch_stop_and_resume_equals_uninterrupted(tmp_path, people16):
    """max_steps stops inside epoch 1 (of 4 steps); --resume continues to the same weights."""
    ann, img, _ = people16
    cfg = config_from_dict(tiny_config(ann, img, epochs=2))
    full = train(cfg, str(tmp_path / "full"), quiet=True)
    part = train(cfg, str(tmp_path / "part"), quiet=True, max_steps=3)
    assert part.stopped_early and part.global_step == 3
    ck = _weights(tmp_path / "part" / "last.pth")
    assert (ck["epoch"], ck["step"]) == (0, 3)
    rest = train(cfg, str(tmp_path / "part"), quiet=True, resume=True)
    assert rest.global_step == full.global_step == 8 and not rest.stopped_early
    a, b = _weights(tmp_path / "full" / "last.pth"), _weights(tmp_path / "part" / "last.pth")
    _assert_same_weights(a, b)
    assert a["optimizer"]["state"].keys() == b["optimizer"]["state"].keys()
    for i in a["optimizer"]["state"]:
        assert torch.equal(a["optimizer"]["state"][i]["exp_avg_sq"], b["optimizer"]["state"][i]["exp_avg_sq"])
    # the log holds each step once
    steps = [json.loads(line)["global_step"] for line in open(tmp_path / "part" / "metrics.jsonl")
             if json.loads(line)["type"] == "train"]
    assert steps == list(range(1, 9))


def test_signal_stops_after_the_running_step_without_validating(tmp_path, people16, monkeypatch):
    """SIGINT during step 3 of 4: that step finishes, last.pth holds (epoch 0, step 3), no
    validation runs (a max_steps stop at the same place validates), the handlers go back."""
    ann, img, val = people16
    cfg = config_from_dict(tiny_config(ann, img, val, epochs=2))
    handler_before = signal.getsignal(signal.SIGINT)
    plain_step = Trainer._train_step

    def step_then_interrupt(self, batch):
        out = plain_step(self, batch)
        if self.global_step == 2:  # counted after the step returns: this is step 3
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(Trainer, "_train_step", step_then_interrupt)
    summary = train(cfg, str(tmp_path / "sig"), quiet=True)
    assert summary.stopped_early and summary.stop_reason == "signal" and summary.stop_signal == signal.SIGINT
    ck = _weights(tmp_path / "sig" / "last.pth")
    assert (ck["epoch"], ck["step"], ck["global_step"]) == (0, 3, 3)
    kinds = [json.loads(line)["type"] for line in open(tmp_path / "sig" / "metrics.jsonl")]
    assert kinds == ["train"] * 3 + ["epoch"]
    assert signal.getsignal(signal.SIGINT) is handler_before
    monkeypatch.setattr(Trainer, "_train_step", plain_step)
    budget = train(cfg, str(tmp_path / "steps"), quiet=True, max_steps=3)
    assert budget.stop_reason == "max_steps" and budget.stop_signal is None
    kinds = [json.loads(line)["type"] for line in open(tmp_path / "steps" / "metrics.jsonl")]
    assert kinds == ["train"] * 3 + ["epoch", "val"]


# ----------------------------------------------------------------------------- bad data


def test_bad_training_image_skipped_or_fatal(tmp_path, people16):
    ann, img, _ = people16
    images = tmp_path / "images"
    images.mkdir()
    for f in Path(img).iterdir():
        (images / f.name).write_bytes(f.read_bytes())
    (images / "000002.png").write_bytes(b"\x89PNG garbage")
    cfg = config_from_dict(tiny_config(ann, images, epochs=1, batch_size=8))
    messages = []
    summary = Trainer(cfg, str(tmp_path / "ok"), quiet=False, echo=messages.append).fit()
    assert summary.global_step == 2
    assert summary.bad_images == 2  # both people of image 2, once each per epoch
    warned = [m for m in messages if "000002.png" in m]
    assert len(warned) == 1 and "unreadable" in warned[0]
    cfg.data.skip_bad_images = False
    with pytest.raises(RMPEError, match="000002.png"):
        train(cfg, str(tmp_path / "strict"), quiet=True)


# ----------------------------------------------------------------------------- validation


class HeatmapOracle(torch.nn.Module):
    """An 'SPPE' that returns prepared heatmaps, one batch per call."""

    def __init__(self, batches):
        super().__init__()
        self.batches = list(batches)
        self.dummy = torch.nn.Parameter(torch.zeros(1))
        self.num_keypoints = 17

    def forward(self, x):
        return self.batches.pop(0)


def reference_back_to_image(coords_hm, box, hm_wh=(16, 16), aspect=1.0, enlarge=1.25):
    """DESIGN.md: x = cx + (x_hm - w_hm / 2) * crop_w / w_hm (same for y), plain loops."""
    cx, cy, crop_w, crop_h = reference_crop_box(box, aspect, enlarge)
    out = []
    for x, y in coords_hm:
        out.append((cx + (x - hm_wh[0] / 2) * crop_w / hm_wh[0], cy + (y - hm_wh[1] / 2) * crop_h / hm_wh[1]))
    return np.array(out)


def test_validation_maps_keypoints_back_and_scores_gt_as_perfect(tmp_path):
    """Training validation (the rmpe-eval pipeline with ground-truth boxes) maps heatmaps back
    to the image like the plain formula of DESIGN.md, and a perfect 'SPPE' scores AP 1."""
    from rmpe.data.annotations import load_coco_persons
    from rmpe.geometry import crop_boxes, crop_matrices, transform_points
    from rmpe.model import RMPEModel
    from rmpe.train.validate import Validator

    ann, img, people = make_keypoint_dataset(tmp_path, num_images=4, people_per_image=2, seed=7)
    cfg = config_from_dict(tiny_config(ann, img, val=(ann, img)))
    cfg = config_from_dict(dict(cfg.to_dict(), inference={"batch": 100, "sppe_batch": 100, "flip": False},
                                pose_nms={"type": "none"}))
    persons = load_coco_persons(str(ann), str(img), 17)
    codec = HeatmapCodec((64, 64), (16, 16), sigma=2.0)
    # heatmaps that put every joint exactly where the ground truth is in its crop, in the
    # pipeline's order (images by id, people in file order): one SPPE call for all people
    order = np.argsort(np.asarray(persons.image_ids), kind="stable")
    boxes = torch.as_tensor(persons.boxes[order], dtype=torch.float32)
    m = crop_matrices(crop_boxes(boxes, aspect_ratio=1.0, scale=1.25), (64, 64))
    kp_crop = transform_points(m, torch.as_tensor(persons.keypoints[order][..., :2], dtype=torch.float32))
    heatmaps, _ = codec.encode(kp_crop, torch.ones(kp_crop.shape[:2]))
    coords = codec.decode(heatmaps)[0].numpy()

    def oracle_model():
        return RMPEModel(HeatmapOracle([heatmaps.clone()]), codec, stn=False, aspect_ratio=1.0).eval()

    validator = Validator(cfg)
    results = validator.predict(oracle_model(), torch.device("cpu"))
    assert len(results) == len(people)
    refs = [reference_back_to_image(coords[n], persons.boxes[j]) for n, j in enumerate(order)]
    matched = set()
    for r in results:
        kp = np.asarray(r["keypoints"]).reshape(17, 3)
        same_image = [n for n, j in enumerate(order) if persons.image_ids[j] == r["image_id"]]
        n = min(same_image, key=lambda c: np.abs(kp[:, :2] - refs[c]).max())
        np.testing.assert_allclose(kp[:, :2], refs[n], atol=2e-3)
        matched.add(n)
        j = order[n]
        labelled = people[j][:, 2] > 0
        # argmax + quarter step recovers the GT within half a heatmap pixel (x crop scale)
        scale = (persons.boxes[j][3] - persons.boxes[j][1]) * 1.25 / 16
        assert np.abs(kp[labelled, :2] - people[j][labelled, :2]).max() <= 0.5 * scale + 2e-3
        s = np.clip(kp[:, 2], 1e-5, None)
        assert r["score"] == pytest.approx(s.mean() + 1.0 + 1.25 * s.max(), abs=3e-3)  # box score 1; kp rounded
    assert matched == set(range(len(people)))
    # scored as COCO keypoint AP: the oracle is perfect
    metrics = validator(oracle_model(), torch.device("cpu"))
    assert metrics["AP"] == pytest.approx(1.0) and metrics["num_people"] == len(people)


# ----------------------------------------------------------------------------- CLI


def _cli(args, env_extra=None, **kw):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", YOLO_OFFLINE="1")
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "rmpe.cli.train", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, **kw)


def _write_cfg(path, cfg_dict):
    path.write_text(yaml.safe_dump(cfg_dict))
    return str(path)


def test_cli_errors_are_one_line(tmp_path, people16):
    from rmpe.cli.train import main

    ann, img, _ = people16
    good = tiny_config(ann, img)
    inst = tmp_path / "instances.json"
    inst.write_text(json.dumps({"images": [], "annotations": [{"id": 1, "bbox": [0, 0, 1, 1]}],
                                "categories": [{"id": 1, "name": "person"}]}))
    cases = [
        (dict(good, data=dict(good["data"], train_ann=str(inst))), "not a COCO keypoints file"),
        (dict(good, data=dict(good["data"], train_images=str(tmp_path / "nope"))), "image folder not found"),
        (dict(good, train=dict(good["train"], lr_stepz=[1])), "unknown key 'train.lr_stepz'"),
        (dict(good, data=dict(good["data"], train_ann=None)), "data.train_ann"),
    ]
    for i, (cfg, message) in enumerate(cases):
        path = _write_cfg(tmp_path / f"c{i}.yaml", cfg)
        buf = io.StringIO()
        with contextlib.redirect_stderr(buf):
            code = main(["--config", path, "--workdir", str(tmp_path / f"w{i}"), "--quiet"])
        text = buf.getvalue().strip()
        assert code == 2, (message, text)
        assert text.startswith("rmpe-train: error:") and message in text and "\n" not in text, text
    buf = io.StringIO()
    with contextlib.redirect_stderr(buf):
        code = main(["--workdir", str(tmp_path / "empty"), "--resume", "--config",
                     _write_cfg(tmp_path / "g.yaml", good), "--quiet"])
    assert code == 2 and "no checkpoint" in buf.getvalue()


@pytest.fixture(scope="module")
def uninterrupted_cli_run(tmp_path_factory, people16):
    """A 3-epoch rmpe-train config (4 steps per epoch, one DataLoader worker) and the
    ``last.pth`` of its run never interrupted."""
    folder = tmp_path_factory.mktemp("cli_run")
    ann, img, _ = people16
    cfg = tiny_config(ann, img, epochs=3)
    cfg["data"]["num_workers"] = 1
    path = _write_cfg(folder / "cfg.yaml", cfg)
    full = _cli(["--config", path, "--workdir", str(folder / "full"), "--quiet"])
    assert full.returncode == 0, full.stderr
    return path, folder / "full" / "last.pth"


def _signal_inside_epoch_2(config_path, work, sig, before_step):
    """Start rmpe-train and send ``sig`` once a step of epoch 2 earlier than ``before_step``
    is logged. Returns (the exited process, the global step of the last record seen then)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.Popen([sys.executable, "-m", "rmpe.cli.train", "--config", config_path, "--workdir", str(work),
                             "--quiet"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    metrics = work / "metrics.jsonl"
    deadline = time.time() + 240
    sent_at = None
    while time.time() < deadline and proc.poll() is None:
        if metrics.is_file():
            recs = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
            mid = [r for r in recs if r["type"] == "train" and r["epoch"] == 2 and r["step"] < before_step]
            if mid:
                proc.send_signal(sig)
                sent_at = mid[-1]["global_step"]
                break
        time.sleep(0.02)
    proc.wait(timeout=60)
    assert sent_at is not None, "training ended before the signal could be sent"
    return proc, sent_at


def _assert_resume_matches(work, full_last):
    """``--resume`` in ``work`` finishes with the uninterrupted run's weights and logs each step once."""
    resumed = _cli(["--workdir", str(work), "--resume", "--quiet"])
    assert resumed.returncode == 0, resumed.stderr
    a, b = _weights(full_last), _weights(work / "last.pth")
    assert a["epoch"] == b["epoch"] == 3 and a["global_step"] == b["global_step"] == 12
    _assert_same_weights(a, b)
    lines = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    steps = [r["global_step"] for r in lines if r["type"] == "train"]
    assert steps == list(range(1, 13))


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path, uninterrupted_cli_run):
    """Kill rmpe-train with SIGKILL inside epoch 2, resume, compare with a run never killed."""
    path, full_last = uninterrupted_cli_run
    work = tmp_path / "killed"
    proc, killed_at = _signal_inside_epoch_2(path, work, signal.SIGKILL, before_step=4)
    assert proc.returncode == -signal.SIGKILL
    ck = _weights(work / "last.pth")
    assert ck["global_step"] < killed_at  # the checkpoint predates the kill: work was lost
    _assert_resume_matches(work, full_last)


@pytest.mark.slow
def test_sigterm_mid_epoch_saves_then_resume_matches_uninterrupted(tmp_path, uninterrupted_cli_run):
    """SIGTERM inside epoch 2: the running step finishes, last.pth is saved there (mid-epoch),
    rmpe-train exits with 143; --resume then ends with the weights of a run never stopped."""
    path, full_last = uninterrupted_cli_run
    work = tmp_path / "terminated"
    proc, signalled_at = _signal_inside_epoch_2(path, work, signal.SIGTERM, before_step=2)
    assert proc.returncode == 128 + signal.SIGTERM == 143, proc.stderr.read().decode()
    ck = _weights(work / "last.pth")
    assert ck["global_step"] >= signalled_at  # no finished step was lost
    assert ck["epoch"] == 1 and 1 <= ck["step"] < 4 and ck["global_step"] == 4 + ck["step"]  # inside epoch 2
    summary = json.loads((work / "summary.json").read_text())
    assert summary["stopped_early"] and summary["stop_reason"] == "signal" and summary["stop_signal"] == signal.SIGTERM
    records = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["type"] == "epoch" and records[-1]["complete"] is False
    _assert_resume_matches(work, full_last)


@pytest.mark.slow
def test_torchrun_two_processes_gloo(tmp_path, people16):
    import sppe
    from rmpe.checkpoints import load_model_checkpoint
    from rmpe.model import RMPEModel

    ann, img, val = people16
    cfg = tiny_config(ann, img, val, epochs=1)
    path = _write_cfg(tmp_path / "cfg.yaml", cfg)
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    work = tmp_path / "ddp"
    run = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         "-m", "rmpe.cli.train", "--config", path, "--workdir", str(work), "--device", "cpu"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    ck = _weights(work / "last.pth")
    # 16 people over 2 ranks, batch 4 per rank: 2 steps
    assert ck["world_size"] == 2 and ck["global_step"] == 2 and ck["epoch"] == 1
    # rank 0 alone writes: one finished line on stdout
    assert run.stdout.count("finished:") == 1
    net = sppe.build_sppe("fastpose_se18", input_size=(64, 64))
    sppe.load_checkpoint(net, work / "last.pth")
    model = RMPEModel.from_config(config_from_dict(cfg))
    load_model_checkpoint(model, work / "last.pth")
    records = [json.loads(x) for x in (work / "metrics.jsonl").read_text().splitlines()]
    assert sum(r["type"] == "val" for r in records) == 1
    assert sum(r["type"] == "train" for r in records) == 2
