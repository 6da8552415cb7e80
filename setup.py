"""Installs the five rmpe packages: rmpe, sppe, detectors, pose_nms, pgpg."""
from setuptools import setup

setup(
    name="rmpe",
    version="0.1.0",
    description="Regional multi-person pose estimation (RMPE / AlphaPose style) in PyTorch",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=["rmpe", "rmpe.data", "sppe", "detectors", "pose_nms", "pgpg"],
    install_requires=[
        "torch>=2.1",
        "torchvision>=0.16",
        "ultralytics>=8.1",
        "numpy>=1.23",
        "opencv-python>=4.7",
        "pycocotools>=2.0.7",
        "pyyaml>=6.0",
        "tqdm>=4.64",
    ],
    extras_require={"dev": ["pytest>=7.4"]},
    entry_points={"console_scripts": []},
)
