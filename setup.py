"""Install the SHIP plugin.

The CoOp-style folders ``trainers/`` and ``datasets/`` at the repository root are installed as
``shipclip.trainers`` and ``shipclip.datasets``: nothing named ``datasets`` lands in
site-packages (it would shadow Hugging Face ``datasets``), and each module has exactly one import
name, so a trainer or dataset can never be registered twice through two import paths.
"""
from setuptools import setup

setup(
    name="shipclip",
    version="0.1.0",
    description="SHIP (Synthesized Prompts, ICCV 2023) for CoOp/CoCoOp/Tip-Adapter on Dassl or a built-in engine",
    long_description=open("README.md", encoding="utf-8").read() if __import__("os").path.exists("README.md") else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.9",
    packages=[
        "shipclip",
        "shipclip.engine",
        "shipclip.engine.data",
        "shipclip.infra",
        "shipclip.clip",
        "shipclip.clip.loader",
        "shipclip.results",
        "shipclip.ship",
        "shipclip.toyworld",
        "shipclip.sweep",
        "shipclip.sweep.launchers",
        "shipclip.trainers",
        "shipclip.datasets",
        "shipclip_testing",  # test support (tiny models, fake datasets), kept out of the product package
    ],
    package_dir={
        "shipclip": "shipclip",
        "shipclip.trainers": "trainers",
        "shipclip.datasets": "datasets",
    },
    install_requires=[
        "torch>=1.13",
        "torchvision>=0.14",
        "open_clip_torch>=2.20",
        "yacs>=0.1.8",
        "tabulate>=0.8",
        "numpy>=1.21",
        "Pillow>=8.0",
        "tqdm>=4.40",
        "scipy>=1.7",
    ],
    extras_require={
        "plot": ["matplotlib>=3.3"],
        "tensorboard": ["tensorboard>=2.4"],
        "slurm": ["submitit>=1.5"],  # LAUNCHER=slurm of the protocol scripts
        "test": ["pytest>=7", "pytest-xdist>=3", "matplotlib>=3.3", "submitit>=1.5"],
    },
)
