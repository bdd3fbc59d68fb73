"""`Exposure`: a `MaskedImage` with PSF, WCS and header metadata, as ``lsst.afw.image.Exposure``.

It reads and writes the LSST FITS layout (`Exposure.writeFits`, `Exposure.readFits`) and
converts to and from `astropy.nddata.NDData` / `~astropy.nddata.CCDData`; the format code
itself lives in the I/O layer (`imagemapper.io`).
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import numpy.typing as npt

from .._core import Box2I, Extent2I, Point2I
from ._common import PARENT, ImageOrigin, asXY, checkWcs, shiftedWcs
from ._image import Image
from ._mask import Mask
from ._maskedimage import MaskedImage, dispatchInit

if TYPE_CHECKING:
    from astropy.nddata import CCDData, NDData
    from astropy.wcs import WCS
    from typing_extensions import Self


# --------------------------------------------------------------------------
# Exposure
# --------------------------------------------------------------------------

_STANDARD_KEY = re.compile(r"^[A-Z0-9_-]{1,8}$")


def cardKey(key: str) -> str:
    """Return the header key to use for ``key`` (``HIERARCH`` when it is not a standard keyword)."""
    return key if _STANDARD_KEY.match(key) else f"HIERARCH {key}"


class Exposure:
    """A `MaskedImage` with a PSF, a WCS and metadata (``lsst.afw.image.Exposure``).

    Constructors:

    - ``Exposure(width, height, dtype=np.float32)``, ``Exposure(bbox,
      dtype=...)`` and ``Exposure(dimensions, ...)`` allocate zeros (keywords
      ``psf=``, ``wcs=``, ``planeDict=``);
    - ``Exposure(maskedImage, psf=None, wcs=None, metadata=None)`` wraps a
      `MaskedImage` (not copied);
    - ``Exposure(exposure, bbox=None, origin=PARENT, deep=False, *,
      writeable=True)`` is a view of ``bbox`` sharing pixels, the PSF, the
      WCS and the metadata dict; ``deep=True`` copies everything.
      ``writeable=False`` gives a cheap read-only view: no pixel is copied,
      the three arrays have ``flags.writeable = False`` (so writes raise
      numpy's `ValueError`), and the metadata and mask-plane dicts are
      shallow copies so the view cannot change its parent (the PSF and WCS
      objects are still shared);
    - ``Exposure.fromArrays(image, mask=None, variance=None, xy0=(0, 0),
      psf=None, wcs=None)`` wraps numpy arrays (see
      `MaskedImage.fromArrays`).

    Notes
    -----
    The WCS is an `astropy.wcs.WCS` in 0-based **parent** pixel coordinates:
    ``exposure.wcs.pixel_to_world(x, y)`` takes the same ``(x, y)`` as
    ``exposure.getBBox()``; views keep the parent's WCS.
    """

    _maskedImage: MaskedImage
    _psf: Any
    _wcs: WCS | None
    _metadata: dict[str, Any]
    _photoCalib: Any = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        dispatchInit(
            self,
            args,
            kwargs,
            view=Exposure,
            part=MaskedImage,
            partName="a MaskedImage",
            hint="use Exposure.fromArrays for numpy arrays or Exposure.readFits for files",
        )

    def _init_parts(
        self,
        maskedImage: MaskedImage,
        psf: Any = None,
        wcs: WCS | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self._maskedImage = maskedImage
        self._psf = psf
        self._wcs = checkWcs(wcs)
        self._metadata = dict(metadata) if metadata is not None else {}

    def _init_bbox(
        self,
        bbox: Box2I,
        dtype: npt.DTypeLike = np.float32,
        *,
        psf: Any = None,
        wcs: WCS | None = None,
        planeDict: Mapping[str, int] | None = None,
    ) -> None:
        self._init_parts(MaskedImage(bbox, dtype, planeDict=planeDict), psf, wcs)

    def _init_view(
        self,
        source: Exposure,
        bbox: Box2I | None = None,
        origin: ImageOrigin | str = PARENT,
        deep: bool = False,
        *,
        writeable: bool = True,
    ) -> None:
        self.__dict__.update(source._view(bbox, origin, deep, writeable).__dict__)

    def _view(
        self, bbox: Box2I | None, origin: ImageOrigin | str, deep: bool, writeable: bool
    ) -> Self:
        obj = type(self).__new__(type(self))
        obj._maskedImage = self._maskedImage._view(
            bbox, origin, deep, writeable, type(self).__name__
        )
        if deep:
            obj._psf = copy.deepcopy(self._psf)
            obj._wcs = copy.deepcopy(self._wcs)
            obj._metadata = copy.deepcopy(self._metadata)
        else:
            obj._psf = self._psf
            obj._wcs = self._wcs
            obj._metadata = self._metadata if writeable else dict(self._metadata)
        if self._photoCalib is not None:
            obj._photoCalib = copy.deepcopy(self._photoCalib) if deep else self._photoCalib
        return obj

    @classmethod
    def fromArrays(
        cls,
        image: npt.ArrayLike,
        mask: npt.ArrayLike | None = None,
        variance: npt.ArrayLike | None = None,
        xy0: Point2I | Iterable[int] = (0, 0),
        psf: Any = None,
        wcs: WCS | None = None,
        *,
        planeDict: Mapping[str, int] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> Self:
        """Wrap numpy arrays as an exposure, without copying when their dtypes fit.

        Parameters
        ----------
        image, mask, variance, xy0, planeDict
            As for `MaskedImage.fromArrays`: float32/float64 images are
            wrapped; integer images become float32 (up to 16 bits) or float64;
            bool/complex/object images raise `TypeError`; a missing mask or
            variance is zeros; big-endian arrays are converted to native order.
        psf : object, optional
            The PSF.
        wcs : `astropy.wcs.WCS`, optional
            Sky coordinates of 0-based parent pixels.
        metadata : mapping, optional
            FITS header cards to carry.

        Returns
        -------
        exposure : `Exposure`

        Raises
        ------
        TypeError
            For unsupported dtypes or a WCS that is not an `astropy.wcs.WCS`.
        ValueError
            If an array is not 2-d or the shapes differ.

        Examples
        --------
        >>> import numpy as np, imagemapper as im
        >>> exp = im.Exposure.fromArrays(np.ones((3, 4), dtype=np.float32), xy0=(5, 6))
        >>> exp.getBBox()
        Box2I(minimum=Point2I(5, 6), dimensions=Extent2I(4, 3))
        """
        mi = MaskedImage.fromArrays(image, mask, variance, xy0, planeDict=planeDict)
        obj = cls.__new__(cls)
        obj._init_parts(mi, psf, wcs, metadata)
        return obj

    # -- planes -------------------------------------------------------------

    @property
    def maskedImage(self) -> MaskedImage:
        """The `MaskedImage` (assigning replaces it, like `setMaskedImage`)."""
        return self._maskedImage

    @maskedImage.setter
    def maskedImage(self, value: MaskedImage) -> None:
        self.setMaskedImage(value)

    def getMaskedImage(self) -> MaskedImage:
        """Return the `MaskedImage`."""
        return self._maskedImage

    def setMaskedImage(self, maskedImage: MaskedImage) -> None:
        """Replace the `MaskedImage` (not copied)."""
        if not isinstance(maskedImage, MaskedImage):
            raise TypeError(f"expected a MaskedImage, not {type(maskedImage).__name__}")
        self._maskedImage = maskedImage

    @property
    def image(self) -> Image:
        """The image plane; assigning copies pixels in."""
        return self._maskedImage._image

    @image.setter
    def image(self, value: Any) -> None:
        self._maskedImage.image = value

    @property
    def mask(self) -> Mask:
        """The mask plane; assigning copies pixels in."""
        return self._maskedImage._mask

    @mask.setter
    def mask(self, value: Any) -> None:
        self._maskedImage.mask = value

    @property
    def variance(self) -> Image:
        """The variance plane; assigning copies pixels in."""
        return self._maskedImage._variance

    @variance.setter
    def variance(self, value: Any) -> None:
        self._maskedImage.variance = value

    @property
    def dtype(self) -> np.dtype:
        """The dtype of the image (and variance)."""
        return self._maskedImage.dtype

    @property
    def Factory(self) -> type[Self]:
        """The class of this object: ``exposure.Factory(exposure, bbox)`` is a view."""
        return type(self)

    # -- geometry -----------------------------------------------------------

    def getBBox(self, origin: ImageOrigin | str = PARENT) -> Box2I:
        """Return the bounding box (see `Image.getBBox`)."""
        return self._maskedImage._image.getBBox(origin)

    def getXY0(self) -> Point2I:
        """Return the parent position of array element ``[0, 0]``."""
        return self._maskedImage.getXY0()

    def setXY0(self, xy0: Point2I | Iterable[int]) -> None:
        """Move the image to a new ``xy0``, keeping each pixel's sky position.

        As in ``afw``, the WCS (if any) is replaced by a copy shifted by
        ``xy0 - old xy0``; other views keep the old WCS object.
        """
        x0, y0 = asXY(xy0, "xy0")
        old = self.getXY0()
        if self._wcs is not None:
            self._wcs = shiftedWcs(self._wcs, x0 - old.getX(), y0 - old.getY())
        self._maskedImage.setXY0((x0, y0))

    def getX0(self) -> int:
        """Return the parent x of the first column."""
        return self._maskedImage.getX0()

    def getY0(self) -> int:
        """Return the parent y of the first row."""
        return self._maskedImage.getY0()

    def getWidth(self) -> int:
        """Return the number of columns."""
        return self._maskedImage.getWidth()

    def getHeight(self) -> int:
        """Return the number of rows."""
        return self._maskedImage.getHeight()

    def getDimensions(self) -> Extent2I:
        """Return ``(width, height)``."""
        return self._maskedImage.getDimensions()

    # -- PSF, WCS, metadata ---------------------------------------------------

    @property
    def psf(self) -> Any:
        """The PSF, or `None`."""
        return self._psf

    @psf.setter
    def psf(self, value: Any) -> None:
        self._psf = value

    def getPsf(self) -> Any:
        """Return the PSF (or `None`)."""
        return self._psf

    def setPsf(self, psf: Any) -> None:
        """Set the PSF (`None` removes it)."""
        self._psf = psf

    def hasPsf(self) -> bool:
        """Return whether there is a PSF."""
        return self._psf is not None

    @property
    def wcs(self) -> WCS | None:
        """The `astropy.wcs.WCS` in 0-based parent pixel coordinates, or `None`."""
        return self._wcs

    @wcs.setter
    def wcs(self, value: WCS | None) -> None:
        self._wcs = checkWcs(value)

    def getWcs(self) -> WCS | None:
        """Return the WCS (or `None`)."""
        return self._wcs

    def setWcs(self, wcs: WCS | None) -> None:
        """Set the WCS (0-based parent pixel coordinates; `None` removes it)."""
        self._wcs = checkWcs(wcs)

    def hasWcs(self) -> bool:
        """Return whether there is a WCS."""
        return self._wcs is not None

    @property
    def photoCalib(self) -> Any:
        """The photometric calibration (``lsst.afw.image.PhotoCalib``-like), or `None`."""
        return self._photoCalib

    @photoCalib.setter
    def photoCalib(self, value: Any) -> None:
        self._photoCalib = value

    def getPhotoCalib(self) -> Any:
        """Return the photometric calibration, or `None` when there is none."""
        return self._photoCalib

    def setPhotoCalib(self, photoCalib: Any) -> None:
        """Set the photometric calibration (`None` removes it); views share it."""
        self._photoCalib = photoCalib

    @property
    def metadata(self) -> dict[str, Any]:
        """FITS header cards carried with the exposure (a live dict)."""
        return self._metadata

    @metadata.setter
    def metadata(self, value: Mapping[str, Any]) -> None:
        self._metadata = dict(value)

    def getMetadata(self) -> dict[str, Any]:
        """Return the metadata dict (live)."""
        return self._metadata

    def setMetadata(self, metadata: Mapping[str, Any]) -> None:
        """Replace the metadata with a copy of ``metadata``."""
        self._metadata = dict(metadata)

    # -- copies and sub-exposures -------------------------------------------

    def clone(self) -> Self:
        """Return a deep copy (pixels, mask planes, PSF, WCS and metadata)."""
        return self._view(None, PARENT, deep=True, writeable=True)

    def subset(self, bbox: Box2I, origin: ImageOrigin | str = PARENT) -> Self:
        """Return a view of ``bbox`` sharing pixels, PSF and WCS.

        Raises
        ------
        ValueError
            If ``bbox`` is not contained in the exposure's box (the message
            names both boxes).
        """
        return self._view(bbox, origin, deep=False, writeable=True)

    def __getitem__(self, key: Box2I | tuple[Any, ...] | slice) -> Self:
        """Return a view of ``bbox`` or ``[x0:x1, y0:y1]`` (PARENT coordinates)."""
        return self._view(self._maskedImage._box_key(key), PARENT, deep=False, writeable=True)

    def __setitem__(self, key: Box2I | tuple[Any, ...] | slice, value: Any) -> None:
        """Copy an exposure's or a masked image's pixels, or a value, into ``bbox``."""
        if isinstance(value, Exposure):
            value = value._maskedImage
        self._maskedImage[key] = value

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(bbox={self.getBBox()!r}, dtype={self.dtype}, "
            f"psf={self._psf!r}, wcs={'yes' if self._wcs is not None else 'no'})"
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> Self:
        return self.clone()

    # -- FITS -----------------------------------------------------------------

    def writeFits(
        self,
        path: str | os.PathLike[str],
        overwrite: bool = True,
        *,
        compress: bool | None = None,
    ) -> None:
        """Write the LSST multi-extension layout, atomically and with checksums.

        A primary HDU holding ``metadata`` (``HIERARCH`` cards for long names,
        one ``HISTORY``/``COMMENT`` card per line of a list) and ``IM_VERS``
        (the package version), then image extensions ``IMAGE``, ``MASK`` and
        ``VARIANCE``. Each carries ``xy0`` as ``LTV1 = -x0``, ``LTV2 = -y0``
        and the ``PARENT`` linear WCS with key ``A`` (``CRVAL1A = x0``,
        ``CRPIX1A = 1``), plus the sky WCS shifted so that FITS pixel 1 is
        parent pixel ``x0``. The mask header has one ``MP_<NAME> = bit`` card
        per plane; the variance header ``UTYPE = 'VarianceUncertainty'`` (so
        ``CCDData.read(path, hdu_uncertainty='VARIANCE')`` reads it as a
        variance). A PSF is written as a ``PSF`` table (and ``PSF_KERNEL``
        images); `readFits` reads it back. Every HDU has ``CHECKSUM`` and
        ``DATASUM`` cards.

        Parameters
        ----------
        path : `str` or path-like
            Output file; ``.gz`` is gzip-compressed, ``.fz`` tile-compressed.
        overwrite : `bool`, optional
            Replace an existing file.
        compress : `bool`, optional
            Tile-compress the three planes (lossless: GZIP_2 for floats,
            RICE_1 for the mask); default: when the name ends in ``.fz``.

        Raises
        ------
        FileExistsError
            If the file exists and ``overwrite`` is False.
        OSError
            When writing fails (e.g. the disk is full); the file at ``path``
            is then untouched.

        Notes
        -----
        The file is written under a temporary name beside ``path``, flushed
        to disk and renamed to ``path`` only when complete: a previous file
        stays intact until then, and no partial file is ever left at
        ``path`` (not even if the process is killed). The pixels are written
        from big-endian copies, so the exposure is never modified.
        """
        from ..io._fitswrite import writeExposure

        writeExposure(self, path, overwrite=overwrite, compress=compress)

    @classmethod
    def readFits(cls, path: str | os.PathLike[str], hdu: Any = None) -> Self:
        """Read an exposure from a FITS file: LSST, CCDData, HST/JWST or a plain image.

        Parameters
        ----------
        path : `str` or path-like
            Input file (``.gz``, ``.bz2`` and tile-compressed files too).
        hdu : `int`, `str` or ``(str, int)``, optional
            The image HDU: an index, an ``EXTNAME`` (``"SCI"`` or ``"SCI,2"``)
            or an ``(EXTNAME, EXTVER)`` pair. Default: the ``IMAGE``
            extension, else the first ``SCI`` extension (HST/JWST; an INFO
            log line names it when there are several), else the first HDU
            with 2-d image data.

        Returns
        -------
        exposure : `Exposure`
            Pixels in native byte order. The mask comes from the ``MASK`` (or
            ``DQ``) extension with the image's ``EXTVER``; plane names from
            ``MP_*`` cards (defaults otherwise; a ``DQ`` extension without
            them gets ``DQ_BIT<n>`` planes for the bits it uses). The variance
            comes from ``VARIANCE`` or ``VAR``, ``UNCERT`` (as its ``UTYPE``
            says: ``StdDevUncertainty`` -- the default --,
            ``VarianceUncertainty`` or ``InverseVariance``; also ``std``,
            ``var``, ``ivar``), ``ERR`` (a standard deviation) or ``IVAR``
            (inverse variance; 0 becomes ``inf``). A missing mask or variance
            is zeros. ``xy0`` comes from the ``PARENT`` ``A`` WCS or
            ``LTV1/2``; the sky WCS from the image header (shifted to parent
            pixels); the PSF from a ``PSF`` table; ``metadata`` from the
            primary header and the image HDU's header (the latter wins),
            without structural, WCS and mask-plane cards, ``HISTORY`` and
            ``COMMENT`` as lists of lines.

        Raises
        ------
        FileNotFoundError
            If there is no such file.
        OSError
            `~imagemapper.io._fitslayout.FitsFormatError` (also a `ValueError`) when
            the file is not FITS, has no image data, is truncated, fails its
            ``CHECKSUM``/``DATASUM``, or its planes disagree with the image
            (shape, float mask, ``xy0``, mask planes); the message names the
            file and the HDU.

        Notes
        -----
        The file is read with ordinary reads, never memory-mapped (a
        truncated file raises an error instead of killing the process with
        SIGBUS). `~imagemapper.FitsSource` applies the same checks.
        """
        from ..io._fitsread import readExposure

        return cast("Self", readExposure(path, hdu, cls))

    # -- astropy NDData ---------------------------------------------------------

    def toNDData(self, unit: Any = None) -> NDData:
        """Return an `~astropy.nddata.NDData`, or a `~astropy.nddata.CCDData` when there is a unit.

        Parameters
        ----------
        unit : `astropy.units.Unit` or `str`, optional
            The data unit. With a unit (given, or ``metadata['BUNIT']``) the
            result is `toCCDData` ``(unit)``; otherwise an
            `~astropy.nddata.NDData`.

        Returns
        -------
        nddata : `~astropy.nddata.NDData`
            ``data`` is the image array and ``uncertainty`` a
            `~astropy.nddata.VarianceUncertainty` of the variance array, both
            shared with the exposure (no copies). ``mask`` is the int32 mask
            array (shared). ``wcs`` is a copy of the WCS whose pixel frame is
            the array (shifted by ``-xy0``, ``pixel_shape`` set). ``meta``
            holds the metadata, ``LTV1 = -x0``, ``LTV2 = -y0``,
            ``XY0 = (x0, y0)`` and one ``MP_<NAME>: bit`` item per mask plane.
            ``psf`` is the PSF's kernel image at its average position.
        """
        from ..io._nddata import toNDData

        return cast("NDData", toNDData(self, unit))

    def toCCDData(self, unit: Any = None) -> CCDData:
        """Return a `~astropy.nddata.CCDData` sharing the pixels.

        Parameters
        ----------
        unit : `astropy.units.Unit` or `str`, optional
            The data unit; default ``metadata['BUNIT']``, else dimensionless.

        Returns
        -------
        ccd : `~astropy.nddata.CCDData`
            ``data`` the image array and ``uncertainty`` a
            `~astropy.nddata.VarianceUncertainty` of the variance array (both
            shared); ``mask`` is ``mask.array != 0`` (CCDData masks are
            boolean; the plane bits are in ``meta`` as ``MP_<NAME>`` cards);
            ``wcs`` in array pixels; ``meta`` a `~astropy.io.fits.Header` of
            the metadata with ``LTV1/2`` (so ``CCDData.write`` works and
            `fromNDData` restores ``xy0``); ``psf`` the kernel image.
        """
        from ..io._nddata import toCCDData

        return cast("CCDData", toCCDData(self, unit))

    @classmethod
    def fromNDData(cls, nddata: NDData) -> Self:
        """Make an exposure from an `~astropy.nddata.NDData` or `~astropy.nddata.CCDData`.

        Parameters
        ----------
        nddata : `~astropy.nddata.NDData`
            ``data`` follows the `fromArrays` dtype rules (wrapped without a
            copy when it is float32/float64). The uncertainty may be `None`
            (zero variance), a `~astropy.nddata.VarianceUncertainty` (wrapped),
            a `~astropy.nddata.StdDevUncertainty` (squared) or an
            `~astropy.nddata.InverseVariance` (inverted; ``inf`` where it is
            0). A boolean mask sets the ``BAD`` plane; an integer mask is taken
            as plane bits. ``xy0`` comes from ``meta['XY0']`` (a pair) or
            ``meta['LTV1'/'LTV2']``, mask planes from ``meta['MP_<NAME>']``;
            the WCS must be an `astropy.wcs.WCS` (or wrap one) and is shifted
            from array to parent pixels. The unit becomes ``metadata['BUNIT']``;
            other meta items are kept in ``metadata``. A ``psf`` array becomes
            a `~imagemapper.KernelPsf`.

        Returns
        -------
        exposure : `Exposure`

        Raises
        ------
        TypeError
            For an unsupported uncertainty, mask dtype or WCS type.
        """
        from ..io._nddata import fromNDData

        return cast("Self", fromNDData(cls, nddata))
