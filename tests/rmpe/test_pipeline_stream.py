"""PosePipeline.stream: detection of batch t+1 overlapped with poses of batch t; same results,
in order; exceptions reach the caller; closing stops the worker."""
import threading

import numpy as np
import pytest
import torch

from detectors import Detections
from rmpe.config import load_config
from rmpe.pipeline import PosePipeline

SMALL = ["model.name=fastpose_se18", "model.input_size=[128, 96]", "model.heatmap_size=[32, 24]", "device=cpu",
         "pose_nms.type=none"]


class BoxDetector:
    """Two boxes per frame, shifted by the frame's id; records which batches it saw (by first id)."""

    def __init__(self, fail_at=None, started=None):
        self.seen = []
        self.fail_at = fail_at
        self.started = started or {}

    def __call__(self, images, image_ids=None):
        first = image_ids[0]
        self.seen.append(first)
        if first in self.started:
            self.started[first].set()
        if first == self.fail_at:
            raise ValueError(f"detector broke on {first}")
        return [Detections(np.array([[10 + i, 20, 60 + i, 120], [70, 30 + i, 110, 100 + i]], np.float32),
                           np.array([0.9, 0.8], np.float32)) for i in image_ids]


def _pipeline(detector, pipelined=True):
    from rmpe.model import RMPEModel

    torch.manual_seed(0)
    cfg = load_config(overrides=SMALL + [f"inference.pipelined={'true' if pipelined else 'false'}"])
    model = RMPEModel.from_config(cfg, load_init=False).eval()
    return PosePipeline.from_config(cfg, model=model, detector=detector)


def _batches(n, size=2):
    rng = np.random.default_rng(0)
    for b in range(n):
        ids = list(range(b * size, (b + 1) * size))
        yield [rng.integers(0, 256, (160, 200, 3), dtype=np.uint8) for _ in ids], ids, f"batch{b}"


def test_pipelined_equals_sequential_in_order():
    seq = list(_pipeline(BoxDetector(), pipelined=False).stream(_batches(4)))
    par = list(_pipeline(BoxDetector(), pipelined=True).stream(_batches(4)))
    assert [t for t, _ in par] == [t for t, _ in seq] == [f"batch{b}" for b in range(4)]
    for (_, a), (_, b) in zip(seq, par):
        assert len(a) == len(b) == 2
        for pa, pb in zip(a, b):
            assert len(pa) == len(pb) == 2
            for x, y in zip(pa, pb):
                np.testing.assert_array_equal(x.keypoints, y.keypoints)
                np.testing.assert_array_equal(x.box, y.box)


def test_detection_overlaps_pose_estimation():
    """While batch 0's poses are estimated, the detector already runs on batch 1 (the estimate
    of batch 0 waits for that; without the worker thread it would time out)."""
    started = {2: threading.Event()}
    pipe = _pipeline(BoxDetector(started=started))
    original = pipe.estimate
    overlapped = []

    def estimate(images, boxes, scores):
        if not overlapped:
            overlapped.append(started[2].wait(timeout=10))
        return original(images, boxes, scores)

    pipe.estimate = estimate
    out = list(pipe.stream(_batches(3)))
    assert overlapped == [True] and len(out) == 3


def test_detector_exception_reaches_the_caller():
    detector = BoxDetector(fail_at=4)
    stream = _pipeline(detector).stream(_batches(4))
    got = [next(stream)[0], next(stream)[0]]
    with pytest.raises(ValueError, match="detector broke on 4"):
        next(stream)
    assert got == ["batch0", "batch1"]


def test_close_stops_the_worker():
    before = {t.ident for t in threading.enumerate()}
    detector = BoxDetector()
    stream = _pipeline(detector).stream(_batches(50))
    assert next(stream)[0] == "batch0"
    stream.close()
    assert not [t for t in threading.enumerate() if t.ident not in before and t.name == "rmpe-reader"]
    assert len(detector.seen) <= 4  # at most one batch waiting and one in hand: bounded


def test_estimator_video_same_with_and_without_pipelining(tmp_path):
    """PoseEstimator.run (rmpe-demo's loop) through stream: same people either way."""
    from rmpe.api import PoseEstimator
    from rmpe.sources import Frame

    rng = np.random.default_rng(1)
    frames = [Frame(index=i, image=rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)) for i in range(5)]
    results = []
    for flag in ("true", "false"):
        torch.manual_seed(0)  # the same random weights for both
        est = PoseEstimator(overrides=SMALL + [f"inference.pipelined={flag}", "inference.batch=2"],
                            detector=BoxDetector())
        results.append([(f.index, [p.keypoints for p in people]) for f, people in est.run(iter(frames))])
    assert [i for i, _ in results[0]] == [0, 1, 2, 3, 4]
    for (ia, ka), (ib, kb) in zip(*results):
        assert ia == ib
        for x, y in zip(ka, kb):
            np.testing.assert_allclose(x, y, atol=1e-5)


