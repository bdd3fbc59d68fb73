"""Shared fixtures for the test suite.

The suite is laid out by area (``core/``, ``image/``, ``mapreduce/``,
``execution/``, ``io/``, ``cli/``, ``lsst/``, ``docs/``); the modules that
tests hand to worker processes by name (``mappers_for_tests``,
``lsst_mappers_for_tests``) live here, in the suite's root, which pytest puts
on ``sys.path`` because this file is here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

#: The suite's root: scripts run in subprocesses put it on their ``sys.path``
#: to import the test mappers.
TESTS_DIR = Path(__file__).resolve().parent


@pytest.fixture
def testsDir() -> str:
    """The suite's root folder, for subprocess scripts that import the test mappers."""
    return str(TESTS_DIR)
