"""Writing FITS outputs: atomic publication, the LSST layout, PSF HDUs and provenance cards.

The writer publishes atomically: the file is written under a temporary name
beside the target, flushed to disk and renamed into place only when complete,
so the target is either the previous file or the complete new one.
"""

from __future__ import annotations

import datetime
import logging
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from ..image import Exposure
from ..image._common import (
    shiftedWcs,
)
from ..image._exposure import cardKey
from ._fitslayout import headerFromMetadata
from ._output import fsyncDirectory

_log = logging.getLogger("imagemapper.fits")

if TYPE_CHECKING:
    pass

#: The EXTNAMEs of an exposure's image, mask and variance HDUs, in order.
FITS_EXTNAMES = ("IMAGE", "MASK", "VARIANCE")


# --------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def publishFile(
    path: str | os.PathLike[str], write: Callable[[str], None], overwrite: bool = True
) -> None:
    """Write a file atomically: ``write(tmp)`` fills a temporary file beside
    ``path``, which is flushed to disk and renamed to ``path`` only when
    complete. On any error (or a kill) ``path`` is untouched: the previous
    file, or nothing; the temporary file is removed on errors.

    Parameters
    ----------
    path : path-like
        The target.
    write : callable
        Writes the whole file to the name it is given (which exists, empty);
        the name keeps ``path``'s suffix (``.gz``...).
    overwrite : `bool`
        Replace an existing ``path``; otherwise `FileExistsError`, also when
        another writer creates ``path`` meanwhile.
    """
    target = os.fspath(path)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(f"{target!r} exists (pass overwrite=True to replace it)")
    directory = os.path.dirname(os.path.abspath(target))
    name = os.path.basename(target)
    suffix = "".join(s for s in _suffixes(name) if s)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{name}.", suffix=f".partial{suffix}")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        if overwrite:
            os.replace(tmp, target)
        else:
            try:
                os.link(tmp, target)  # refuses a target that appeared meanwhile
            except FileExistsError:
                raise FileExistsError(
                    f"{target!r} exists (pass overwrite=True to replace it)"
                ) from None
            except OSError:  # no hard links here: a (racy) check, then rename
                if os.path.lexists(target):
                    raise FileExistsError(
                        f"{target!r} exists (pass overwrite=True to replace it)"
                    ) from None
                os.replace(tmp, target)
            else:
                os.unlink(tmp)
        fsyncDirectory(directory)
    except BaseException as err:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        if isinstance(err, OSError) and not isinstance(err, FileExistsError):
            from ._output import namedOSError

            raise namedOSError(err, target, "cannot write the file") from err
        raise


