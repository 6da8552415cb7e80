"""The output side of the demo: rendering, video/image files and JSON on a writer thread.

:class:`OutputWorker` takes ``(frame, people)`` pairs from a bounded queue and, on its own
thread, appends the frame's records to the incremental JSON (:mod:`rmpe.results_io`),
draws the poses and writes the rendered frame to a video file or an image folder. Closing
it drains the queue, releases the video writer and finalises the JSON, also after Ctrl-C or
SIGTERM (the CLI turns both into a stop request and then closes the worker).

Every file appears whole under its final name: the video is written to
``OUT.partial<ext>`` (a container needs its index written at the end) and renamed to ``OUT``
when closed; rendered images and the JSON go through a temporary name and a rename.
"""
from __future__ import annotations

import os
import queue
import threading
from typing import List, Optional, Sequence, Tuple

import cv2

from .errors import RMPEError
from .io import atomic_open
from .render import Trails, draw_people
from .results_io import IncrementalResults
from .sources import Frame, opencv_quiet
from .structures import FrameResult, Person

_END = object()

#: File name endings of the rendered video (written with the ``mp4v`` codec).
VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".avi", ".mkv")


def partial_video_path(path: str) -> str:
    """Where the video is written until it is closed: ``out.mp4`` -> ``out.mp4.partial.mp4``."""
    path = os.fspath(path)
    return path + ".partial" + os.path.splitext(path)[1]


def write_image(path: str, image) -> None:
    """Encode ``image`` (H, W, 3) uint8 BGR by the file's extension and write it atomically."""
    ok, data = cv2.imencode(os.path.splitext(path)[1] or ".jpg", image)
    if not ok:
        raise RMPEError(f"cannot encode an image for {path}")
    with atomic_open(path, "wb") as fh:
        fh.write(data.tobytes())


class OutputWorker:
    """Render and write results on a background thread.

    Args:
        video_path: rendered video to write (``mp4v``; a name ending in one of
            :data:`VIDEO_SUFFIXES`), or None.
        image_dir: folder for rendered images (one per input image, same name), or None.
        image_file: the one rendered image's file name (``--image FILE --out NAME.jpg``),
            instead of ``image_dir``; the results still name the input.
        json_path: results JSON (JSON Lines while running), or None.
        fmt: JSON layout: ``alphapose``, ``coco`` or ``openpose``.
        fps, size: video frame rate and (W, H).
        threshold: keypoints drawn above this score; ``show_boxes`` draws detector boxes.
        skeleton: limb index pairs to draw.
        tracked: the people carry track ids (``--track``): the JSON records carry them and each
            person is drawn in the colour of its id.
        trails: with ``tracked``, draw the last ``trails`` centres of each id as a line (0: none).
    """

    def __init__(
        self,
        *,
        video_path: Optional[str] = None,
        image_dir: Optional[str] = None,
        image_file: Optional[str] = None,
        json_path: Optional[str] = None,
        fmt: str = "alphapose",
        fps: float = 25.0,
        size: Optional[Tuple[int, int]] = None,
        threshold: float = 0.3,
        show_boxes: bool = False,
        skeleton: Optional[Sequence[Tuple[int, int]]] = None,
        queue_size: int = 32,
        tracked: bool = False,
        trails: int = 0,
    ) -> None:
        self.video = None
        self.video_path = video_path
        if video_path:
            if not video_path.lower().endswith(VIDEO_SUFFIXES):
                raise RMPEError(f"cannot write video {video_path}: the name must end in {', '.join(VIDEO_SUFFIXES)}")
            os.makedirs(os.path.dirname(os.path.abspath(video_path)), exist_ok=True)
            with opencv_quiet():
                self.video = cv2.VideoWriter(partial_video_path(video_path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
            if not self.video.isOpened():
                self.video = None
                raise RMPEError(f"cannot write video {video_path}: OpenCV has no mp4v encoder for it")
        self.results = IncrementalResults(json_path, fmt) if json_path else None
        self.size = size
        self.image_dir = image_dir
        self.image_file = image_file
        if image_dir:
            os.makedirs(image_dir, exist_ok=True)
        self.draw_kwargs = {"threshold": threshold, "show_boxes": show_boxes}
        if skeleton is not None:
            self.draw_kwargs["skeleton"] = skeleton
        self.tracked = tracked
        if tracked:
            self.draw_kwargs["color_by_id"] = True
        self.trails = Trails(trails, threshold) if tracked and trails > 0 else None
        self.render = self.video is not None or image_dir is not None or image_file is not None
        self.queue: "queue.Queue" = queue.Queue(maxsize=max(1, queue_size))
        self.error: Optional[BaseException] = None
        self.frames = 0
        self._thread = threading.Thread(target=self._run, name="rmpe-writer", daemon=True)
        self._thread.start()

    def put(self, frame: Frame, people: List[Person], image_id=None) -> None:
        """Queue one processed frame (blocks when the writer is behind)."""
        if self.error is not None:
            raise RMPEError(f"writing results failed: {self.error}")
        self.queue.put((frame, people, image_id))

    def _write_one(self, frame: Frame, people: List[Person], image_id) -> None:
        if self.results is not None:
            self.results.write(FrameResult(frame.index, people, image_id=image_id, name=frame.name,
                                           tracked=self.tracked))
        if self.render:
            canvas = frame.image.copy()
            if self.trails is not None:
                self.trails.draw(canvas, people)
            canvas = draw_people(canvas, people, **self.draw_kwargs)
            if self.video is not None:
                if self.size is not None and (canvas.shape[1], canvas.shape[0]) != tuple(self.size):
                    canvas = cv2.resize(canvas, tuple(self.size))
                self.video.write(canvas)
            if self.image_file is not None:
                write_image(self.image_file, canvas)
            elif self.image_dir is not None:
                write_image(os.path.join(self.image_dir, frame.name or f"{frame.index:06d}.jpg"), canvas)
        self.frames += 1

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if self.error is not None:
                continue
            try:
                self._write_one(*item)
            except BaseException as exc:  # reported to the producer
                self.error = exc

    def close(self) -> None:
        """Drain the queue, release the video (renamed into place) and finalise the JSON (idempotent).

        After a writing error the video stays under its partial name and the error is raised.
        """
        if self._thread.is_alive():
            self.queue.put(_END)
            self._thread.join()
        if self.video is not None:
            self.video.release()
            self.video = None
            if self.error is None:
                os.replace(partial_video_path(self.video_path), self.video_path)
        if self.results is not None:
            self.results.finalize()
        if self.error is not None:
            err, self.error = self.error, None
            raise RMPEError(f"writing results failed: {err}")
