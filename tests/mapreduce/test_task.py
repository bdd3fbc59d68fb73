"""Tests for the minimal task framework (Task, Struct, TaskMetadata, timeMethod)."""

from __future__ import annotations

import gc
import logging
import pickle
import weakref

import lsst.pex.config as pexConfig
import numpy as np
import pytest
from lsst.utils.logging import LsstLogAdapter
from lsst.utils.timer import logInfo

from imagemapper import Struct, Task, TaskMetadata, timeMethod

# ---------------------------------------------------------------------------
# Task hierarchy used by the tests (module level so that it pickles).
# ---------------------------------------------------------------------------


class Sub2Config(pexConfig.Config):
    x = pexConfig.Field[int](doc="a value", default=3, check=lambda v: v >= 0)


class RangeConfig(pexConfig.Config):
    lo = pexConfig.Field[int](doc="lower bound", default=0)
    hi = pexConfig.Field[int](doc="upper bound", default=10)

    def validate(self):
        super().validate()
        if self.lo > self.hi:
            raise ValueError(f"lo={self.lo} > hi={self.hi}")


class RangeTask(Task):
    ConfigClass = RangeConfig
    _DefaultName = "range"


class Sub2Task(Task):
    ConfigClass = Sub2Config
    _DefaultName = "sub2"

    @timeMethod
    def run(self, value: int) -> Struct:
        return Struct(result=value * self.config.x)


class SubConfig(pexConfig.Config):
    sub2 = Sub2Task.makeField("innermost subtask")
    scale = pexConfig.Field[float](doc="a scale", default=1.5)


class SubTask(Task):
    ConfigClass = SubConfig
    _DefaultName = "sub"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.makeSubtask("sub2")


class TopConfig(pexConfig.Config):
    sub = SubTask.makeField("middle subtask")
    label = pexConfig.Field[str](doc="a label", default="abc")
    notATask = pexConfig.Field[int](doc="plain field", default=0)


class TopTask(Task):
    ConfigClass = TopConfig
    _DefaultName = "top"

    def __init__(self, config=None, **kwargs):
        super().__init__(config, **kwargs)
        self.makeSubtask("sub")

    @timeMethod
    def run(self, value: int) -> Struct:
        inner = self.sub.sub2.run(value)
        return Struct(result=inner.result + 1)


class NoNameTask(Task):
    ConfigClass = pexConfig.Config


subRegistry = pexConfig.makeRegistry(doc="registry of subtasks")
subRegistry.register("s2", Sub2Task)


class RegistryParentConfig(pexConfig.Config):
    child = subRegistry.makeField(doc="registry subtask", default="s2")


class RegistryParentTask(Task):
    ConfigClass = RegistryParentConfig
    _DefaultName = "regParent"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.makeSubtask("child")


# ---------------------------------------------------------------------------
# Struct
# ---------------------------------------------------------------------------


def test_struct_attributes_and_getdict_is_copy():
    value = [1, 2]
    s = Struct(a=value, b="x")
    assert s.a is value
    assert s.b == "x"
    d = s.getDict()
    assert d == {"a": [1, 2], "b": "x"}
    d["c"] = 3
    del d["a"]
    assert not hasattr(s, "c")
    assert s.a is value
    # Shallow: values are the same objects.
    assert s.getDict()["a"] is value


def test_struct_merge_items():
    a = Struct(x=1)
    other = Struct(y=[2], z=3, w=4)
    a.mergeItems(other, "y", "z")
    assert a.getDict() == {"x": 1, "y": [2], "z": 3}
    assert a.y is other.y
    assert not hasattr(a, "w")

    with pytest.raises(RuntimeError, match="'x' already exists"):
        a.mergeItems(Struct(w=5, x=9), "w", "x")
    # Items before the conflict were merged, the conflicting one unchanged.
    assert a.w == 5
    assert a.x == 1
    with pytest.raises(AttributeError):
        a.mergeItems(other, "nonexistent")


def test_struct_copy_items():
    a = Struct(x=[1], y=[2], z=5)
    b = a.copyItems("x")
    assert b == a
    assert b is not a
    assert b.x == [1] and b.x is not a.x
    assert b.y is a.y
    b.x.append(10)
    assert a.x == [1]
    b.y.append(20)
    assert a.y == [2, 20]
    plain = a.copy()
    assert plain == a and plain.x is a.x
    with pytest.raises(AttributeError, match="'missing'"):
        a.copyItems("missing")


