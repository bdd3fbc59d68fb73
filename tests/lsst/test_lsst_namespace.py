"""The porting rule: every ``lsst.X`` module LSST mappers import exists as
``imagemapper.lsst.X`` and hands out the package's own classes; client modules
can be dropped into the tree."""

from __future__ import annotations

import builtins
import importlib
import os
import subprocess
import sys
import textwrap

import pytest

import imagemapper as im

# The modules ip_diffim's imageDecorrelation, zogy, imageMapReduce and their
# tests import (besides lsst.pex.config and lsst.utils, which stay).
PORTED = [
    "lsst.afw.image",
    "lsst.afw.math",
    "lsst.afw.geom",
    "lsst.afw.detection",
    "lsst.geom",
    "lsst.meas.algorithms",
    "lsst.pipe.base",
    "lsst.pex.exceptions",
    "lsst.daf.base",
    "lsst.ip.diffim",
    "lsst.ip.diffim.imageMapReduce",
    "lsst.ip.diffim.utils",
    "lsst.ip.diffim.imagePsfMatch",
]


@pytest.mark.parametrize("name", PORTED)
def test_every_ported_module_imports_and_lists_what_it_has(name):
    module = importlib.import_module("imagemapper." + name)
    exported = module.__all__
    assert exported
    for attribute in exported:
        assert hasattr(module, attribute), f"{name}.{attribute}"


@pytest.mark.parametrize("name", ["lsst.pex.config", "lsst.utils"])
def test_the_real_packages_are_not_mirrored(name):
    importlib.import_module(name)  # the real one is there
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("imagemapper." + name)


def test_the_package_classes_are_re_exported_not_reimplemented():
    import imagemapper.lsst.afw.detection as afwDetection
    import imagemapper.lsst.afw.image as afwImage
    import imagemapper.lsst.geom as geom
    import imagemapper.lsst.ip.diffim.imageMapReduce as imr
    import imagemapper.lsst.meas.algorithms as measAlg
    import imagemapper.lsst.pipe.base as pipeBase

    same = [
        (afwImage.Image, im.Image),
        (afwImage.Mask, im.Mask),
        (afwImage.MaskX, im.Mask),
        (afwImage.MaskedImage, im.MaskedImage),
        (afwImage.Exposure, im.Exposure),
        (afwImage.PARENT, im.PARENT),
        (afwImage.LOCAL, im.LOCAL),
        (geom.Box2I, im.Box2I),
        (geom.Point2I, im.Point2I),
        (geom.Point2D, im.Point2D),
        (geom.Extent2I, im.Extent2I),
        (geom.BoxI, im.Box2I),
        (geom.PointD, im.Point2D),
        (pipeBase.Task, im.Task),
        (pipeBase.Struct, im.Struct),
        (pipeBase.TaskMetadata, im.TaskMetadata),
        (measAlg.CoaddPsf, im.CoaddPsf),
        (measAlg.DoubleGaussianPsf, im.DoubleGaussianPsf),
        (measAlg.SingleGaussianPsf, im.GaussianPsf),
        (afwDetection.GaussianPsf, im.GaussianPsf),
        (imr.ImageMapReduceTask, im.ImageMapReduceTask),
        (imr.ImageMapReduceConfig, im.ImageMapReduceConfig),
        (imr.ImageMapper, im.ImageMapper),
        (imr.ImageMapperConfig, im.ImageMapperConfig),
        (imr.ImageReducer, im.ImageReducer),
        (imr.ImageReducerConfig, im.ImageReducerConfig),
        (imr.ImageMapperSubtask, im.ImageMapper),
        (imr.ImageMapperSubtaskConfig, im.ImageMapperConfig),
    ]
    for ported, own in same:
        assert ported is own
    # the typed spellings are the package classes with a pixel type
    for typed, base in (
        (afwImage.ImageF, im.Image),
        (afwImage.MaskedImageD, im.MaskedImage),
        (afwImage.ExposureF, im.Exposure),
    ):
        assert issubclass(typed, base)


