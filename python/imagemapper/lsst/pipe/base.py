"""``imagemapper.lsst.pipe.base``: imagemapper's ``Task``, ``Struct``,
``TaskMetadata`` and ``timeMethod``."""

from __future__ import annotations

__all__ = ["Struct", "Task", "TaskMetadata", "timeMethod"]

from ...task import Struct, Task, TaskMetadata, timeMethod
