"""``imagemapper.lsst.ip.diffim.imageMapReduce``: imagemapper's map-reduce task.

The six classes of ``lsst.ip.diffim.imageMapReduce`` are imagemapper's own;
``ImageMapperSubtask`` / ``ImageMapperSubtaskConfig`` and
``ImageReducerSubtask`` / ``ImageReducerSubtaskConfig`` are the names they had
before LSST renamed them, still used by older client code.
"""

from __future__ import annotations

__all__ = [
    "ImageMapReduceConfig",
    "ImageMapReduceTask",
    "ImageMapper",
    "ImageMapperConfig",
    "ImageMapperSubtask",
    "ImageMapperSubtaskConfig",
    "ImageReducer",
    "ImageReducerConfig",
    "ImageReducerSubtask",
    "ImageReducerSubtaskConfig",
]

from ....mapreduce._mapper import ImageMapper, ImageMapperConfig
from ....mapreduce._reducer import ImageReducer, ImageReducerConfig
from ....mapreduce._task import ImageMapReduceConfig, ImageMapReduceTask

ImageMapperSubtask = ImageMapper
ImageMapperSubtaskConfig = ImageMapperConfig
ImageReducerSubtask = ImageReducer
ImageReducerSubtaskConfig = ImageReducerConfig
