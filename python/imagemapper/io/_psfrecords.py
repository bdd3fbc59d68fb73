"""Persistence of PSFs as FITS table rows plus kernel images (read and written by the FITS I/O)."""

from __future__ import annotations

__all__ = ["psfFromRecords", "psfToRecords"]


from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .._core import Box2I, Extent2I, Point2I
from ..image.psf import CoaddPsf, KernelPsf, Psf

if TYPE_CHECKING:
    pass


# ---------------------------------------------------------------------------
# Persistence: a PSF as table rows and kernel images
# ---------------------------------------------------------------------------

#: The PSF classes a file may name, by the ``type`` written; only these are
#: ever constructed when reading (a file cannot make us import anything else).
_PSF_TYPES: dict[str, tuple[str, str]] = {
    "GaussianPsf": ("imagemapper.image.psf", "GaussianPsf"),
    "DoubleGaussianPsf": ("imagemapper.image.psf", "DoubleGaussianPsf"),
    "KernelPsf": ("imagemapper.image.psf", "KernelPsf"),
    "CoaddPsf": ("imagemapper.image.psf", "CoaddPsf"),
    "VariableGaussianPsf": ("imagemapper.mappers", "VariableGaussianPsf"),
}


def _psfClass(name: str) -> type:
    import importlib

    module, attr = _PSF_TYPES[name]
    return cast(type, getattr(importlib.import_module(module), attr))


def _persistedType(psf: Psf) -> str | None:
    """The registered type ``psf`` is written as: its own, else a registered base class."""
    for name in _PSF_TYPES:
        if type(psf) is _psfClass(name):
            return name
    for name in _PSF_TYPES:
        if isinstance(psf, _psfClass(name)):
            return name
    return None


def psfToRecords(psf: Psf) -> tuple[list[dict[str, Any]], list[np.ndarray], list[str]]:
    """Describe ``psf`` as table rows and kernel images (what `Exposure.writeFits` stores).

    Parameters
    ----------
    psf : `Psf`
        The PSF. `GaussianPsf`, `DoubleGaussianPsf`, `KernelPsf`, `CoaddPsf`
        (its components recursively, with their boxes and weights) and
        `~imagemapper.mappers.VariableGaussianPsf` are written exactly;
        subclasses of these as the class they derive from; any other PSF as a
        `KernelPsf` of its kernel image at its average position (a note says
        so).

    Returns
    -------
    rows : `list` of `dict`
        One row per PSF, the root first, each component after its parent:
        ``type`` (class name), ``parent`` (row index, -1 for the root) and the
        class's parameters as floats (``width``, ``height``, ``sigma``, ...;
        for a coadd component also ``bboxMinX``, ``bboxMinY``, ``bboxWidth``,
        ``bboxHeight`` and ``weight``).
    kernels : `list` of `numpy.ndarray`
        Kernel images, referred to by a row's ``kernel`` index.
    notes : `list` of `str`
        What could not be written exactly (empty when the round trip is exact).
    """
    rows: list[dict[str, Any]] = []
    kernels: list[np.ndarray] = []
    notes: list[str] = []

    def add(p: Psf, parent: int, extra: dict[str, float]) -> None:
        name = _persistedType(p)
        if name is None:
            where = p.getAveragePosition()
            notes.append(
                f"a {type(p).__name__} cannot be saved exactly: saved its kernel image at "
                f"({where.getX():g}, {where.getY():g}) as a KernelPsf"
            )
            p = KernelPsf(p.computeKernelImage(where), averagePosition=where)
            name = "KernelPsf"
        elif type(p) is not _psfClass(name):
            notes.append(f"a {type(p).__name__} is saved as its base class {name}")
        index = len(rows)
        row: dict[str, Any] = {"type": name, "parent": parent, **extra}
        row.update({k: float(v) for k, v in cast(Any, p).persistParams(kernels).items()})
        rows.append(row)
        if isinstance(p, CoaddPsf):
            for i in range(p.getComponentCount()):
                b = p.getBBox(i)
                add(
                    p.getPsf(i),
                    index,
                    {
                        "bboxMinX": float(b.getMinX()),
                        "bboxMinY": float(b.getMinY()),
                        "bboxWidth": float(b.getWidth()),
                        "bboxHeight": float(b.getHeight()),
                        "weight": p.getWeight(i),
                    },
                )

    add(psf, -1, {})
    return rows, kernels, notes


def psfFromRecords(rows: Sequence[Mapping[str, Any]], kernels: Sequence[Any]) -> Psf:
    """Rebuild the PSF that `psfToRecords` described.

    Parameters
    ----------
    rows : sequence of mapping
        The rows, the root first.
    kernels : sequence of 2-d arrays
        The kernel images the rows' ``kernel`` indices refer to.

    Returns
    -------
    psf : `Psf`

    Raises
    ------
    ValueError
        For an unknown type, a bad parent index, a missing parameter or a
        missing kernel; the message names the row.
    """
    if not rows:
        raise ValueError("no PSF rows")
    children: dict[int, list[tuple[Psf, Box2I, float]]] = {}
    root: Psf | None = None
    for index in range(len(rows) - 1, -1, -1):
        row = rows[index]
        name = str(row.get("type", "")).strip()
        if name not in _PSF_TYPES:
            raise ValueError(
                f"PSF row {index}: unknown type {name!r} (known: {', '.join(_PSF_TYPES)})"
            )
        params = {str(k): float(v) for k, v in row.items() if k not in ("type", "parent")}
        try:
            cls = _psfClass(name)
            psf = cast(Any, cls).fromPersistParams(params, kernels, children.get(index, []))
            parent = int(row.get("parent", -1))
            if parent == -1:
                if index != 0:
                    raise ValueError("it has no parent but is not the first row")
                root = psf
                continue
            if not 0 <= parent < index:
                raise ValueError(f"its parent {parent} is not an earlier row")
            bbox = Box2I(
                Point2I(int(params["bboxMinX"]), int(params["bboxMinY"])),
                Extent2I(int(params["bboxWidth"]), int(params["bboxHeight"])),
            )
            children.setdefault(parent, []).insert(0, (psf, bbox, params["weight"]))
        except (KeyError, IndexError) as err:
            raise ValueError(f"PSF row {index} ({name}): missing {err}") from None
        except (TypeError, ValueError) as err:
            raise ValueError(f"PSF row {index} ({name}): {err}") from None
    assert root is not None
    return root
