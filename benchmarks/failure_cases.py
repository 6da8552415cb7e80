"""Every bad-input and interruption case the command-line tools handle, run one after another.

For each case it prints the exit status, the first line on stderr and whether every input file
is byte-identical afterwards, then a verdict against the expected status. Inputs are built in a
temporary folder from ../shared/data and a small random-weight model, so the run needs no
weights, no network and about two minutes on two CPU cores.

    python benchmarks/failure_cases.py                 # the table
    python benchmarks/failure_cases.py --markdown      # the same as a Markdown table (docs/bad-input.md)
    python benchmarks/failure_cases.py --only webcam   # cases whose name contains a word

Exit status 0 when every case behaves as expected, 1 otherwise.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
DATA = (ROOT / ".." / "shared" / "data").resolve()
sys.path.insert(0, str(ROOT))


@dataclass
class Case:
    name: str
    argv: Sequence[str]  #: tool name then its arguments
    expect: int  #: expected exit status
    inputs: Sequence[Path] = ()  #: files and folders that must stay byte-identical
    check: Optional[Callable[[], str]] = None  #: extra check after the run: "" or what is wrong
    signal_after: Optional[Callable[[], bool]] = None  #: send SIGTERM once this returns True
    env: dict = field(default_factory=dict)


def digest(path: Path) -> str:
    h = hashlib.sha256()
    paths = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for p in paths:
        h.update(str(p.relative_to(path) if path.is_dir() else p.name).encode())
        h.update(p.read_bytes() if p.exists() else b"<missing>")
    return h.hexdigest()


def run_case(case: Case, work: Path) -> tuple:
    env = dict(os.environ, PYTHONPATH=str(ROOT), YOLO_OFFLINE="1", OMP_NUM_THREADS="1", **case.env)
    before = {p: digest(p) for p in case.inputs if p.exists()}
    tool, *args = case.argv
    cmd = [sys.executable, "-m", f"rmpe.cli.{tool}", *args]
    if case.signal_after is None:
        proc = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=600)
        code, err = proc.returncode, proc.stderr
    else:
        proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 300
        while proc.poll() is None and not case.signal_after() and time.time() < deadline:
            time.sleep(0.2)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        err = proc.communicate(timeout=300)[1]
        code = proc.returncode
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith(("\r", "rmpe-demo:  ", "  "))]
    first = next((line for line in lines if "error" in line or "warning" in line or "interrupted" in line),
                 lines[0] if lines else "")
    unchanged = all(digest(p) == d for p, d in before.items())
    problem = case.check() if case.check else ""
    ok = code == case.expect and unchanged and not problem and (code != 2 or len([l for l in lines if "error:" in l]) == 1)
    return code, first[:150], unchanged, problem, ok


def evil_pickle_checkpoint(path: Path, marker: Path) -> None:
    import torch

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    torch.save({"model": {}, "extra": Evil()}, path)


def build(work: Path) -> List[Case]:
    """Inputs and the list of cases."""
    import cv2
    import numpy as np
    import torch

    from rmpe.checkpoints import save_model_checkpoint
    from rmpe.config import load_config, save_config
    from rmpe.model import RMPEModel

    cfg = load_config(overrides=["model.name=fastpose_se18", "model.input_size=[128, 96]",
                                 "model.heatmap_size=[32, 24]", "device=cpu"])
    torch.manual_seed(0)
    save_config(cfg, work / "small.yaml")
    save_model_checkpoint(work / "small.pth", RMPEModel.from_config(cfg), config=cfg.to_dict())
    se50 = str(ROOT / "configs" / "coco" / "fastpose_se50_256x192.yaml")
    coco = DATA / "mmpose_coco"
    video = work / "v.mp4"
    shutil.copy(DATA / "mmpose_demo" / "demo.mp4", video)
    long_video = DATA / "videos" / "vtest_pets2009_480x360.avi"
    images = work / "imgs"
    images.mkdir()
    for f in sorted(coco.glob("*.jpg"))[:2]:
        shutil.copy(f, images / f.name)
    (work / "mixed").mkdir()
    shutil.copy(coco / "000000000785.jpg", work / "mixed" / "a.jpg")
    (work / "mixed" / "b_garbage.jpg").write_bytes(b"not an image")
    (work / "empty.mp4").write_bytes(b"")
    (work / "text.mp4").write_text("hello\n" * 50)
    (work / "garbage.jpg").write_bytes(b"12345678")
    (work / "jdir").mkdir()
    (work / "afile").write_text("x")
    raw = (work / "small.pth").read_bytes()
    (work / "truncated.pth").write_bytes(raw[: len(raw) // 3])
    evil_pickle_checkpoint(work / "evil.pth", work / "PWNED_pth")
    evil_pickle_checkpoint(work / "evil_yolo.pt", work / "PWNED_pt")
    dets = [{"image_id": i, "category_id": 1, "bbox": [20.0, 20.0, 60.0, 120.0], "score": 0.9} for i in range(40)]
    (work / "dets.json").write_text(json.dumps(dets))
    (work / "dets_malformed.json").write_text(json.dumps(dets)[:300])
    (work / "dets_nan.json").write_text(json.dumps(dets[:3] + [dict(dets[0], bbox=[float("nan"), 1, 2, 3])]))
    (work / "dets_offimage.json").write_text(json.dumps(
        [{"image_id": "one.jpg", "category_id": 1, "bbox": [-100, -50, 300, 400], "score": 0.9},
         {"image_id": "one.jpg", "category_id": 1, "bbox": [0, 0, 1e6, 1e6], "score": 0.8}]))
    named = [dict(dets[0], image_id=name) for name in ("one.jpg", "a.jpg", "b_garbage.jpg")]
    (work / "dets_named.json").write_text(json.dumps(named))
    (work / "dets_unknown.json").write_text(json.dumps([dict(dets[0], image_id=999999)]))
    ann = json.loads((coco / "test_coco.json").read_text())
    for a in ann["annotations"]:
        a["keypoints"] = a["keypoints"][:42]
    for c in ann["categories"]:
        c["keypoints"] = c["keypoints"][:14]
    (work / "ann14.json").write_text(json.dumps(ann))
    (work / "model.onnx").write_bytes(b"an onnx file by name")
    (work / "bad.yaml").write_text("model: [unclosed\n")
    (work / "old.yaml").write_text("eval:\n  flip: true\n")
    (work / "partial.json.partial.jsonl").write_text(
        '{"frame": 0, "image_id": 0, "records": []}\n{"frame": 1, "image_id": 1, "records": []}\n{"frame": 2, "ima')
    link = work / "v_link.mp4"
    link.symlink_to(video)
    hard = work / "v_hard.mp4"
    os.link(video, hard)
    cv2.imwrite(str(work / "one.jpg"), np.full((120, 160, 3), 90, np.uint8))

    small = ["--config", str(work / "small.yaml"), "--checkpoint", str(work / "small.pth"), "--device", "cpu", "--quiet"]
    dets_args = ["--detector", str(work / "dets.json")]
    demo_video = ["demo", "--video", str(video), *small, *dets_args]
    ev = ["eval", *small, "--ann", str(coco / "test_coco.json"), "--images", str(coco)]
    partial = work / "sig.json.partial.jsonl"

    def no_file(path: Path) -> Callable[[], str]:
        return lambda: f"{path.name} exists" if path.exists() else ""

    def plays(path: Path, json_path: Path) -> Callable[[], str]:
        def check() -> str:
            cap = cv2.VideoCapture(str(path))
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) if cap.isOpened() else 0
            if n < 1:
                return f"{path.name} does not play"
            if not json_path.is_file():
                return f"no {json_path.name}"
            return ""
        return check

    def keypoints_near_frame(path: Path, width: int, height: int) -> Callable[[], str]:
        def check() -> str:
            records = json.loads(path.read_text()) if path.is_file() else []
            if not records:
                return f"no people in {path.name}"
            kp = np.asarray([r["keypoints"] for r in records], float).reshape(-1, 3)
            # within the crop of the clipped box (its aspect fix and x1.25 reach past the frame),
            # far from the 1e6-px box a detector gave
            m = max(width, height)
            inside = (kp[:, 0] > -m) & (kp[:, 0] < width + m) & (kp[:, 1] > -m) & (kp[:, 1] < height + m)
            return "" if inside.all() else f"keypoints far outside the {width}x{height} frame"
        return check

    def partial_has_frames() -> bool:
        return partial.is_file() and partial.read_text().count("\n") >= 3

    return [
        Case("missing video", ["demo", "--video", "nope.mp4", *small, *dets_args], 2),
        Case("empty video file", ["demo", "--video", str(work / "empty.mp4"), *small, *dets_args], 2),
        Case("text file named .mp4", ["demo", "--video", str(work / "text.mp4"), *small, *dets_args], 2),
        Case("single corrupt image", ["demo", "--image", str(work / "garbage.jpg"), *small, *dets_args], 2),
        Case("folder with an unreadable image (skipped, counted)", ["demo", "--images", str(work / "mixed"), *small,
             "--detector", str(work / "dets_named.json"), "--json", str(work / "mixed.json")], 0, [work / "mixed"]),
        Case("missing checkpoint", ["demo", "--video", str(video), "--config", str(work / "small.yaml"),
                                    "--checkpoint", "nope.pth", *dets_args], 2),
        Case("checkpoint of another architecture", ["demo", "--video", str(video), "--config", se50,
                                                    "--checkpoint", str(work / "small.pth"), *dets_args], 2),
        Case("truncated checkpoint", ["demo", "--video", str(video), "--config", str(work / "small.yaml"),
                                      "--checkpoint", str(work / "truncated.pth"), *dets_args], 2),
        Case("malicious .pth (code in the pickle)", ["demo", "--video", str(video), "--config", str(work / "small.yaml"),
                                                     "--checkpoint", str(work / "evil.pth"), *dets_args], 2,
             check=no_file(work / "PWNED_pth")),
        Case("malicious YOLO .pt as --detector", ["demo", "--video", str(video), *small,
                                                  "--detector", str(work / "evil_yolo.pt")], 2,
             check=no_file(work / "PWNED_pt")),
        Case("detection file: malformed JSON", ["demo", "--video", str(video), *small,
                                                "--detector", str(work / "dets_malformed.json")], 2),
        Case("detection file: NaN box", ["demo", "--video", str(video), *small, "--detector", str(work / "dets_nan.json")], 2),
        Case("box larger than the image (clipped)", ["demo", "--image", str(work / "one.jpg"), *small,
                                                     "--detector", str(work / "dets_offimage.json"), "--nms", "none",
                                                     "--json", str(work / "off.json")], 0,
             check=keypoints_near_frame(work / "off.json", 160, 120)),
        Case("webcam that does not exist", ["demo", "--webcam", "7", *small, *dets_args], 2),
        Case("unknown config key", [*demo_video, "--set", "model.nmae=x"], 2),
        Case("config value out of range", [*demo_video, "--set", "codec.sigma=0"], 2),
        Case("moved config key", ["demo", "--video", str(video), "--config", str(work / "old.yaml"),
                                  "--checkpoint", str(work / "small.pth"), *dets_args], 2),
        Case("malformed config file", ["demo", "--video", str(video), "--config", str(work / "bad.yaml"),
                                       "--checkpoint", str(work / "small.pth"), *dets_args], 2),
        Case("--threshold nan", [*demo_video, "--threshold", "nan"], 2),
        Case("--max-frames -3", [*demo_video, "--max-frames", "-3"], 2),
        Case("unknown flag (rmpe-demo)", [*demo_video, "--flipp"], 2),
        Case("unknown flag (rmpe-eval)", [*ev, "--flipp"], 2),
        Case("unknown flag (rmpe-train)", ["train", "--config", str(work / "small.yaml"), "--flipp"], 2),
        Case("--out is the input video", [*demo_video, "--out", str(video)], 2, [video]),
        Case("--out is a symlink to the input", [*demo_video, "--out", str(link)], 2, [video]),
        Case("--out is a hard link of the input", [*demo_video, "--out", str(hard)], 2, [video]),
        Case("--images D --out D", ["demo", "--images", str(images), *small, *dets_args, "--out", str(images)], 2, [images]),
        Case("--json is a folder", [*demo_video, "--json", str(work / "jdir")], 2),
        Case("--out under an unwritable root", [*demo_video, "--out", "/proc/nope/x.mp4"], 2),
        Case("SIGTERM mid-video (final JSON, playable video)",
             ["demo", "--video", str(long_video), *small, "--detector", str(work / "dets.json"),
              "--out", str(work / "sig.mp4"), "--json", str(work / "sig.json")], 143,
             check=plays(work / "sig.mp4", work / "sig.json"), signal_after=partial_has_frames),
        Case("--recover after a hard kill", ["demo", "--recover", str(work / "partial.json.partial.jsonl")], 0,
             check=lambda: "" if (work / "partial.json").is_file() else "no partial.json"),
        Case("no --config: the checkpoint's own config", ["demo", "--image", str(work / "one.jpg"),
                                                          "--checkpoint", str(work / "small.pth"),
                                                          "--detector", str(work / "dets_named.json"),
                                                          "--device", "cpu", "--quiet"], 0),
        Case("rmpe-eval --out is a folder", [*ev, "--boxes", "gt", "--out", str(work / "jdir")], 2),
        Case("rmpe-eval 14-keypoint annotations, 17-keypoint model",
             ["eval", *small, "--ann", str(work / "ann14.json"), "--images", str(coco), "--boxes", "gt",
              "--out", str(work / "r14.json")], 2, check=no_file(work / "r14.json")),
        Case("rmpe-eval detections for no annotated image", [*ev, "--boxes", str(work / "dets_unknown.json"),
                                                             "--out", str(work / "ru.json")], 2),
        Case("rmpe-eval with ground-truth boxes", [*ev, "--boxes", "gt", "--nms", "none", "--out", str(work / "r.json")], 0),
        Case("rmpe-eval --results scores an existing file, no checkpoint",
             ["eval", "--results", str(work / "r.json"), "--ann", str(coco / "test_coco.json")], 0, [work / "r.json"]),
        Case("rmpe-eval --results given a detection file (no keypoints)", ["eval", "--results", str(coco / "test_coco_det_AP_H_56.json"),
                                                          "--ann", str(coco / "test_coco.json"),
                                                          "--out", str(work / "scored.json")], 2),
        Case("rmpe-train --workdir is a file", ["train", "--config", str(work / "small.yaml"),
                                                "--workdir", str(work / "afile")], 2, [work / "afile"]),
        Case("rmpe-export missing checkpoint", ["export", "--checkpoint", str(work / "nope.pth"),
                                                "--out", str(work / "e.onnx")], 2, check=no_file(work / "e.onnx")),
        Case("rmpe-export .onnx as --checkpoint", ["export", "--checkpoint", str(work / "model.onnx"),
                                                   "--out", str(work / "e.onnx")], 2, [work / "model.onnx"],
             check=no_file(work / "e.onnx")),
        Case("rmpe-export --out names an input", ["export", "--checkpoint", str(work / "small.pth"),
                                                  "--out", str(work / "small.pth")], 2, [work / "small.pth"]),
        Case("rmpe-export --opset 15", ["export", "--checkpoint", str(work / "small.pth"), "--opset", "15",
                                        "--out", str(work / "e.onnx")], 2, check=no_file(work / "e.onnx")),
        Case("rmpe-export --fp16 without --engine", ["export", "--checkpoint", str(work / "small.pth"), "--fp16",
                                                     "--out", str(work / "e.onnx")], 2, check=no_file(work / "e.onnx")),
        *([] if _has_tensorrt() else [
            Case("rmpe-export --engine without TensorRT", ["export", "--checkpoint", str(work / "small.pth"),
                                                           "--engine", str(work / "e.plan")], 2,
                 check=no_file(work / "e.plan"))]),
        Case("rmpe-export --detector missing weights", ["export", "--detector", str(work / "nope.pt")], 2),
    ]


def _has_tensorrt() -> bool:
    """Whether TensorRT and a CUDA GPU are here (then the --engine case would build an engine)."""
    import importlib.util

    if importlib.util.find_spec("tensorrt") is None:
        return False
    import torch

    return torch.cuda.is_available()


def main(argv: Optional[List[str]] = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--markdown", action="store_true", help="print a Markdown table")
    p.add_argument("--only", default=None, help="run the cases whose name contains this text")
    args = p.parse_args(argv)
    if not DATA.is_dir():
        print(f"failure_cases: error: {DATA} not found (the shared test material)", file=sys.stderr)
        return 2
    failed = 0
    with tempfile.TemporaryDirectory(prefix="rmpe-failure-cases-") as tmp:
        work = Path(tmp)
        cases = [c for c in build(work) if args.only is None or args.only in c.name]
        if args.markdown:
            print("| case | exit | first stderr line | inputs unchanged | as expected |")
            print("|---|---:|---|---|---|")
        for case in cases:
            code, first, unchanged, problem, ok = run_case(case, work)
            failed += not ok
            first = first.replace(str(work) + "/", "").replace("|", "\\|")
            if args.markdown:
                print(f"| {case.name} | {code} | `{first}` | {'yes' if unchanged else '**no**'} | "
                      f"{'yes' if ok else '**no** ' + problem} |")
            else:
                print(f"{'ok  ' if ok else 'FAIL'} {case.name:<52} exit {code:>3} (want {case.expect})  "
                      f"inputs {'unchanged' if unchanged else 'CHANGED'}  {problem}\n     {first}")
    print(f"{len(cases) - failed} of {len(cases)} cases as expected", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
