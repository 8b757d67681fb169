"""NVIDIA DALI pipelines (pretraining views and linear evaluation) for ImageFolder/JPEG data."""

from __future__ import annotations