def publishDirectory(
    path: str | os.PathLike[str], write: Callable[[str], None], overwrite: bool = True
) -> None:
    """Write a directory (a zarr store) atomically: ``write(tmp)`` fills a
    temporary directory beside ``path``, renamed to ``path`` when complete.

    A previous directory at ``path`` is moved aside first and removed only
    after the new one is in place (a crash between the two renames leaves
    both, under their temporary names, and nothing half-written at ``path``).
    """
    import shutil

    target = os.path.abspath(os.fspath(path)).rstrip(os.sep)
    if not overwrite and os.path.lexists(target):
        raise FileExistsError(f"{target!r} exists (pass overwrite=True to replace it)")
    directory, name = os.path.split(target)
    tmp = tempfile.mkdtemp(dir=directory, prefix=f".{name}.", suffix=".partial")
    try:
        write(tmp)
        fsyncDirectory(tmp)
        old = None
        if os.path.lexists(target):
            old = tempfile.mkdtemp(dir=directory, prefix=f".{name}.", suffix=".old")
            os.rmdir(old)
            os.rename(target, old)
        os.rename(tmp, target)
        fsyncDirectory(directory)
        if old is not None and os.path.isdir(old):
            shutil.rmtree(old, ignore_errors=True)
        elif old is not None:
            os.unlink(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _suffixes(name: str) -> list[str]:
    lower = name.lower()
    for ext in (".fits.gz", ".fit.gz", ".fts.gz", ".fits.fz", ".fits.bz2", ".gz", ".fz", ".bz2"):
        if lower.endswith(ext):
            return [name[-len(ext) :]]
    return [os.path.splitext(name)[1]]


def isTileCompressedName(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` names a tile-compressed FITS file (``.fz``)."""
    return os.fspath(path).lower().endswith(".fz")


def _imageHdu(data: np.ndarray, header: Any, name: str, compress: bool) -> Any:
    from astropy.io import fits

    if not compress:
        return fits.ImageHDU(data=data, header=header, name=name)
    if data.dtype.kind == "f":
        # quantize_level=0: no quantisation, the floats are compressed losslessly.
        return fits.CompImageHDU(
            data=data, header=header, name=name, compression_type="GZIP_2", quantize_level=0.0
        )
    return fits.CompImageHDU(data=data, header=header, name=name, compression_type="RICE_1")


def psfHdus(psf: Any) -> tuple[list[Any], list[str]]:
    """The ``PSF`` table HDU and ``PSF_KERNEL`` image HDUs of ``psf``, and notes."""
    from astropy.io import fits

    from ._psfrecords import psfToRecords

    rows, kernels, notes = psfToRecords(psf)
    columns = []
    types = np.array([r["type"] for r in rows])
    columns.append(fits.Column(name="type", format=f"{max(len(t) for t in types)}A", array=types))
    columns.append(
        fits.Column(name="parent", format="J", array=np.array([r["parent"] for r in rows]))
    )
    names: list[str] = []
    for r in rows:
        names.extend(k for k in r if k not in ("type", "parent") and k not in names)
    for name in names:
        values = np.array([r.get(name, math.nan) for r in rows], dtype=np.float64)
        columns.append(fits.Column(name=name, format="D", array=values))
    table = fits.BinTableHDU.from_columns(columns, name="PSF")
    table.header["PSFTYPE"] = (rows[0]["type"], "the PSF class (components follow its row)")
    table.header["COMMENT"] = (
        "One row per PSF: type, parent row (-1: the root), parameters (NaN: not used); "
        "kernel = index k of HDU PSF_KERNEL,k+1"
    )
    for note in notes:
        table.header["HISTORY"] = note
    hdus: list[Any] = [table]
    for k, kernel in enumerate(kernels):
        hdu = fits.ImageHDU(np.asarray(kernel, dtype=">f8"), name="PSF_KERNEL", ver=k + 1)
        hdus.append(hdu)
    return hdus, notes


def packageVersion() -> str:
    from .. import _core

    return str(_core.__version__)


def writeExposure(
    exposure: Exposure,
    path: str | os.PathLike[str],
    overwrite: bool = True,
    compress: bool | None = None,
) -> None:
    """Write the LSST layout, atomically, with checksums (see `Exposure.writeFits`)."""
    from astropy.io import fits

    target = os.fspath(path)
    if compress is None:
        compress = isTileCompressedName(target)
    primary = fits.PrimaryHDU()
    primary.header.extend(headerFromMetadata(exposure.metadata))
    primary.header["IM_VERS"] = (packageVersion(), "imagemapper version that wrote this file")

    x0, y0 = exposure.getX0(), exposure.getY0()
    common = fits.Header()
    common["LTV1"] = (-x0, "-x0: parent x of the first column, negated")
    common["LTV2"] = (-y0, "-y0: parent y of the first row, negated")
    for axis, origin in ((1, x0), (2, y0)):
        common[f"CTYPE{axis}A"] = "LINEAR"
        common[f"CRPIX{axis}A"] = 1.0
        common[f"CRVAL{axis}A"] = float(origin)
    common["WCSNAMEA"] = "PARENT"
    wcs = exposure.getWcs()
    if wcs is not None:
        common.extend(shiftedWcs(wcs, -x0, -y0).to_header(relax=True))

    hdus: list[Any] = [primary]
    planes = (exposure.image, exposure.mask, exposure.variance)
    for extname, plane in zip(FITS_EXTNAMES, planes, strict=True):
        header = common.copy()
        header["EXTTYPE"] = extname
        if extname == "MASK":
            for name, bit in sorted(exposure.mask.getMaskPlaneDict().items(), key=lambda kv: kv[1]):
                header[cardKey(f"MP_{name}")] = bit
        if extname == "VARIANCE":
            header["UTYPE"] = ("VarianceUncertainty", "astropy: this plane is a variance")
        data = np.ascontiguousarray(plane.array, dtype=plane.dtype.newbyteorder(">"))
        hdus.append(_imageHdu(data, header, extname, compress))
    if exposure.getPsf() is not None:
        extra, notes = psfHdus(exposure.getPsf())
        for note in notes:
            _log.warning("%s: %s", target, note)
        hdus.extend(extra)
    hdul = fits.HDUList(hdus)
    publishFile(target, lambda tmp: hdul.writeto(tmp, overwrite=True, checksum=True), overwrite)


# --------------------------------------------------------------------------
# provenance
# --------------------------------------------------------------------------


def configDigest(config: Any) -> str:
    """SHA-256 of the config as ``config.saveToString()`` writes it (first 16 hex digits)."""
    import hashlib

    return hashlib.sha256(config.saveToString().encode()).hexdigest()[:16]


def provenance(
    config: Any = None,
    mapperClass: type | None = None,
    *,
    inputPath: str | os.PathLike[str] | None = None,
    inputHdu: str | None = None,
    overrides: list[str] | None = None,
    command: str | None = None,
) -> dict[str, Any]:
    """Metadata cards that say how an output was made.

    Returns ``IM_VERS`` (package version), ``IM_DATE`` (UTC), ``IM_MAPPR``
    (mapper class), ``IM_REDUC`` (reduce operation), ``IM_CFGDG`` (config
    digest), ``IM_INPUT`` and ``IM_INHDU`` (input file and HDU), and
    ``HISTORY`` lines: the command, every override given and every config
    field's value, so that a FITS reader sees the whole configuration.
    """
    from ..task._configdoc import configLines, publicName

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    out: dict[str, Any] = {"IM_VERS": packageVersion(), "IM_DATE": now.isoformat()}
    history = [f"imagemapper {packageVersion()} {now.isoformat()}"]
    if command:
        history.append(f"command: {command}")
    if mapperClass is not None:
        out["IM_MAPPR"] = publicName(mapperClass)
    if config is not None:
        out["IM_REDUC"] = str(config.reducer.reduceOperation)
        out["IM_CFGDG"] = configDigest(config)
    if inputPath is not None:
        out["IM_INPUT"] = os.path.basename(os.fspath(inputPath))
    if inputHdu is not None:
        out["IM_INHDU"] = inputHdu
    for text in overrides or []:
        history.append(f"override: {text}")
    if config is not None:
        history.append(f"config (sha256 {out['IM_CFGDG']}):")
        history.extend(f"  {line}" for line in configLines(config))
    out["HISTORY"] = history
    return out


def addProvenance(metadata: dict[str, Any], cards: Mapping[str, Any]) -> None:
    """Merge ``cards`` into ``metadata``: keywords replaced, ``HISTORY`` appended."""
    for key, value in cards.items():
        if key == "HISTORY":
            previous = metadata.get("HISTORY")
            lines = list(previous) if isinstance(previous, (list, tuple)) else []
            metadata["HISTORY"] = lines + list(value)
        else:
            metadata[key] = value