def test_struct_eq_len_repr():
    assert Struct(a=1, b=2) == Struct(b=2, a=1)
    assert Struct(a=1, b=2) != Struct(a=1, b=3)
    assert Struct(a=1) != Struct(a=1, b=2)
    assert Struct(a=1) != {"a": 1}
    assert len(Struct()) == 0
    assert len(Struct(a=1, b=2, c=3)) == 3
    assert repr(Struct(a=1, b=2)) == "Struct(a=1; b=2)"
    assert repr(Struct()) == "Struct()"


def test_struct_invalid_names():
    with pytest.raises(RuntimeError, match="invalid"):
        Struct(__x=1)
    s = Struct(a=1)
    with pytest.raises(RuntimeError, match="invalid"):
        setattr(s, "__hidden", 2)
    # Names clashing with Struct methods are refused in the constructor.
    with pytest.raises(RuntimeError, match="already exists"):
        Struct(getDict=1)
    # Ordinary attribute assignment replaces values.
    s.a = 5
    s.b = 6
    assert s.getDict() == {"a": 5, "b": 6}


def test_struct_pickle_round_trip():
    s = Struct(a=1, b=[1.5, "x"], c=Struct(d=np.arange(3)))
    t = pickle.loads(pickle.dumps(s))
    assert t is not s
    assert t.a == 1 and t.b == [1.5, "x"]
    assert isinstance(t.c, Struct)
    np.testing.assert_array_equal(t.c.d, [0, 1, 2])
    assert len(t) == 3
    assert pickle.loads(pickle.dumps(Struct(a=1, b="q"))) == Struct(a=1, b="q")


# ---------------------------------------------------------------------------
# TaskMetadata
# ---------------------------------------------------------------------------


def test_metadata_dotted_set_get():
    md = TaskMetadata()
    md["a.b"] = 1
    md["a.c.d"] = "deep"
    md["top"] = 2.5
    assert isinstance(md["a"], TaskMetadata)
    assert md["a"]["b"] == 1
    assert md["a.b"] == 1
    assert md["a"]["c"]["d"] == "deep"
    assert md["a.c"]["d"] == "deep"
    assert md["top"] == 2.5
    assert len(md) == 2
    assert md.keys() == ("a", "top")
    assert list(md) == ["a", "top"]
    # Dotted assignment through a scalar replaces it by nested metadata.
    md["top.x"] = True
    assert md["top.x"] is True
    assert isinstance(md["top"], TaskMetadata)


def test_metadata_add_and_arrays():
    md = TaskMetadata()
    md.add("n", 1)
    assert md.getArray("n") == [1]
    assert md["n"] == 1
    md.add("n", 2)
    md.add("n", 3)
    assert md.getArray("n") == [1, 2, 3]
    # Reading an array as a scalar gives its last element.
    assert md["n"] == 3
    assert md.getScalar("n") == 3
    assert md.get("n") == 3
    # add() to an existing scalar converts it to an array.
    md["s"] = "first"
    md.add("s", "second")
    assert md.getArray("s") == ["first", "second"]
    # add() with a dotted key creates the nested metadata.
    md.add("x.y", 4.0)
    md.add("x.y", [5.0, 6.0])
    assert md["x"].getArray("y") == [4.0, 5.0, 6.0]
    # Lists are stored as arrays; getArray of a scalar wraps it.
    md["arr"] = (7, 8)
    assert md.getArray("arr") == [7, 8]
    assert md["arr"] == 8
    md["scalar"] = 9
    assert md.getArray("scalar") == [9]
    # getArray returns a copy.
    md.getArray("arr").append(99)
    assert md.getArray("arr") == [7, 8]
    with pytest.raises(TypeError, match="'x'"):
        md.add("x", 1)


def test_metadata_names_contains_and_param_names():
    md = TaskMetadata()
    md["a"] = 1
    md["b.c"] = 2
    md["b.d.e"] = [3, 4]
    assert md.names() == {"a", "b", "b.c", "b.d", "b.d.e"}
    assert md.paramNames(topLevelOnly=True) == {"a"}
    assert md.paramNames(topLevelOnly=False) == {"a", "b.c", "b.d.e"}
    assert "a" in md
    assert "b.d" in md
    assert "b.d.e" in md
    assert "b.x" not in md
    assert "a.b" not in md
    assert "z" not in md
    assert 3 not in md


