"""Seeded random numbers and random images (``lsst.afw.math.Random``,
``randomGaussianImage`` and the other ``random*Image`` functions)."""

from __future__ import annotations

import enum
import numbers
from typing import Any

import numpy as np

from ....image import Image
from ..exceptions import InvalidParameterError


class Random:
    """A seeded random number generator (``lsst.afw.math.Random``).

    ``Random()``, ``Random(seed)``, ``Random("MT19937", seed)`` or
    ``Random(Random.MT19937, seed)``: a Mersenne Twister (numpy's
    ``MT19937`` bit generator) seeded with ``seed`` (default 1). The same
    seed gives the same numbers; they are not the GSL stream ``afw`` uses.
    """

    class Algorithm(enum.Enum):
        """The generator algorithms; only ``MT19937`` is available."""

        MT19937 = "MT19937"

    MT19937 = Algorithm.MT19937

    def __init__(self, algorithm: Any = Algorithm.MT19937, seed: int = 1) -> None:
        if isinstance(algorithm, numbers.Integral) and not isinstance(algorithm, bool):
            algorithm, seed = Random.Algorithm.MT19937, int(algorithm)
        if isinstance(algorithm, str):
            try:
                algorithm = Random.Algorithm(algorithm.upper())
            except ValueError:
                raise InvalidParameterError(
                    f"unknown random algorithm {algorithm!r}; available: MT19937"
                ) from None
        if not isinstance(algorithm, Random.Algorithm):
            raise InvalidParameterError(f"unknown random algorithm {algorithm!r}")
        if int(seed) < 0:
            raise InvalidParameterError(f"the seed must be >= 0, not {seed!r}")
        self._algorithm = algorithm
        self._seed = int(seed)
        self._rng = np.random.Generator(np.random.MT19937(self._seed))

    def getAlgorithm(self) -> Random.Algorithm:
        """Return the algorithm."""
        return self._algorithm

    def getAlgorithmName(self) -> str:
        """Return the algorithm's name."""
        return self._algorithm.value

    def getSeed(self) -> int:
        """Return the seed."""
        return self._seed

    def deepCopy(self) -> Random:
        """Return an independent generator in the same state."""
        other = Random(self._algorithm, self._seed)
        other._rng.bit_generator.state = self._rng.bit_generator.state
        return other

    def uniform(self) -> float:
        """A uniform deviate in [0, 1)."""
        return float(self._rng.random())

    def uniformPos(self) -> float:
        """A uniform deviate in (0, 1)."""
        while True:
            value = float(self._rng.random())
            if value > 0:
                return value

    def uniformInt(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        return int(self._rng.integers(0, n))

    def flat(self, a: float, b: float) -> float:
        """A uniform deviate in [a, b)."""
        return float(self._rng.uniform(a, b))

    def gaussian(self) -> float:
        """A standard normal deviate."""
        return float(self._rng.standard_normal())

    def chisq(self, nu: float) -> float:
        """A chi-squared deviate with ``nu`` degrees of freedom."""
        return float(self._rng.chisquare(nu))

    def poisson(self, mu: float) -> float:
        """A Poisson deviate of mean ``mu``."""
        return float(self._rng.poisson(mu))

    def _fill(self, image: Image, values: np.ndarray) -> None:
        if not isinstance(image, Image):
            raise TypeError(f"expected an Image, not {type(image).__name__}")
        image.getArray()[...] = values


def randomGaussianImage(image: Image, rand: Random) -> None:
    """Fill ``image`` with standard normal deviates from ``rand``."""
    rand._fill(image, rand._rng.standard_normal(image.getArray().shape))


def randomUniformImage(image: Image, rand: Random) -> None:
    """Fill ``image`` with uniform deviates in [0, 1) from ``rand``."""
    rand._fill(image, rand._rng.random(image.getArray().shape))


def randomUniformPosImage(image: Image, rand: Random) -> None:
    """Fill ``image`` with uniform deviates in (0, 1) from ``rand``."""
    shape = image.getArray().shape
    values = rand._rng.random(shape)
    while not values.all():
        zero = values == 0
        values[zero] = rand._rng.random(int(zero.sum()))
    rand._fill(image, values)


def randomFlatImage(image: Image, rand: Random, a: float, b: float) -> None:
    """Fill ``image`` with uniform deviates in [a, b) from ``rand``."""
    rand._fill(image, rand._rng.uniform(a, b, image.getArray().shape))


def randomPoissonImage(image: Image, rand: Random, mu: float) -> None:
    """Fill ``image`` with Poisson deviates of mean ``mu`` from ``rand``."""
    rand._fill(image, rand._rng.poisson(mu, image.getArray().shape))
