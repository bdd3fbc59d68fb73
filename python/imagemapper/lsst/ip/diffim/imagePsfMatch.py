"""``imagemapper.lsst.ip.diffim.imagePsfMatch``: the base task, config and
registry that ``zogy`` builds on (`imagemapper.lsst._compat.diffim`; no
Alard-Lupton matching or warping)."""

from __future__ import annotations

__all__ = ["ImagePsfMatchConfig", "ImagePsfMatchTask", "subtractAlgorithmRegistry"]

from ..._compat.diffim import ImagePsfMatchConfig, ImagePsfMatchTask, subtractAlgorithmRegistry
