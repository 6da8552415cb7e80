"""Where the real test material is (``../shared`` beside the checkout) and how tests that need it skip.

Every data test skips through :func:`needs` or the ``shared_data`` fixture, with a reason that
says what is missing; ``tests/conftest.py`` turns such a skip into a failure when
``../shared/data`` is present (a moved file, not a missing folder).
"""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = (ROOT / ".." / "shared").resolve()
SHARED_DATA = SHARED / "data"
SHARED_REFERENCE = SHARED / "reference"


def reason(path: Path) -> str:
    """Skip reason of a test that needs ``path`` under ../shared."""
    return f"needs {path} from ../shared, the real test material CI lays beside the checkout"


def needs(*paths: Path) -> pytest.MarkDecorator:
    """``@needs(DATA / "x.json")``: skip (with the reason above) unless every path exists."""
    missing = [p for p in paths if not Path(p).exists()]
    return pytest.mark.skipif(bool(missing), reason=reason(missing[0]) if missing else "")


def require(path: Path) -> Path:
    """Inside a test: skip unless ``path`` exists; returns it."""
    if not Path(path).exists():
        pytest.skip(reason(path))
    return Path(path)


def annotations_with_keypoints(source: Path, k: int, out: Path) -> Path:
    """A copy of a COCO keypoint file whose people and category keep only their first ``k`` keypoints."""
    import json

    data = json.loads(Path(source).read_text())
    for a in data["annotations"]:
        a["keypoints"] = a["keypoints"][: 3 * k]
    for c in data["categories"]:
        c["keypoints"] = c["keypoints"][:k]
    Path(out).write_text(json.dumps(data))
    return Path(out)