def test_geom_factories():
    import imagemapper.lsst.geom as geom

    assert geom.Point[int, 2] is im.Point2I
    assert geom.Point[float, 2] is im.Point2D
    assert geom.Extent[float, 2] is geom.Extent2D
    assert isinstance(im.Point2I(1, 2), geom.Point)
    assert isinstance(geom.Extent2D(1.5, 2.0), geom.Extent)
    box = geom.Box2D(im.Box2I(im.Point2I(0, 0), im.Extent2I(4, 3)))
    assert (box.getMinX(), box.getMaxX(), box.getMinY(), box.getMaxY()) == (-0.5, 3.5, -0.5, 2.5)
    assert box.contains(im.Point2D(3.4, 2.4)) and not box.contains(im.Point2D(3.5, 0.0))
    assert box.overlaps(geom.Box2D(im.Point2D(3.0, 2.0), im.Point2D(9.0, 9.0)))
    assert box.getDimensions() == geom.Extent2D(4.0, 3.0)
    assert geom.Box2D().isEmpty()


def test_pex_exceptions_keep_lsst_hierarchy():
    from imagemapper.lsst import pex

    exc = importlib.import_module("imagemapper.lsst.pex.exceptions")
    assert pex.exceptions is exc
    assert issubclass(exc.InvalidParameterError, exc.LogicError)
    assert issubclass(exc.LengthError, exc.LogicError)
    assert issubclass(exc.LogicError, exc.Exception)
    assert issubclass(exc.RangeError, exc.RuntimeError)
    assert issubclass(exc.RuntimeError, builtins.RuntimeError)
    assert issubclass(exc.OverflowError, builtins.OverflowError)
    assert issubclass(exc.NotFoundError, builtins.LookupError)
    assert issubclass(exc.TypeError, builtins.TypeError)
    assert issubclass(exc.IoError, builtins.OSError)
    # errors imagemapper raises for bad values are catchable as LSST's
    assert issubclass(exc.InvalidParameterError, builtins.ValueError)
    with pytest.raises(exc.InvalidParameterError, match="boom"):
        raise exc.InvalidParameterError("boom")
    assert exc.LengthError("x").what() == "x"


CLIENT = """
from .imageMapReduce import ImageMapper, ImageMapReduceConfig
from .utils import computeAveragePsf
from .imagePsfMatch import ImagePsfMatchTask, subtractAlgorithmRegistry
import imagemapper.lsst.pipe.base as pipeBase


class ClientMapper(ImageMapper):
    def run(self, subExposure, expandedSubExposure, fullBBox, **kwargs):
        expandedSubExposure.image.array[...] += 1.0
        return pipeBase.Struct(subExposure=subExposure)
"""

RUN = """
import numpy as np
import imagemapper as im
from imagemapper.lsst.ip.diffim.client import ClientMapper, ImageMapReduceConfig
import imagemapper.lsst.ip.diffim.client as client
config = ImageMapReduceConfig()
config.mapper.retarget(ClientMapper)
config.scaleByFwhm = False
exposure = im.Exposure.fromArrays(np.zeros((30, 40)))
out = im.ImageMapReduceTask(config).run(exposure).exposure
assert np.all(out.image.array == 1.0), out.image.array
assert np.all(exposure.image.array == 0.0)
print(client.__file__)
"""


@pytest.mark.parametrize("withInits", [False, True])
def test_a_client_tree_on_sys_path_joins_the_namespace(tmp_path, withInits):
    # An acceptance suite may put the client modules in an
    # imagemapper/lsst/ip/diffim/ tree of its own on sys.path; their relative
    # imports must find the package's modules (in a fresh interpreter, since
    # the namespace reads sys.path when it is first imported).
    tree = tmp_path / "imagemapper" / "lsst" / "ip" / "diffim"
    tree.mkdir(parents=True)
    (tree / "client.py").write_text(textwrap.dedent(CLIENT))
    if withInits:
        for directory in (tree, tree.parent, tree.parent.parent):
            (directory / "__init__.py").write_text("")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RUN)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tree / "client.py")
