"""The recipe registry: each chapter's experiments, runnable by name.

A recipe is a subclass of :class:`respkit.recipes.base.Recipe` with

* ``Config``: a dataclass extending :class:`respkit.recipes.base.RecipeConfig` (``for_profile(profile)``);
* ``run(config, data, seed: int, workdir: Path) -> dict[str, float]``: train and evaluate once, return
  the metrics. ``workdir`` is private to this run and seed; pass it to the trainer as its
  ``checkpoint_dir`` so that an interrupted experiment resumes, and save the run's
  :class:`respkit.runs.RunArtifacts` there (:func:`respkit.recipes.common.finish` does both the
  scoring and the saving).

Register it with ``@register_recipe("name")``; the decorated class is instantiated once, with no arguments.
Two modules may not claim the same name; the same module registering it again replaces it.

Naming convention, which keeps imports lazy: a recipe named ``"<module>"`` or ``"<module>.<variant>"``
lives in ``respkit/recipes/<module>.py``. :func:`get_recipe` imports only that module;
:func:`list_recipes` imports them all. Recipes registered outside this package (tests, notebooks)
may use any name.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from typing import Any, TypeVar

from respkit.recipes.base import Recipe, RecipeConfig

T = TypeVar("T", bound=type)

_RECIPES: dict[str, Any] = {}
_DEFINED_IN: dict[str, str] = {}  # recipe name -> module that registered it


def _module_of(name: str) -> str:
    return f"{__name__}.{name.split('.')[0]}"


def register_recipe(name: str) -> Callable[[T], T]:
    """Decorator: register a :class:`Recipe` subclass under ``name``; returns it unchanged."""

    def decorator(obj: T) -> T:
        if not (
            isinstance(obj, type)
            and issubclass(obj, Recipe)
            and isinstance(getattr(obj, "Config", None), type)
            and issubclass(obj.Config, RecipeConfig)
        ):
            raise TypeError(f"recipe {name!r} must be a Recipe subclass whose Config extends RecipeConfig")
        recipe = obj()
        module = obj.__module__
        if module.startswith(f"{__name__}.") and module != _module_of(name):
            raise ValueError(f"recipe {name!r} must live in {_module_of(name)} (naming convention), not {module}")
        # Re-registering from the same module replaces the recipe (a notebook cell run twice, a reload).
        if _DEFINED_IN.get(name, module) != module:
            raise ValueError(f"recipe {name!r} is registered twice ({_DEFINED_IN[name]} and {module})")
        _RECIPES[name], _DEFINED_IN[name] = recipe, module
        return obj

    return decorator


def get_recipe(name: str) -> Any:
    """The recipe registered as ``name``, importing its module on first use."""
    if name not in _RECIPES:
        try:
            importlib.import_module(_module_of(name))
        except ModuleNotFoundError as error:
            if error.name != _module_of(name):  # the module exists but one of its imports is missing
                raise
    if name not in _RECIPES:
        raise KeyError(f"unknown recipe {name!r}; available: {', '.join(list_recipes()) or 'none'}")
    return _RECIPES[name]


def list_recipes() -> list[str]:
    """All recipe names, sorted (imports every recipe module of this package)."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return sorted(_RECIPES)
