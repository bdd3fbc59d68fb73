"""Mappers that hang, for the fault tests (module level, so that they pickle)."""

from __future__ import annotations

import os
import time

import lsst.pex.config as pexConfig

import imagemapper as im


class HangConfig(im.ImageMapperConfig):
    pidDir = pexConfig.Field(dtype=str, doc="folder where workers record their pid", default="")
    hang = pexConfig.ChoiceField(
        dtype=str,
        doc="which cells hang",
        default="origin",
        allowed={"origin": "the cell at the image's origin", "all": "every cell", "none": "none"},
    )
    how = pexConfig.ChoiceField(
        dtype=str,
        doc="how a cell hangs",
        default="sleep",
        allowed={
            "sleep": "sleeps for an hour, in steps of 50 ms",
            "spin": "a pure-Python loop that never ends",
            "raise": "raises ZeroDivisionError instead of hanging (the reference)",
        },
    )


class HangMapper(im.ImageMapper):
    """Adds 1 to every cell, except the cells that hang (``config.hang``)."""

    ConfigClass = HangConfig
    _DefaultName = "hang"

    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        if self.config.pidDir:
            with open(os.path.join(self.config.pidDir, str(os.getpid())), "w") as f:
                f.write("alive")
        b = subExposure.getBBox()
        origin = b.getMinX() == fullBBox.getMinX() and b.getMinY() == fullBBox.getMinY()
        if self.config.hang == "all" or (self.config.hang == "origin" and origin):
            if self.config.how == "raise":
                raise ZeroDivisionError("planted failure")
            t0 = time.monotonic()
            n = 0
            while time.monotonic() - t0 < 3600:
                if self.config.how == "sleep":
                    time.sleep(0.05)
                else:
                    n += 1
        out = subExposure.clone()
        out.maskedImage += 1.0
        return im.Struct(subExposure=out)
