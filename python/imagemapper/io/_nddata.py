"""Conversions between `Exposure` and astropy NDData/CCDData: uncertainty, mask, WCS, unit, meta."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..image import Exposure
from ..image._common import (
    asXY,
    shiftedWcs,
    validatePlanes,
)
from ._fitslayout import headerFromMetadata, metadataFromHeader

if TYPE_CHECKING:
    from astropy.nddata import NDData


# --------------------------------------------------------------------------
# astropy NDData / CCDData
# --------------------------------------------------------------------------


def _nddataItems(exposure: Exposure) -> dict[str, Any]:
    x0, y0 = exposure.getX0(), exposure.getY0()
    items: dict[str, Any] = dict(exposure.metadata)
    items["LTV1"] = -x0
    items["LTV2"] = -y0
    for name, bit in sorted(exposure.mask.getMaskPlaneDict().items(), key=lambda kv: kv[1]):
        items[f"MP_{name}"] = bit
    return items


def _arrayWcs(exposure: Exposure) -> Any:
    wcs = exposure.getWcs()
    if wcs is None:
        return None
    x0, y0 = exposure.getX0(), exposure.getY0()
    wcs = shiftedWcs(wcs, -x0, -y0)
    wcs.pixel_shape = (exposure.getWidth(), exposure.getHeight())
    return wcs


def _psfKwargs(exposure: Exposure) -> dict[str, Any]:
    """``{"psf": kernel image at the average position}`` for NDData, when there is a PSF."""
    psf = exposure.getPsf()
    if psf is None or "psf" not in _nddataInit():
        return {}
    return {"psf": np.asarray(psf.computeKernelImage(psf.getAveragePosition()).array)}


def toCCDData(exposure: Exposure, unit: Any = None) -> Any:
    """See `Exposure.toCCDData`."""
    from astropy import units as u
    from astropy.nddata import CCDData, VarianceUncertainty

    if unit is None:
        unit = exposure.metadata.get("BUNIT", u.dimensionless_unscaled)
    header = headerFromMetadata(_nddataItems(exposure))
    return CCDData(
        exposure.image.array,
        unit=u.Unit(unit),
        uncertainty=VarianceUncertainty(exposure.variance.array, copy=False),
        mask=exposure.mask.array != 0,
        wcs=_arrayWcs(exposure),
        meta=header,
        **_psfKwargs(exposure),
    )


def _nddataInit() -> frozenset[str]:
    import inspect

    from astropy.nddata import NDData

    return frozenset(inspect.signature(NDData.__init__).parameters)


def toNDData(exposure: Exposure, unit: Any = None) -> Any:
    """See `Exposure.toNDData`."""
    from astropy.nddata import NDData, VarianceUncertainty

    if unit is not None or "BUNIT" in exposure.metadata:
        return toCCDData(exposure, unit)
    items = _nddataItems(exposure)
    items["XY0"] = (exposure.getX0(), exposure.getY0())
    return NDData(
        exposure.image.array,
        uncertainty=VarianceUncertainty(exposure.variance.array, copy=False),
        mask=exposure.mask.array,
        wcs=_arrayWcs(exposure),
        meta=items,
        **_psfKwargs(exposure),
    )


def _varianceOf(uncertainty: Any) -> np.ndarray | None:
    from astropy.nddata import InverseVariance, StdDevUncertainty, VarianceUncertainty

    if uncertainty is None:
        return None
    if isinstance(uncertainty, VarianceUncertainty):
        return np.asarray(uncertainty.array)
    if isinstance(uncertainty, StdDevUncertainty):
        return np.square(np.asarray(uncertainty.array, dtype=float))
    if isinstance(uncertainty, InverseVariance):
        ivar = np.asarray(uncertainty.array, dtype=float)
        return np.divide(1.0, ivar, out=np.full(ivar.shape, np.inf), where=ivar != 0)
    raise TypeError(
        f"unsupported uncertainty type {type(uncertainty).__name__}; use "
        "VarianceUncertainty, StdDevUncertainty or InverseVariance"
    )


def fromNDData(cls: type[Exposure], nddata: NDData) -> Any:
    """See `Exposure.fromNDData`."""
    from astropy.io import fits
    from astropy.wcs import WCS

    from ..image.psf import KernelPsf

    data = np.asarray(nddata.data)
    meta = nddata.meta if nddata.meta is not None else {}
    variance = _varianceOf(nddata.uncertainty)
    if variance is not None and variance.shape != data.shape:
        variance = np.broadcast_to(variance, data.shape)

    mask = nddata.mask
    if mask is not None:
        mask = np.asarray(mask)
        if mask.ndim == 0:
            mask = np.full(data.shape, mask.item(), dtype=mask.dtype)

    if "XY0" in meta:
        xy0 = asXY(meta["XY0"], "meta['XY0']")
    else:
        xy0 = (-int(meta.get("LTV1", 0)), -int(meta.get("LTV2", 0)))
    found = {key[3:]: int(value) for key, value in meta.items() if str(key).startswith("MP_")}
    planes = validatePlanes(found) if found else None

    wcs = nddata.wcs
    if wcs is not None and not isinstance(wcs, WCS):
        wcs = getattr(wcs, "low_level_wcs", wcs)
        if not isinstance(wcs, WCS):
            raise TypeError(f"only astropy.wcs.WCS is supported, not {type(nddata.wcs).__name__}")
    if wcs is not None:
        wcs = shiftedWcs(wcs, xy0[0], xy0[1])

    if isinstance(meta, fits.Header):
        metadata = metadataFromHeader(meta)
    else:
        metadata = {
            key: value
            for key, value in meta.items()
            if key not in ("XY0", "LTV1", "LTV2") and not str(key).startswith("MP_")
        }
    if nddata.unit is not None:
        metadata["BUNIT"] = nddata.unit.to_string()
    psf = None
    psfArray = getattr(nddata, "psf", None)
    if psfArray is not None:
        psf = KernelPsf(np.asarray(psfArray))
    return cls.fromArrays(
        data, mask, variance, xy0, psf=psf, wcs=wcs, planeDict=planes, metadata=metadata
    )


def nddataLike(template: NDData, data: np.ndarray) -> NDData:
    """``data`` in an object of ``template``'s class carrying copies of its
    uncertainty, mask, WCS, meta, unit and PSF (what `map_reduce` returns for
    NDData input: the function maps the data; everything else is the input's)."""
    import copy

    kwargs: dict[str, Any] = {
        "uncertainty": copy.deepcopy(template.uncertainty),
        "mask": None if template.mask is None else np.array(template.mask, copy=True),
        "wcs": template.wcs,
        "meta": copy.deepcopy(template.meta),
        "unit": template.unit,
    }
    if getattr(template, "psf", None) is not None and "psf" in _nddataInit():
        kwargs["psf"] = np.array(template.psf, copy=True)
    return type(template)(data, **kwargs)


def iterRows(n: int, rows: int) -> Iterator[slice]:
    """Slices of ``rows`` rows covering ``range(n)``."""
    for start in range(0, n, max(1, rows)):
        yield slice(start, min(n, start + rows))
