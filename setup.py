"""Installs the five rmpe packages: rmpe, sppe, detectors, pose_nms, pgpg."""
from setuptools import find_packages, setup

setup(
    name="rmpe",
    version="0.1.0",
    description="Regional multi-person pose estimation (RMPE / AlphaPose style) in PyTorch",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=find_packages(include=["rmpe", "rmpe.*", "sppe", "sppe.*", "detectors", "detectors.*", "pose_nms", "pose_nms.*", "pgpg", "pgpg.*"]),
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "ultralytics>=8.1",
        "numpy>=1.23",
        "scipy>=1.10",
        "opencv-python>=4.7",
        "pycocotools>=2.0.7",
        "pyyaml>=6.0",
        "tqdm>=4.64",
    ],
    extras_require={
        # rmpe-export and the onnxruntime / OpenVINO backends (onnxscript: torch's ONNX exporter needs it).
        "export": ["onnx>=1.15", "onnxscript>=0.1", "onnxruntime>=1.17", "openvino>=2024.0"],
        # TensorRT engines: only where an NVIDIA GPU is present.
        "tensorrt": ["tensorrt>=10.0"],
        # Tracking evaluation: HOTA with TrackEval, IDF1 / MOTA cross-checked with motmetrics; lap is
        # what ultralytics' BYTETracker / BOTSORT need, for benchmarks/bench_tracking.py's comparison.
        "track": ["trackeval>=1.3", "motmetrics>=1.4", "lap>=0.5.12"],
        # Tests and the CPU extras, so CI runs their tests instead of skipping them.
        "dev": ["pytest>=7.4", "onnx>=1.15", "onnxscript>=0.1", "onnxruntime>=1.17", "openvino>=2024.0",
                "trackeval>=1.3", "motmetrics>=1.4", "lap>=0.5.12"],
    },
    entry_points={
        "console_scripts": [
            "rmpe-demo=rmpe.cli.demo:main",
            "rmpe-eval=rmpe.cli.eval:main",
            "rmpe-train=rmpe.cli.train:main",
            "rmpe-synth=rmpe.cli.synth:main",
            "rmpe-pgpg=rmpe.cli.pgpg:main",
            "rmpe-export=rmpe.cli.export:main",
        ]
    },
)
