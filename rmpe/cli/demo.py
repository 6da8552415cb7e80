"""rmpe-demo: poses on a video, an image, an image folder or a webcam.

    rmpe-demo --video clip.mp4 --checkpoint fast_res50_256x192.pth --out out.mp4 --json out.json
    rmpe-demo --recover out.json.partial.jsonl      # after a hard kill: the final JSON from the partial file

Bad input and bad output locations are refused in one line (exit status 2) before any model
loads; an output that would overwrite an input is refused. SIGINT (Ctrl-C) and SIGTERM stop
the run cleanly: the frames processed so far are written, the JSON is finalised, the video
is closed, and the exit status is 130 / 143.
"""
from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
import time
import warnings
from contextlib import contextmanager
from typing import Iterator, List, Optional, Sequence, Tuple

from ..errors import RMPEError, cli_main
from .options import ArgumentParser, add_config_args, add_inference_args, config_from_args

WEIGHTS_HELP = (
    "no pose checkpoint given: pass --checkpoint FILE, either AlphaPose's FastPose-50 weights "
    "(fast_res50_256x192.pth from the AlphaPose model zoo, with --config configs/coco/fastpose_se50_256x192.yaml) "
    "or a checkpoint trained with rmpe-train (e.g. work_dirs/quickstart/best.pth with its config)"
)


