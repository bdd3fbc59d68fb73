"""Outputs are complete or absent: atomic publication, resume, locks, checksums, disk full.

Each test reproduces a failure of the reliability audit (issue 16): a killed or
failed out-of-core run left an output that looked finished, an output equal to
the input destroyed it, a failed rerun wiped the previous output, a full disk
left a truncated file, two writers mixed their rows.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits

import imagemapper as im
from imagemapper.io._output import OutputLockedError
from imagemapper.mapreduce import _outofcore as ooc
from imagemapper.mapreduce._executors import MapperError
from output_mappers_for_tests import FailBelowMapper

HERE = Path(__file__).resolve().parent  # subprocess scripts import this module
ROOT = HERE.parent  # ... and the test mappers, in the suite's root


def makeExposure(w=90, h=200, seed=4):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(h, w)).astype(np.float32)
    mask = (rng.uniform(size=(h, w)) < 0.02).astype(np.int32)
    variance = rng.uniform(1, 2, size=(h, w)).astype(np.float32)
    return im.Exposure.fromArrays(image, mask, variance, xy0=(3, -7))


def makeConfig(op="average"):
    c = im.ImageMapReduceConfig()
    c.mapper.retarget(FailBelowMapper)
    c.scaleByFwhm = False
    c.cellSizeX = c.cellSizeY = 30.0
    c.gridStepX = c.gridStepY = 20.0
    c.borderSizeX = c.borderSizeY = 4.0
    c.adjustGridOption = "none"
    c.reducer.reduceOperation = op
    c.progress = False
    return c


def run(source, out, resume=False, config=None, **kw):
    task = im.ImageMapReduceTask(config or makeConfig())
    return ooc.runOutOfCore(
        task, source, outputPath=out, bandHeight=37, backend="serial", resume=resume, **kw
    )


def sideFiles(directory: Path, name: str) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.startswith(f".{name}"))


@pytest.fixture
def inputFits(tmp_path):
    path = tmp_path / "in.fits"
    makeExposure().writeFits(path)
    return path


@pytest.fixture
def reference(tmp_path, inputFits):
    """The uninterrupted run's output file."""
    path = tmp_path / "reference.fits"
    run(im.FitsSource(inputFits), path)
    return path


def pixels(path):
    exp = im.Exposure.readFits(path)
    return [exp.image.array.tobytes(), exp.mask.array.tobytes(), exp.variance.array.tobytes()]


# ------------------------------------------------------------------ publication


def test_sink_output_equals_in_memory_and_carries_checksums_astropy_verifies(
    tmp_path, inputFits, reference
):
    task = im.ImageMapReduceTask(makeConfig())
    want = task.run(im.Exposure.readFits(inputFits)).exposure
    got = im.Exposure.readFits(reference)
    np.testing.assert_array_equal(got.image.array, want.image.array)
    np.testing.assert_array_equal(got.mask.array, want.mask.array)
    np.testing.assert_array_equal(got.variance.array, want.variance.array)
    with fits.open(reference, checksum=True) as hdul:  # astropy's own verification
        assert len(hdul) == 4
        for hdu in hdul:
            assert hdu.verify_checksum() == 1 and hdu.verify_datasum() == 1, hdu.name
    assert sideFiles(tmp_path, "reference.fits") == []  # no lock, partial or record left
    # A flipped bit in the data: both readers refuse the file, naming the HDU.
    with fits.open(reference) as hdul:
        where = hdul.fileinfo(3)["datLoc"] + 1000
    raw = bytearray(reference.read_bytes())
    raw[where] ^= 0x10
    reference.write_bytes(bytes(raw))
    for reader in (im.Exposure.readFits, im.FitsSource):
        with pytest.raises(OSError, match=r"reference\.fits: HDU 3 \(VARIANCE.*corrupt"):
            reader(reference)


def test_failed_rerun_keeps_the_previous_fits_output(tmp_path, inputFits, reference, monkeypatch):
    out = tmp_path / "out.fits"
    run(im.FitsSource(inputFits), out)
    before = out.read_bytes()
    monkeypatch.setenv("IM_TEST_FAIL_FROM_Y", "-1000")  # cell 0 fails
    with pytest.raises(MapperError, match="planted failure"):
        run(im.FitsSource(inputFits), out)
    assert out.read_bytes() == before
    assert sideFiles(tmp_path, "out.fits") == []  # nothing done: nothing kept to resume