def test_threads_flag_and_setting():
    from rmpe.cli.demo import build_parser
    from rmpe.cli.options import flag_overrides
    from rmpe.pipeline import apply_threads

    args = build_parser().parse_args(["--video", "x.mp4", "--threads", "1", "--no-pipelined", "--half"])
    assert {"inference.threads=1", "inference.pipelined=false", "inference.half=true"} <= set(flag_overrides(args))
    before = torch.get_num_threads()
    try:
        assert apply_threads(1) == 1 and torch.get_num_threads() == 1
        assert apply_threads(0) == 0 and torch.get_num_threads() == 1  # 0 leaves the count alone
    finally:
        torch.set_num_threads(before)


def test_streaming_threads_split_the_cores():
    from rmpe.pipeline import streaming_threads
    from rmpe.precision import pipelined_threads

    assert [pipelined_threads(c) for c in (1, 2, 3, 4)] == [(1, 1), (1, 1), (2, 1), (2, 2)]
    cfg = load_config(overrides=SMALL)
    out = streaming_threads(cfg, torch.device("cpu"))
    pose, det = pipelined_threads()
    assert (out.inference.threads, out.detector.threads) == (pose, det)
    assert (cfg.inference.threads, cfg.detector.threads) == (0, 0)  # the caller's config is not touched
    for overrides in (["inference.threads=3"], ["inference.pipelined=false"], ["inference.backend=openvino"]):
        kept = load_config(overrides=SMALL + overrides)
        assert streaming_threads(kept, torch.device("cpu")) is kept
    own = streaming_threads(load_config(overrides=SMALL + ["detector.threads=2"]), torch.device("cpu"))
    assert (own.inference.threads, own.detector.threads) == (pose, 2)
    assert streaming_threads(cfg, torch.device("cuda")) is cfg


def test_pipelining_is_automatic_unless_set():
    """inference.pipelined null: overlap the stages, except for an OpenVINO pose network on the
    CPU (its own threads fill every core); true / false are kept whatever the backend."""
    from rmpe.pipeline import pipelining, streaming_threads

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    auto = load_config(overrides=SMALL)
    assert auto.inference.pipelined is None
    assert pipelining(auto, cpu) and pipelining(auto, cuda)
    ov = load_config(overrides=SMALL + ["inference.backend=openvino"])
    assert not pipelining(ov, cpu) and pipelining(ov, cuda)
    for flag, want in (("true", True), ("false", False)):
        for backend in ("torch", "openvino"):
            cfg = load_config(overrides=SMALL + [f"inference.pipelined={flag}", f"inference.backend={backend}"])
            assert pipelining(cfg, cpu) is want and pipelining(cfg, cuda) is want
    # the sequential OpenVINO default keeps every core: no split of the threads
    assert streaming_threads(ov, cpu) is ov
    # a pipeline built from the config carries the resolved choice
    from rmpe.pipeline import PosePipeline

    built = PosePipeline.from_config(auto, model=torch.nn.Identity(), detector=BoxDetector(), device="cpu")
    assert built.pipelined is True
    built = PosePipeline.from_config(load_config(overrides=SMALL + ["inference.pipelined=false"]),
                                     model=torch.nn.Identity(), detector=BoxDetector(), device="cpu")
    assert built.pipelined is False


class PixelDetector:
    """Records the frames it was called with; finds nobody."""

    def __init__(self):
        self.calls = []

    def __call__(self, images, image_ids=None):
        self.calls.append([im.shape for im in images])
        return [Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32)) for _ in images]


def test_warmup_runs_both_networks_outside_the_timer():
    from rmpe.pipeline import StageTimer

    det = PixelDetector()
    pipe = _pipeline(det)
    pipe.timer = StageTimer(torch.device("cpu"), enabled=True)
    runs = []
    original = pipe.model.predict
    pipe.model.predict = lambda *a, **k: runs.append(len(a[2])) or original(*a, **k)
    seconds = pipe.warmup((90, 160), batch=3)
    assert seconds > 0
    assert det.calls == [[(90, 160, 3)] * 3]  # one detector call with a whole batch of the video's size
    assert runs == [1]  # the pose network ran once, on one box
    assert dict(pipe.timer.seconds) == {} and pipe.timer.enabled  # nothing charged to the profile


def test_warmup_skips_a_detector_that_reads_no_pixels():
    class FileLike(PixelDetector):
        needs_pixels = False
        needs_image_ids = True

    det = FileLike()
    pipe = _pipeline(det)
    pipe.warmup((64, 64), batch=2)
    assert det.calls == []