def build_parser() -> argparse.ArgumentParser:
    p = ArgumentParser(
        prog="rmpe-demo",
        description="Multi-person pose estimation on videos, images and webcams.",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--video", help="input video file")
    src.add_argument("--image", help="input image file")
    src.add_argument("--images", help="folder of images (sorted by name)")
    src.add_argument("--webcam", type=int, metavar="N", help="webcam index")
    src.add_argument("--recover", metavar="FILE.partial.jsonl",
                     help="write the final JSON from the partial file a killed run left (to FILE, or --json); "
                          "needs no model")
    p.add_argument("--checkpoint", help="pose model weights (AlphaPose FastPose .pth or rmpe-train checkpoint)")
    p.add_argument("--detector", default=None,
                   help="person detector: ultralytics weights (.pt/.yaml/.onnx, path or name) or a COCO detection results .json "
                        "(image_id = frame index for videos, file name or COCO id for images); default: config's detector")
    p.add_argument("--out", help="rendered output: a video file (.mp4, .m4v, .mov, .avi, .mkv) for --video/--webcam, "
                                 "a folder (or image file) for images; never one of the inputs")
    p.add_argument("--json", help="results JSON (JSON Lines in FILE.partial.jsonl while running)")
    p.add_argument("--format", choices=("alphapose", "coco", "openpose"), default=None,
                   help="JSON layout (default: demo.format of the config, alphapose)")
    p.add_argument("--threshold", type=float, default=None,
                   help="draw keypoints above this score, 0 to 1 (default demo.draw_threshold)")
    p.add_argument("--show-boxes", action=argparse.BooleanOptionalAction, default=None,
                   help="draw detector boxes and person scores (default demo.show_boxes)")
    p.add_argument("--track", action=argparse.BooleanOptionalAction, default=None,
                   help="track people across frames (after pose NMS): ids in the JSON (idx / track_id / person_id) "
                        "and each person drawn in its id's colour (default demo.track)")
    p.add_argument("--trails", type=int, default=None, metavar="N",
                   help="with --track, draw each id's last N centres as a trail (0: none; default demo.trails)")
    p.add_argument("--smooth", action=argparse.BooleanOptionalAction, default=None,
                   help="with --track, One-Euro smoothing of each tracked person's keypoints (default tracking.smooth)")
    p.add_argument("--max-frames", type=int, default=None, help="stop after this many frames (at least 1)")
    p.add_argument("--profile", action="store_true", help="print per-stage times at the end")
    add_config_args(p)
    add_inference_args(p)
    return p


def _source(args):
    from ..sources import ImageSource, VideoSource

    if args.video is not None:
        return VideoSource(args.video)
    if args.webcam is not None:
        return VideoSource(int(args.webcam))
    return ImageSource(args.image if args.image is not None else args.images)


def _check_flags(args) -> None:
    """Out-of-range numbers on the command line: one line, before anything runs."""
    if args.max_frames is not None and args.max_frames < 1:
        raise RMPEError(f"--max-frames must be at least 1, got {args.max_frames}")
    if args.trails is not None and args.trails < 0:
        raise RMPEError(f"--trails must be 0 or more, got {args.trails}")
    if args.threshold is not None and not (math.isfinite(args.threshold) and 0.0 <= args.threshold <= 1.0):
        raise RMPEError(f"--threshold must be a number between 0 and 1, got {args.threshold}")


def _inputs(args) -> List[str]:
    """Every file or folder the run reads: no output may be one of them."""
    paths = [args.video, args.image, args.images, args.checkpoint, args.config]
    if args.detector and os.path.exists(args.detector):
        paths.append(args.detector)
    return [p for p in paths if p is not None]


def _outputs(args, source) -> Tuple[Optional[str], Optional[str], Optional[str]]:
    """(video file, image folder, single image file) for --out, after checking --out and --json.

    Checked here, before any model loads: the output is none of the inputs (nor a link to
    one, nor inside the input folder), has the right kind (a file for --json, a video name
    for video input), and its folder can be created and written.
    """
    from ..io import check_output_path
    from ..outputs import VIDEO_SUFFIXES, partial_video_path
    from ..results_io import partial_path
    from ..sources import IMAGE_SUFFIXES, VideoSource

    inputs = _inputs(args)
    if args.json and args.out and os.path.realpath(args.json) == os.path.realpath(args.out):
        raise RMPEError(f"--json and --out name the same file {args.json}; give them different names")
    if args.json:
        check_output_path(args.json, inputs=inputs, flag="--json")
        partial = check_output_path(partial_path(args.json), inputs=inputs, flag="--json")
        if os.path.lexists(partial):  # what a killed run left: the only copy of its results
            raise RMPEError(f"--json {args.json}: {partial} from an interrupted run is still there; "
                            f"recover it with rmpe-demo --recover {partial}, or delete it")
    out = args.out
    if not out:
        return None, None, None
    if isinstance(source, VideoSource):
        if os.path.isdir(out):
            raise RMPEError(f"--out {out} is a folder; give a video file name such as out.mp4")
        if not out.lower().endswith(VIDEO_SUFFIXES):
            raise RMPEError(f"--out {out}: a video output needs a name ending in {', '.join(VIDEO_SUFFIXES)} "
                            "(e.g. out.mp4)")
        check_output_path(out, inputs=inputs)
        check_output_path(partial_video_path(out), inputs=inputs)
        return out, None, None
    if args.image is not None and out.lower().endswith(IMAGE_SUFFIXES):
        return None, None, check_output_path(out, inputs=inputs)
    if out.lower().endswith(VIDEO_SUFFIXES):
        raise RMPEError(f"--out {out} names a video, but the input is images: give a folder "
                        "(or an image file name with --image)")
    check_output_path(out, inputs=inputs, kind="folder")
    for f in source.files:  # the renderings keep the inputs' names
        target = os.path.join(out, os.path.basename(f))
        if os.path.exists(target) and os.path.samefile(target, f):
            raise RMPEError(f"--out {out}: the rendering of {f} would replace that input; choose another folder")
    return None, out, None


def _recover(args) -> int:
    """--recover FILE.partial.jsonl [--json OUT]: the final JSON from what a killed run left."""
    from ..io import check_output_path
    from ..results_io import final_path, recover_partial

    out = args.json or final_path(args.recover)
    if out is None:
        raise RMPEError(f"--recover {args.recover}: the name does not end in .partial.jsonl; "
                        "name the final file with --json")
    if not os.path.isfile(args.recover):
        raise RMPEError(f"partial results file not found: {args.recover}")
    check_output_path(out, inputs=[args.recover], flag="--json")
    done = recover_partial(args.recover, out)
    if not args.quiet:
        torn = f" ({done.torn} torn last line skipped)" if done.torn else ""
        print(f"rmpe-demo: recovered {done.frames} frames from {args.recover} into {done.path}{torn}", file=sys.stderr)
    return 0


@contextmanager
def _notices() -> Iterator[None]:
    """The sources' skip and truncation notices (SourceWarning) as one line each on stderr."""
    from tqdm import tqdm

    from ..sources import SourceWarning

    with warnings.catch_warnings():  # restores the filters and showwarning afterwards
        warnings.simplefilter("always", SourceWarning)
        show_other = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None):
            if issubclass(category, SourceWarning):
                tqdm.write(f"rmpe-demo: warning: {message}", file=sys.stderr)
            else:
                show_other(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        yield


@cli_main
def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    _check_flags(args)
    if args.recover is not None:
        return _recover(args)
    if args.checkpoint is None:
        raise RMPEError(WEIGHTS_HELP)

    notes: List[str] = []
    cfg = config_from_args(args, checkpoint=args.checkpoint, log=notes.append)
    with _notices():
        return _run(args, cfg, notes)


def _run(args, cfg, notes: Sequence[str] = ()) -> int:
    from ..api import PoseEstimator

    source = _source(args)  # bad input fails before models load
    if not os.path.isfile(args.checkpoint):
        raise RMPEError(f"checkpoint not found: {args.checkpoint}")
    video_path, image_dir, image_file = _outputs(args, source)  # so do bad output locations
    for note in notes:  # e.g. "using the config stored in ..." once the inputs are known to be good
        print(f"rmpe-demo: {note}", file=sys.stderr)
    from ..bottomup.network import is_bottomup

    if is_bottomup(cfg.model.name):  # bottom-up (rmpe.bottomup): whole frames, no person detector
        print(f"rmpe-demo: note: {cfg.model.name} is a bottom-up model; it needs no person detector, "
              "so --detector and the detector: settings are ignored", file=sys.stderr)

    track = cfg.demo.track if args.track is None else args.track
    if args.smooth and not track:
        raise RMPEError("--smooth smooths tracked people's keypoints: add --track (or set demo.track: true)")
    if args.smooth is not None:
        cfg.tracking.smooth = bool(args.smooth)
    if cfg.tracking.smooth and not track:
        print("rmpe-demo: note: keypoint smoothing (tracking.smooth) works on tracked people; it is off "
              "without --track", file=sys.stderr)
    if not is_bottomup(cfg.model.name):  # wt-cpu: on the CPU the cores are split between detection and poses
        from ..distributed import resolve_device
        from ..pipeline import streaming_threads

        cfg = streaming_threads(cfg, resolve_device(cfg.device))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = PoseEstimator(cfg, checkpoint=args.checkpoint, detector=args.detector, profile=args.profile)
    from tqdm import tqdm

    from ..outputs import OutputWorker
    from ..sources import VideoSource
    from ..train.interrupt import StopSignals

    is_video = isinstance(source, VideoSource)
    total = getattr(source, "frame_count", None)
    if args.max_frames is not None:
        total = args.max_frames if total is None else min(total, args.max_frames)
    frames = itertools.islice(source, args.max_frames) if args.max_frames is not None else source
    frames_done = 0
    people_total = 0
    trails = cfg.demo.trails if args.trails is None else args.trails
    # From here SIGINT and SIGTERM only ask to stop: the frame in hand is written, then the
    # outputs are closed as at the end of the input.
    with StopSignals() as stop:
        worker = OutputWorker(
            video_path=video_path,
            image_dir=image_dir,
            image_file=image_file,
            json_path=args.json,
            fmt=args.format or cfg.demo.format,
            fps=getattr(source, "fps", 25.0),
            size=getattr(source, "size", None),
            threshold=cfg.demo.draw_threshold if args.threshold is None else args.threshold,
            show_boxes=cfg.demo.show_boxes if args.show_boxes is None else args.show_boxes,
            skeleton=est.keypoint_set.skeleton or None,
            queue_size=cfg.demo.queue_size,
            tracked=track,
            trails=trails,
        )
        size = getattr(source, "size", None)  # (W, H) of a video: the networks load and compile before the clock
        if size and hasattr(est.pipeline, "warmup") and stop.received is None:
            seconds = est.pipeline.warmup((size[1], size[0]), est.batch)
            if not args.quiet:
                mode = ("detection overlapped with poses (pipelined)" if getattr(est.pipeline, "pipelined", False)
                        else "detection and poses one after the other")
                print(f"rmpe-demo: models ready after a {seconds:.1f} s warm-up (not in frames/s); {mode}",
                      file=sys.stderr)
        bar = tqdm(total=total, unit="frame", disable=args.quiet, dynamic_ncols=True, desc="rmpe-demo")
        start = time.perf_counter()
        results = est.run(frames, track=track, fps=getattr(source, "fps", None))
        try:
            for frame, people in results:
                # the image id is the input's (frame index or file name), whatever --out is called
                worker.put(frame, people, image_id=frame.index if is_video else frame.name)
                people_total += len(people)
                frames_done += 1
                bar.update(1)
                if stop.received is not None:
                    break
        finally:
            results.close()  # stops the reader thread
            bar.close()
            worker.close()
    elapsed = time.perf_counter() - start
    rate = f"{frames_done / max(elapsed, 1e-9):.1f} frames/s"
    written = [p for p in (args.json, video_path, image_dir, image_file) if p]
    if stop.received is not None:
        where = f"; results in {', '.join(written)}" if written else ""
        print(f"rmpe-demo: interrupted by {stop.name} after {frames_done} frames ({people_total} people, {rate}){where}",
              file=sys.stderr)
    elif not args.quiet:
        msg = f"rmpe-demo: {frames_done} frames, {people_total} people, {rate}"
        skipped = getattr(source, "skipped", [])
        if skipped:
            msg += f", {len(skipped)} unreadable images skipped"
        if est.pipeline.dropped_boxes:
            msg += f", {est.pipeline.dropped_boxes} boxes dropped (smaller than detector.min_box_size inside the image)"
        if args.json:
            msg += f"; results in {args.json}"
        print(msg, file=sys.stderr)
    if args.profile:
        print(est.timer.summary(frames_done), file=sys.stderr)
    return 0 if stop.received is None else int(stop.exit_status)


if __name__ == "__main__":
    sys.exit(main())