def test_failed_rerun_keeps_the_previous_zarr_output(tmp_path, monkeypatch):
    pytest.importorskip("zarr")
    exp = makeExposure()
    ooc.ZarrSink.fromExposure(str(tmp_path / "in.zarr"), exp, bandHeight=37)
    source = ooc.ZarrSource(str(tmp_path / "in.zarr"))
    planes = exp.mask.getMaskPlaneDict()

    def zarrRun():
        sink = ooc.ZarrSink(str(tmp_path / "out.zarr"), exp.getBBox(), exp.dtype, planes, 37)
        task = im.ImageMapReduceTask(makeConfig())
        ooc.runOutOfCore(task, source, sink, bandHeight=37, backend="serial")

    zarrRun()
    good = ooc.ZarrSource(str(tmp_path / "out.zarr")).readExposure(exp.getBBox())
    want = im.ImageMapReduceTask(makeConfig()).run(exp).exposure
    np.testing.assert_array_equal(good.image.array, want.image.array)
    monkeypatch.setenv("IM_TEST_FAIL_FROM_Y", "50")  # fails in the third band
    with pytest.raises(MapperError, match="planted failure"):
        zarrRun()
    again = ooc.ZarrSource(str(tmp_path / "out.zarr")).readExposure(exp.getBBox())
    np.testing.assert_array_equal(again.image.array, good.image.array)
    np.testing.assert_array_equal(again.variance.array, good.variance.array)
    # The partial group left for a resume says that it is incomplete.
    with pytest.raises(OSError, match="incomplete output"):
        ooc.ZarrSource(str(tmp_path / ".out.zarr.partial"))


def test_failed_dask_run_keeps_the_previous_zarr_output(tmp_path, inputFits, monkeypatch):
    pytest.importorskip("zarr")
    distributed = pytest.importorskip("distributed")
    import logging

    out = tmp_path / "out.zarr"
    run(im.FitsSource(inputFits), out)
    before = zarrPlanes(out)
    monkeypatch.setenv("IM_TEST_FAIL_FROM_Y", "100")  # the workers inherit it: later bands fail
    source = im.FitsSource(inputFits)
    sink = ooc.ZarrSink(str(out), source.getBBox(), source.dtype, {}, bandHeight=37)
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=":0",
            silence_logs=logging.ERROR,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        task = im.ImageMapReduceTask(makeConfig())
        with pytest.raises(MapperError, match="planted failure"):
            ooc.runOutOfCoreDask(task, source, sink, client, bandHeight=37)
    assert zarrPlanes(out) == before
    assert sideFiles(tmp_path, "out.zarr") == []


def test_no_sparse_file_the_partial_output_holds_its_blocks(tmp_path):
    bbox = im.Box2I(im.Point2I(0, 0), im.Extent2I(300, 200))
    sink = ooc.FitsSink(tmp_path / "o.fits", bbox, np.float32, {})
    sink.begin()
    partial = tmp_path / ".o.fits.partial"
    st = partial.stat()
    assert st.st_size >= 300 * 200 * 12
    assert st.st_blocks * 512 >= st.st_size  # every byte allocated: no hole to SIGBUS on
    assert not (tmp_path / "o.fits").exists()  # nothing at the target before close
    sink.abort()
    assert sideFiles(tmp_path, "o.fits") == []
    with pytest.raises(FileNotFoundError, match=r"nowhere/o\.fits'.*folder does not exist"):
        ooc.FitsSink(tmp_path / "nowhere" / "o.fits", bbox, np.float32, {})


