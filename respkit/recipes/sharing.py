"""Which runs may share a training stage: those for which everything the stage could depend on is equal.

A stage depends on the config fields read before it was declared (by the data, the model and the stage
itself), on the data and on the seed. :class:`ReadRecorder` is a view of a config that notes every field
read through it; :func:`stage_key` digests the fields noted so far. No list of fields is kept by hand, so
a field added to a config is in the key of every stage that reads it, and in no other.

Reading too much only costs sharing; reading too little cannot happen, since a stage's code sees the config
through the recorder only. Properties and methods of the config run on the recorder, so the fields they
read are noted too.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
from typing import Any

from respkit.recipes.base import Recipe
from respkit.train.config import config_hash


class ReadRecorder:
    """A read-only view of the frozen dataclass ``config`` that notes each field read (``recorder.read``)."""

    def __init__(self, config: Any) -> None:
        object.__setattr__(self, "_config", config)
        object.__setattr__(self, "_fields", {f.name for f in dataclasses.fields(config)})
        object.__setattr__(self, "read", {})

    def __getattr__(self, name: str) -> Any:
        attribute = inspect.getattr_static(type(self._config), name, None)
        if isinstance(attribute, property) and attribute.fget is not None:
            return attribute.fget(self)  # the fields the property reads are noted
        if isinstance(attribute, types.FunctionType):
            return types.MethodType(attribute, self)  # so are those a method reads
        value = getattr(self._config, name)
        if name in self._fields:
            self.read[name] = value
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")

    def __repr__(self) -> str:
        return f"ReadRecorder({self._config!r})"


def stage_key(recorder: ReadRecorder, stage: str, recipe: type, data: Any, seed: int) -> str:
    """The digest of everything a stage declared now depends on: the fields read so far, the stage's name,
    the recipe's code (:func:`recipe_code`), the data and the seed."""
    fields = {name: _plain(value) for name, value in recorder.read.items()}
    identity = {"stage": stage, "code": recipe_code(recipe), "data": data.describe(), "seed": seed}
    return config_hash({**identity, "fields": fields})


def recipe_code(recipe: type) -> list[str]:
    """The classes whose code and settings a recipe runs: every class of its lineage that defines a method or
    a class attribute other than its ``Config``. A variant that only sets its ``Config`` runs its parent's
    code and shares with it; one that overrides a method (a loss, the data) or a setting does not."""
    own = [c for c in recipe.__mro__ if any(not k.startswith("__") and k != "Config" for k in vars(c))]
    return sorted(f"{c.__module__}.{c.__qualname__}" for c in own if c not in (Recipe, object))


def _plain(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) and not isinstance(value, type) else value