def test_metadata_missing_keys_and_bad_values():
    md = TaskMetadata()
    md["a.b"] = 1
    with pytest.raises(KeyError, match="'missing'"):
        md["missing"]
    with pytest.raises(KeyError, match=r"'a\.zzz'"):
        md["a.zzz"]
    with pytest.raises(KeyError, match=r"'a\.b\.c'"):
        md.getArray("a.b.c")
    with pytest.raises(KeyError, match="'nope'"):
        md.getScalar("nope")
    assert md.get("missing") is None
    assert md.get("missing", 42) == 42
    with pytest.raises(TypeError, match="'bad'"):
        md["bad"] = None
    with pytest.raises(TypeError, match="'obj'"):
        md["obj"] = object()
    with pytest.raises(TypeError, match="'lst'"):
        md["lst"] = [1, None]
    with pytest.raises(TypeError, match="'nested'"):
        md.add("nested", {"x": 1})
    assert "bad" not in md and "obj" not in md and "lst" not in md
    with pytest.raises(KeyError):
        md[1] = 2
    with pytest.raises(KeyError):
        md["a..b"] = 2


def test_metadata_numpy_values_are_converted():
    md = TaskMetadata()
    md["i"] = np.int64(3)
    md["f"] = np.float32(0.5)
    md["b"] = np.bool_(True)
    md["arr"] = np.array([1, 2, 3], dtype=np.int16)
    assert type(md["i"]) is int and md["i"] == 3
    assert type(md["f"]) is float and md["f"] == 0.5
    assert type(md["b"]) is bool and md["b"] is True
    assert md.getArray("arr") == [1, 2, 3]
    assert all(type(v) is int for v in md.getArray("arr"))


def test_metadata_dict_conversion_equality_and_delete():
    md = TaskMetadata()
    md["cfg"] = {"a": 1, "b": {"c": "x"}}
    assert isinstance(md["cfg"], TaskMetadata)
    assert md["cfg.b.c"] == "x"
    md.add("times", 1.0)
    md.add("times", 2.0)
    d = md.to_dict()
    assert d == {"cfg": {"a": 1, "b": {"c": "x"}}, "times": [1.0, 2.0]}
    again = TaskMetadata.from_dict(d)
    assert again == md
    assert TaskMetadata.from_metadata(md).to_dict() == d
    again["times"] = 2.0  # scalar differs from array [1.0, 2.0]
    assert again != md
    assert dict(md.items())["times"] == [1.0, 2.0]
    del md["cfg.b"]
    assert "cfg.b" not in md and md["cfg.a"] == 1
    with pytest.raises(KeyError, match=r"'cfg\.b'"):
        del md["cfg.b"]
    assert repr(TaskMetadata({"a": 1})) == "TaskMetadata({'a': 1})"


def test_metadata_pickle_round_trip():
    md = TaskMetadata()
    md["a.b.c"] = 1
    md.add("arr", 1.5)
    md.add("arr", 2.5)
    md["s"] = "text"
    md2 = pickle.loads(pickle.dumps(md))
    assert md2 == md
    assert md2 is not md
    assert md2.getArray("arr") == [1.5, 2.5]
    assert md2["a.b.c"] == 1
    md2.add("arr", 3.5)
    assert md.getArray("arr") == [1.5, 2.5]


def test_metadata_works_with_lsst_utils_log_info():
    md = TaskMetadata()
    logInfo(obj=None, prefix="blockStart", metadata=md)
    logInfo(obj=None, prefix="blockStart", metadata=md)
    assert md["__version__"] == 1
    assert isinstance(md["nodeName"], str)
    assert len(md.getArray("blockStartCpuTime")) == 2
    assert len(md.getArray("blockStartUtc")) == 2
    assert isinstance(md["blockStartMaxResidentSetSize"], int)


# ---------------------------------------------------------------------------
# Task
# ---------------------------------------------------------------------------


def test_task_hierarchy_names_and_task_dict():
    top = TopTask()
    sub = top.sub
    sub2 = top.sub.sub2
    assert isinstance(sub, SubTask) and isinstance(sub2, Sub2Task)
    assert [t.getName() for t in (top, sub, sub2)] == ["top", "sub", "sub2"]
    assert [t.getFullName() for t in (top, sub, sub2)] == ["top", "top.sub", "top.sub.sub2"]
    taskDict = top.getTaskDict()
    assert set(taskDict) == {"top", "top.sub", "top.sub.sub2"}
    assert all(isinstance(ref, weakref.ref) for ref in taskDict.values())
    assert taskDict["top"]() is top
    assert taskDict["top.sub"]() is sub
    assert taskDict["top.sub.sub2"]() is sub2
    # The dict is shared by the whole hierarchy, but getTaskDict copies it.
    assert sub2.getTaskDict() == taskDict
    taskDict.clear()
    assert len(top.getTaskDict()) == 3
    assert sub._parentTask is top
    assert sub2._parentTask is sub
    assert top._parentTask is None