def test_a_sink_dropped_unclosed_publishes_nothing_and_says_so(tmp_path):
    bbox = im.Box2I(im.Point2I(0, 0), im.Extent2I(20, 10))
    sink = ooc.FitsSink(tmp_path / "o.fits", bbox, np.float32, {})
    sink.writeBand(bbox, np.ones((10, 20)), np.zeros((10, 20)), np.ones((10, 20)))
    with pytest.warns(ResourceWarning, match=r"o\.fits: the sink was never closed"):
        del sink
        gc.collect()
    assert not (tmp_path / "o.fits").exists()
    with ooc.FitsSink(tmp_path / "o.fits", bbox, np.float32, {}) as sink:  # the lock is free
        sink.writeBand(bbox, np.ones((10, 20)), np.zeros((10, 20)), np.ones((10, 20)))
    assert im.Exposure.readFits(tmp_path / "o.fits").image.array.sum() == 200


# ----------------------------------------------------------------- refusals


@pytest.mark.parametrize("how", ["same", "hardlink", "symlink"])
def test_output_equal_to_the_input_is_refused_before_anything_is_written(tmp_path, how):
    path = tmp_path / "in.fits"
    makeExposure().writeFits(path)
    before = path.read_bytes()
    out = {"same": path, "hardlink": tmp_path / "hard.fits", "symlink": tmp_path / "soft.fits"}[how]
    if how == "hardlink":
        os.link(path, out)
    elif how == "symlink":
        out.symlink_to(path)
    with pytest.raises(ValueError, match="is the input"):
        run(im.FitsSource(path), out)
    assert path.read_bytes() == before
    assert sideFiles(tmp_path, out.name) == []


def test_zarr_output_equal_to_the_input_is_refused(tmp_path):
    pytest.importorskip("zarr")
    exp = makeExposure()
    store = str(tmp_path / "in.zarr")
    ooc.ZarrSink.fromExposure(store, exp, bandHeight=37)
    source = ooc.ZarrSource(store)
    sink = ooc.ZarrSink(store, exp.getBBox(), exp.dtype, {}, 37)
    with pytest.raises(ValueError, match="is the input"):
        ooc.runOutOfCore(im.ImageMapReduceTask(makeConfig()), source, sink, bandHeight=37)
    back = ooc.ZarrSource(store).readExposure(exp.getBBox())
    np.testing.assert_array_equal(back.image.array, exp.image.array)


HOLDER_SCRIPT = """
import sys, time, numpy as np
import imagemapper as im
from imagemapper.mapreduce import _outofcore as ooc
bbox = im.Box2I(im.Point2I(0, 0), im.Extent2I(10, 10))
sink = ooc.FitsSink(sys.argv[1], bbox, np.float32, {})
print("locked", flush=True)
time.sleep(120)
"""


def test_second_writer_is_refused_naming_the_holder(tmp_path, inputFits, reference):
    out = tmp_path / "out.fits"
    run(im.FitsSource(inputFits), out)
    before = out.read_bytes()
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER_SCRIPT, str(out)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(OutputLockedError, match=rf"another run \(pid {holder.pid} on host "):
            run(im.FitsSource(inputFits), out)
        assert out.read_bytes() == before
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
        holder.stdout.close()
    # The kernel dropped the dead holder's lock: its stale lock file blocks nobody.
    assert (tmp_path / ".out.fits.lock").exists()
    run(im.FitsSource(inputFits), out)
    assert pixels(out) == pixels(reference)
    # In one process too: a second sink on the same output is refused.
    bbox = im.Box2I(im.Point2I(0, 0), im.Extent2I(10, 10))
    first = ooc.FitsSink(out, bbox, np.float32, {})
    with pytest.raises(OutputLockedError, match=rf"pid {os.getpid()} "):
        ooc.FitsSink(out, bbox, np.float32, {})
    first.abort()
    ooc.FitsSink(out, bbox, np.float32, {}).abort()


@pytest.mark.parametrize("policy", ["raise", "mask"])
def test_input_truncated_during_a_run_is_a_file_error_not_a_mapper_failure(
    tmp_path, inputFits, reference, policy
):
    out = tmp_path / "out.fits"
    run(im.FitsSource(inputFits), out)
    before = out.read_bytes()
    source = im.FitsSource(inputFits)  # checked whole when opened, then cut short
    with fits.open(inputFits) as hdul:
        start = hdul.fileinfo(3)["datLoc"]
    os.truncate(inputFits, start + 90 * 4 * 50)  # 50 rows of VARIANCE remain
    config = makeConfig()
    config.onMapperError = policy  # even "mask" must not turn it into masked cells
    with pytest.raises(OSError, match=r"in\.fits: HDU 3 \(VARIANCE,1\).*truncated") as info:
        run(source, out, config=config)
    assert not isinstance(info.value, MapperError)
    assert out.read_bytes() == before


