"""Mappers for the output-reliability tests (module level, so that the CLI loads them)."""

from __future__ import annotations

import os

import numpy as np

import imagemapper as im


class FailBelowMapper(im.ImageMapper):
    """Adds the mean of the expanded cell (so a cell's value depends on its
    whole border) and raises on cells starting at or below the row given by
    the environment variable ``IM_TEST_FAIL_FROM_Y`` (outside the config: a
    run that fails and its rerun have the same config)."""

    _DefaultName = "failBelow"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        limit = os.environ.get("IM_TEST_FAIL_FROM_Y")
        if limit is not None and subExposure.getBBox().getMinY() >= int(limit):
            raise RuntimeError(f"planted failure at y={subExposure.getBBox().getMinY()}")
        out = subExposure.clone()
        out.image.array[:] += np.float32(expandedSubExposure.image.array.mean())
        out.variance.array[:] *= np.float32(2.0)
        return im.Struct(subExposure=out)