def test_task_full_metadata_and_empty_metadata():
    top = TopTask()
    top.metadata["topItem"] = 1
    top.sub.metadata["subItem"] = "two"
    top.sub.sub2.metadata.add("sub2Item", 3.0)
    full = top.getFullMetadata()
    assert set(full.keys()) == {"top", "top:sub", "top:sub:sub2"}
    assert full["top.topItem"] == 1
    assert full["top:sub.subItem"] == "two"
    assert full["top:sub:sub2.sub2Item"] == 3.0
    assert full.paramNames(topLevelOnly=False) == {
        "top.topItem",
        "top:sub.subItem",
        "top:sub:sub2.sub2Item",
    }
    # Same result from a subtask.
    assert top.sub.sub2.getFullMetadata() == full

    top.sub.emptyMetadata()
    for task in (top, top.sub, top.sub.sub2):
        assert len(task.metadata) == 0
    assert top.getFullMetadata().names() == {"top", "top:sub", "top:sub:sub2"}


def test_task_config_defaults_and_sharing():
    top = TopTask()
    assert isinstance(top.config, TopConfig)
    # A ConfigurableField attribute is a proxy; the task holds its Config.
    assert top.sub.config is top.config.sub.value
    assert top.sub.sub2.config is top.config.sub.sub2.value
    assert top.sub.sub2.config is top.sub.config.sub2.value
    assert top.sub.sub2.config.x == 3
    top.config.sub.sub2.x = 7
    assert top.sub.sub2.config.x == 7
    assert top.sub.sub2.run(2).result == 14

    config = TopConfig()
    config.sub.sub2.x = 5
    top2 = TopTask(config)
    assert top2.config is config
    assert top2.sub.sub2.config.x == 5


def test_task_config_is_validated():
    config = RangeConfig()
    config.lo = 5
    config.hi = 1
    with pytest.raises(ValueError, match="lo=5 > hi=1"):
        RangeTask(config=config)
    config.hi = 6
    assert RangeTask(config=config).config.hi == 6


def test_make_field_returns_configurable_field():
    field = Sub2Task.makeField("some doc")
    assert isinstance(field, pexConfig.ConfigurableField)
    assert field.target is Sub2Task
    assert field.doc == "some doc"
    assert isinstance(TopConfig().sub, pexConfig.ConfigurableInstance)


def test_make_subtask_errors():
    top = TopTask()
    with pytest.raises(KeyError, match=r"^\"top's config has no field 'nonexistent'\"$"):
        top.makeSubtask("nonexistent")
    with pytest.raises(TypeError, match="notATask"):
        top.makeSubtask("notATask")


def test_make_subtask_from_registry_field():
    parent = RegistryParentTask()
    assert isinstance(parent.child, Sub2Task)
    assert parent.child.getFullName() == "regParent.child"
    assert parent.child.config is parent.config.child["s2"]


def test_name_rules():
    top = TopTask()
    with pytest.raises(RuntimeError, match="name is required for a subtask"):
        Sub2Task(parentTask=top.sub)
    with pytest.raises(RuntimeError, match="_DefaultName"):
        NoNameTask()
    named = NoNameTask(name="explicit")
    assert named.getName() == "explicit"
    assert named.getFullName() == "explicit"
    renamed = TopTask(name="other")
    assert renamed.sub.sub2.getFullName() == "other.sub.sub2"
    # A manually built subtask with an explicit config.
    config = Sub2Config()
    manual = Sub2Task(config=config, name="extra", parentTask=top)
    assert manual.config is config
    assert manual.getFullName() == "top.extra"
    assert "top.extra" in top.getTaskDict()
    # A manually built subtask without a config takes the parent's field.
    direct = Sub2Task(name="sub2", parentTask=top.sub)
    assert direct.config is top.config.sub.sub2.value
    assert isinstance(direct.config, Sub2Config)


def test_logger_names():
    top = TopTask()
    assert isinstance(top.log, LsstLogAdapter)
    assert top.log.name == "top"
    assert top.sub.log.name == "top.sub"
    assert top.sub.sub2.log.name == "top.sub.sub2"
    prefixed = TopTask(log=logging.getLogger("pipeline"))
    assert prefixed.log.name == "pipeline.top"
    assert prefixed.sub.sub2.log.name == "pipeline.top.sub.sub2"
    prefixed2 = TopTask(log=prefixed.log)
    assert prefixed2.log.name == "pipeline.top.top"