# ------------------------------------------------------------------- resume


def test_resume_after_a_failure_is_bit_identical_and_refuses_another_run(
    tmp_path, inputFits, reference, monkeypatch
):
    out = tmp_path / "out.fits"
    monkeypatch.setenv("IM_TEST_FAIL_FROM_Y", "100")  # bands 0-2 of 37 rows get done
    with pytest.raises(MapperError, match="planted failure"):
        run(im.FitsSource(inputFits), out)
    assert not out.exists()
    assert sideFiles(tmp_path, "out.fits") == [".out.fits.partial", ".out.fits.partial.json"]
    monkeypatch.delenv("IM_TEST_FAIL_FROM_Y")
    # Another config: refused, and the partial output is kept for the right one.
    other = makeConfig()
    other.borderSizeX = 5.0
    with pytest.raises(ValueError, match=r"cannot resume .*out\.fits.*config"):
        run(im.FitsSource(inputFits), out, resume=True, config=other)
    with pytest.raises(ValueError, match="bandHeight: 37 then, 50 now"):
        ooc.runOutOfCore(
            im.ImageMapReduceTask(makeConfig()),
            im.FitsSource(inputFits),
            outputPath=out,
            bandHeight=50,
            resume=True,
        )
    assert sideFiles(tmp_path, "out.fits") == [".out.fits.partial", ".out.fits.partial.json"]
    res = run(im.FitsSource(inputFits), out, resume=True)
    assert res.resumedBands == 3
    assert out.read_bytes() == reference.read_bytes()  # bit-identical, checksums included
    assert sideFiles(tmp_path, "out.fits") == []


def test_zarr_resume_after_a_failure_equals_the_uninterrupted_run(tmp_path, inputFits, monkeypatch):
    pytest.importorskip("zarr")
    whole, out = tmp_path / "whole.zarr", tmp_path / "out.zarr"
    run(im.FitsSource(inputFits), whole)
    monkeypatch.setenv("IM_TEST_FAIL_FROM_Y", "60")
    with pytest.raises(MapperError, match="planted failure"):
        run(im.FitsSource(inputFits), out)
    assert not out.exists() and (tmp_path / ".out.zarr.partial").is_dir()
    monkeypatch.delenv("IM_TEST_FAIL_FROM_Y")
    res = run(im.FitsSource(inputFits), out, resume=True)
    assert 0 < res.resumedBands < res.numBands
    bbox = im.FitsSource(inputFits).getBBox()
    got = ooc.ZarrSource(str(out)).readExposure(bbox)
    want = ooc.ZarrSource(str(whole)).readExposure(bbox)
    for a, b in ((got.image, want.image), (got.mask, want.mask), (got.variance, want.variance)):
        assert a.array.tobytes() == b.array.tobytes()
    assert sideFiles(tmp_path, "out.zarr") == []


KILL_SCRIPT = """
import os, sys, time
sys.path[:0] = [{here!r}, {root!r}]
import imagemapper as im
from imagemapper.io._sinks import BandSink
from test_outputs import run
real = BandSink.commit
def commit(self, n):
    real(self, n)
    if n == 2:
        open({marker!r}, "w").close()   # two bands are on disk: kill me now
        time.sleep(120)
BandSink.commit = commit
run(im.FitsSource({inPath!r}), {outPath!r})
"""


def zarrPlanes(path):
    source = ooc.ZarrSource(str(path))
    exp = source.readExposure(source.getBBox())
    return [exp.image.array.tobytes(), exp.mask.array.tobytes(), exp.variance.array.tobytes()]


