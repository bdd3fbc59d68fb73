"""The task layer: `Task`, `Struct`, `TaskMetadata` and `timeMethod`.

A minimal re-creation of the part of LSST's ``pipe_base`` task framework that
imagemapper needs, without depending on ``lsst-pipe-base``: configuration is
the real `lsst.pex.config`, logging and timing are `lsst.utils`. The modules
mirror ``pipe_base``'s own split (``struct``, ``_task_metadata``, ``task``).
"""

from __future__ import annotations

__all__ = ["Struct", "Task", "TaskMetadata", "replicateTask", "timeMethod"]

from ._metadata import TaskMetadata
from ._struct import Struct
from ._task import Task, replicateTask, timeMethod