def test_timer_context_manager_logs_and_records(caplog):
    top = TopTask()
    caplog.set_level(logging.DEBUG, logger="timer.top.sub")
    with top.sub.timer("block"):
        pass
    md = top.sub.metadata
    for item in ("Utc", "CpuTime", "UserTime", "MaxResidentSetSize"):
        assert len(md.getArray("blockStart" + item)) == 1
        assert len(md.getArray("blockEnd" + item)) == 1
    assert md["blockEndCpuTime"] >= md["blockStartCpuTime"]
    assert len(top.metadata) == 0
    records = [r for r in caplog.records if r.name == "timer.top.sub"]
    assert len(records) == 2
    assert records[0].levelno == logging.DEBUG
    assert "blockStartCpuTime=" in records[0].getMessage()
    assert "blockEndCpuTime=" in records[1].getMessage()
    # The log records point at the ``with`` statement in this file.
    assert all(r.filename == "test_task.py" for r in records)


def test_timer_records_end_on_exception_and_uses_log_level(caplog):
    top = TopTask()
    caplog.set_level(logging.INFO, logger="timer.top")
    with pytest.raises(ValueError, match="boom"), top.timer("failing", logLevel=logging.INFO):
        raise ValueError("boom")
    assert "failingEndCpuTime" in top.metadata
    levels = [r.levelno for r in caplog.records if r.name == "timer.top"]
    assert levels == [logging.INFO, logging.INFO]


def test_time_method_records_metadata():
    top = TopTask()
    top.config.sub.sub2.x = 4
    assert top.run(5).result == 21
    assert top.run(1).result == 5
    assert len(top.metadata.getArray("runStartCpuTime")) == 2
    assert len(top.metadata.getArray("runEndCpuTime")) == 2
    assert len(top.metadata.getArray("runStartUtc")) == 2
    assert top.metadata["runEndCpuTime"] >= top.metadata["runStartCpuTime"]
    assert top.metadata["__version__"] == 1
    sub2md = top.sub.sub2.metadata
    assert len(sub2md.getArray("runEndMaxResidentSetSize")) == 2
    full = top.getFullMetadata()
    assert "top.runEndCpuTime" in full
    assert "top:sub:sub2.runStartCpuTime" in full
    assert "top:sub.runStartCpuTime" not in full


def test_pickle_task_with_subtasks():
    config = TopConfig()
    config.label = "pickled"
    config.sub.scale = 2.5
    config.sub.sub2.x = 11
    top = TopTask(config, name="renamed")
    top.metadata["x"] = 1
    clone = pickle.loads(pickle.dumps(top))
    assert clone is not top
    assert type(clone) is TopTask
    assert clone.getFullName() == "renamed"
    assert clone.config.label == "pickled"
    assert clone.config.sub.scale == 2.5
    assert clone.sub.sub2.config.x == 11
    assert clone.sub.sub2.config is clone.config.sub.sub2.value
    assert clone.sub._parentTask is clone
    assert set(clone.getTaskDict()) == {"renamed", "renamed.sub", "renamed.sub.sub2"}
    assert clone.sub.sub2.log.name == "renamed.sub.sub2"
    assert clone.run(2).result == 23
    # Metadata is not carried over.
    assert "x" not in clone.metadata


def test_pickle_subtask_and_log_prefix():
    top = TopTask(log=logging.getLogger("pfx"))
    top.config.sub.sub2.x = 6
    sub2 = pickle.loads(pickle.dumps(top.sub.sub2))
    assert type(sub2) is Sub2Task
    assert sub2.getFullName() == "top.sub.sub2"
    assert sub2.config.x == 6
    assert sub2.log.name == "pfx.top.sub.sub2"
    assert sub2.run(2).result == 12
    # Pickling the parent and a subtask together keeps them connected.
    top2, sub2b = pickle.loads(pickle.dumps((top, top.sub.sub2)))
    assert sub2b is top2.sub.sub2
    assert sub2b._parentTask is top2.sub
    assert top2.log.name == "pfx.top"


def test_subtask_holds_parent_weakly():
    top = TopTask()
    sub = top.sub
    del top
    gc.collect()
    assert sub._parentTask is None
    # Dead entries are skipped.
    sub.emptyMetadata()
    assert set(sub.getFullMetadata().keys()) <= {"top:sub", "top:sub:sub2"}
    assert "top:sub" in sub.getFullMetadata()