@pytest.mark.parametrize(
    "kind, sig",
    [("fits", signal.SIGKILL), ("fits", signal.SIGINT), ("zarr", signal.SIGKILL)],
    ids=["fits-SIGKILL", "fits-SIGINT", "zarr-SIGKILL"],
)
def test_killed_run_leaves_the_old_output_and_resumes_bit_identical(
    tmp_path, inputFits, reference, kind, sig
):
    old = im.Exposure.fromArrays(np.zeros((5, 5), np.float32))
    if kind == "fits":
        out = tmp_path / "out.fits"
        old.writeFits(out)  # a previous output
        contents = Path.read_bytes
    else:
        pytest.importorskip("zarr")
        out = tmp_path / "out.zarr"
        ooc.ZarrSink.fromExposure(str(out), old, bandHeight=5)
        contents = zarrPlanes
        reference = tmp_path / "reference.zarr"
        run(im.FitsSource(inputFits), reference)
    before = contents(out)
    marker = tmp_path / "two-bands-done"
    script = KILL_SCRIPT.format(
        here=str(HERE), root=str(ROOT), marker=str(marker), inPath=str(inputFits), outPath=str(out)
    )
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)], cwd=HERE)
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, "the run ended before it was killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(sig)
        assert proc.wait(timeout=30) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert contents(out) == before  # the old output, intact and complete
    assert f".{out.name}.partial" in sideFiles(tmp_path, out.name)
    res = run(im.FitsSource(inputFits), out, resume=True)
    assert res.resumedBands == 2
    assert contents(out) == contents(reference)  # FITS: byte for byte, checksums included
    assert sideFiles(tmp_path, out.name) == []


def test_resume_without_a_partial_output_runs_from_the_start(tmp_path, inputFits, reference):
    out = tmp_path / "out.fits"
    res = run(im.FitsSource(inputFits), out, resume=True)
    assert res.resumedBands == 0
    assert out.read_bytes() == reference.read_bytes()


# ---------------------------------------------------------------- disk full

DISK_FULL_SCRIPT = """
import resource, signal, sys
sys.path[:0] = [{here!r}, {root!r}]
import numpy as np, imagemapper as im
from test_outputs import run
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full disk: writes fail (EFBIG)
resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
try:
    if sys.argv[1] == "sink":
        run(im.FitsSource({inPath!r}), {outPath!r})
    else:
        im.Exposure.fromArrays(np.ones((300, 300), np.float32)).writeFits({outPath!r})
except OSError as err:
    print(err)
    sys.exit(3)
print("wrote it")
"""


@contextlib.contextmanager
def smallTmpfs(directory: Path):
    """A 2 MiB tmpfs mounted at ``directory`` where this process may mount one
    (root in a container that allows it), else None."""
    mounted = False
    if hasattr(os, "geteuid") and os.geteuid() == 0 and shutil.which("mount"):
        directory.mkdir()
        proc = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(directory)],
            capture_output=True,
            check=False,
        )
        mounted = proc.returncode == 0 and os.path.ismount(directory)
    try:
        yield directory if mounted else None
    finally:
        if mounted:
            subprocess.run(["umount", str(directory)], check=True)


@pytest.mark.parametrize("writer", ["sink", "writeFits"])
def test_disk_full_keeps_the_old_output_and_names_the_file(tmp_path, writer):
    """A real full disk (a small tmpfs) where one can be mounted, else writes
    refused by a file-size limit (RLIMIT_FSIZE) in a subprocess."""
    inPath = tmp_path / "in.fits"
    makeExposure(w=150, h=150).writeFits(inPath)  # 270 kB of planes
    old = im.Exposure.fromArrays(np.full((5, 5), 3, np.float32))
    with smallTmpfs(tmp_path / "disk") as disk:
        folder = disk or tmp_path
        out = folder / "full.fits"
        old.writeFits(out)
        before = out.read_bytes()
        if disk is not None:
            free = shutil.disk_usage(disk).free
            (disk / "filler").write_bytes(bytes(max(0, free - 100_000)))  # 100 kB left
            with pytest.raises(OSError) as info:
                if writer == "sink":
                    run(im.FitsSource(inPath), out)
                else:
                    im.Exposure.fromArrays(np.ones((300, 300), np.float32)).writeFits(out)
            message = str(info.value)
        else:
            script = DISK_FULL_SCRIPT.format(
                here=str(HERE), root=str(ROOT), inPath=str(inPath), outPath=str(out)
            )
            proc = subprocess.run(
                [sys.executable, "-c", textwrap.dedent(script), writer],
                capture_output=True,
                text=True,
                timeout=120,
                cwd=HERE,
                check=False,
            )
            assert proc.returncode == 3, (proc.stdout, proc.stderr)  # an OSError, not a crash
            message = proc.stdout
        assert f"{out}: cannot " in message, message  # names the file
        assert out.read_bytes() == before
        assert im.Exposure.readFits(out).image.array.tobytes() == old.image.array.tobytes()
        assert sideFiles(folder, "full.fits") == []


