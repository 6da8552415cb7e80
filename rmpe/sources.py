"""Frame sources: video file, webcam, image file, image folder; a threaded reader.

Every source yields :class:`Frame` objects in order. :class:`ThreadedReader` decodes a
source on a background thread into a bounded queue, so decoding overlaps inference while
memory stays bounded however long the video is.
"""
from __future__ import annotations

import os
import queue
import threading
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, List, Optional

import numpy as np

# FFmpeg prints its own complaints about broken files on stderr; our errors say it in one line.
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
import cv2  # noqa: E402

from .data.annotations import read_image  # noqa: E402
from .errors import RMPEError  # noqa: E402

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")


class SourceWarning(UserWarning):
    """A frame source skipped something: an unreadable image in a folder, a truncated video.

    Raised with :func:`warnings.warn`, so Python callers can catch or filter it;
    ``rmpe-demo`` prints each as one line ``rmpe-demo: warning: ...``.
    """


@contextmanager
def opencv_quiet() -> Iterator[None]:
    """Silence OpenCV's own logging (``[ WARN:0@...]`` lines) inside the block, then restore it.

    Probing a missing webcam or an unusable output name makes OpenCV print a dozen lines
    on stderr; the caller reports the failure itself, in one line.
    """
    log = cv2.utils.logging
    previous = log.getLogLevel()
    log.setLogLevel(log.LOG_LEVEL_SILENT)
    try:
        yield
    finally:
        log.setLogLevel(previous)


@dataclass
class Frame:
    """One decoded frame: ``image`` (H, W, 3) uint8 BGR, its index and file name (images)."""

    index: int
    image: np.ndarray
    name: Optional[str] = None


class VideoSource:
    """Frames of a video file or a webcam (``cv2.VideoCapture``).

    Raises RMPEError for a missing file, a file OpenCV cannot open as a video, or a video
    without a single decodable frame. A truncated video yields the frames that decode, then
    a :class:`SourceWarning` says how many of the announced frames it got.
    """

    def __init__(self, path_or_index) -> None:
        self.webcam = isinstance(path_or_index, int)
        self.path = path_or_index
        if not self.webcam:
            if not os.path.isfile(path_or_index):
                raise RMPEError(f"video not found: {path_or_index}")
            if os.path.getsize(path_or_index) == 0:
                raise RMPEError(f"video file is empty: {path_or_index}")
        with opencv_quiet():
            self.cap = cv2.VideoCapture(path_or_index)
        if not self.cap.isOpened():
            what = f"webcam {path_or_index}" if self.webcam else f"{path_or_index}: not a readable video"
            raise RMPEError(f"cannot open {what}")
        ok, first = self.cap.read()
        if not ok or first is None:
            self.cap.release()
            raise RMPEError(f"cannot decode any frame of {path_or_index}: the file is corrupt or not a video")
        self._first: Optional[np.ndarray] = first
        fps = self.cap.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and fps > 0 and np.isfinite(fps) else 25.0
        self.size = (first.shape[1], first.shape[0])  # (W, H) as cv2.VideoWriter wants
        count = int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT))
        self.frame_count = count if count > 0 and not self.webcam else None

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        try:
            if self._first is not None:
                yield Frame(0, self._first)
                self._first = None
                index = 1
            while True:
                ok, image = self.cap.read()
                if not ok or image is None:
                    break
                yield Frame(index, image)
                index += 1
        finally:
            self.cap.release()
        if self.frame_count is not None and index < self.frame_count:
            warnings.warn(f"{self.path}: decoded {index} of {self.frame_count} frames (truncated video?)",
                          SourceWarning, stacklevel=2)


class ImageSource:
    """Frames of one image file or every image of a folder (sorted by name).

    An unreadable image inside a folder is skipped with a :class:`SourceWarning` and counted
    in :attr:`skipped`; a single unreadable image file is an error.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.skipped: List[str] = []
        if os.path.isdir(path):
            self.files = sorted(
                os.path.join(path, f) for f in os.listdir(path) if f.lower().endswith(IMAGE_SUFFIXES)
            )
            if not self.files:
                raise RMPEError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in folder {path}")
            self.folder = True
        elif os.path.isfile(path):
            self.files = [path]
            self.folder = False
        else:
            raise RMPEError(f"image or folder not found: {path}")
        self.frame_count = len(self.files)

    def __iter__(self) -> Iterator[Frame]:
        index = 0
        for f in self.files:
            try:
                image = read_image(f)
            except RMPEError:
                if not self.folder:
                    raise
                warnings.warn(f"skipping unreadable image {f}", SourceWarning, stacklevel=2)
                self.skipped.append(f)
                continue
            yield Frame(index, image, os.path.basename(f))
            index += 1


_END = object()


class ThreadedReader:
    """Decode a source on a daemon thread into a bounded queue.

    Iterating yields the source's frames; an exception raised by the source is re-raised
    in the consumer. :meth:`close` stops the thread early.
    """

    def __init__(self, source, queue_size: int = 32) -> None:
        self.source = source
        self.queue: "queue.Queue" = queue.Queue(maxsize=max(1, queue_size))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rmpe-reader", daemon=True)
        self._thread.start()

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for frame in self.source:
                if not self._put(frame):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the consumer
            self._put(exc)

    def __iter__(self) -> Iterator[Frame]:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def batched(frames, size: int) -> Iterator[List[Frame]]:
    """Group an iterator of frames into lists of at most ``size``."""
    batch: List[Frame] = []
    for f in frames:
        batch.append(f)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