# ---------------------------------------------------------------------- CLI


def cli(argv, capsys):
    from imagemapper import cli as imcli

    code = imcli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_out_of_core_equals_in_memory_and_resumes_after_a_failure(
    tmp_path, inputFits, capsys, monkeypatch
):
    common = ["--mapper", "output_mappers_for_tests:FailBelowMapper", "--reduce", "average"]
    common += ["--cell", 30, "--step", 20, "--border", 4, "--backend", "serial"]
    code, _, err = cli(["run", inputFits, "-o", tmp_path / "mem.fits", *common], capsys)
    assert code == 0, err
    whole = tmp_path / "whole.fits"
    code, out, err = cli(
        ["run", inputFits, "-o", whole, "--out-of-core", "--band-height", 37, *common], capsys
    )
    assert code == 0, err
    assert "out of core" in out and "in 6 bands" in out
    mem, ooc_ = im.Exposure.readFits(tmp_path / "mem.fits"), im.Exposure.readFits(whole)
    np.testing.assert_array_equal(ooc_.image.array, mem.image.array)
    np.testing.assert_array_equal(ooc_.mask.array, mem.mask.array)
    np.testing.assert_array_equal(ooc_.variance.array, mem.variance.array)
    # A run that fails half-way: one line, the output untouched, a hint to resume.
    out = tmp_path / "out.fits"
    monkeypatch.setenv("IM_TEST_FAIL_FROM_Y", "100")
    argv = ["run", inputFits, "-o", out, "--band-height", 37, *common]
    code, _, err = cli(argv, capsys)
    assert code == 1 and "planted failure" in err and "--resume" in err, err
    assert len(err.strip().splitlines()) == 1 and not out.exists()
    monkeypatch.delenv("IM_TEST_FAIL_FROM_Y")
    code, text, err = cli([*argv, "--border", 5, "--resume"], capsys)  # another config
    assert code == 1 and "cannot resume" in err and "config" in err, err
    code, text, err = cli([*argv, "--resume"], capsys)
    assert code == 0, err
    assert "resumed after 3 bands done" in text
    assert pixels(out) == pixels(whole)
    header = im.Exposure.readFits(out).metadata  # provenance, as in-memory outputs
    assert header["IM_MAPPR"] == "output_mappers_for_tests.FailBelowMapper"
    assert header["IM_INPUT"] == inputFits.name  # (the provenance keeps the base name)
    code, _, err = cli(["run", inputFits, "-o", inputFits, "--overwrite", *common], capsys)
    assert code == 1 and "is the input" in err


def test_cli_table_output_is_published_atomically(tmp_path, inputFits, capsys, monkeypatch):
    from astropy.table import Table

    table = tmp_path / "stats.ecsv"
    argv = ["run", inputFits, "-o", table, "--mapper", "CellStatisticsMapper", "--cell", 50]
    code, _, err = cli([*argv, "--reduce", "none"], capsys)
    assert code == 0, err
    before = table.read_bytes()
    real = Table.write

    def halfWrite(self, path, **kwargs):  # writes part of the file, then fails
        Path(path).write_text("# %ECSV 1.0\n# truncated")
        raise OSError("planted write failure")

    monkeypatch.setattr(Table, "write", halfWrite)
    code, _, err = cli([*argv, "--reduce", "none", "--overwrite"], capsys)
    assert code == 1 and "planted write failure" in err, err
    assert table.read_bytes() == before
    assert sideFiles(tmp_path, "stats.ecsv") == []
    monkeypatch.setattr(Table, "write", real)
