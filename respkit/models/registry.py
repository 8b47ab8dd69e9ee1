"""A model registry in the manner of timm: ``create_model(name, pretrained=..., **kwargs)``.

Each model family registers its named configurations with ``@register_model``; users only
ever need :func:`create_model` and :func:`list_models`. Every factory takes ``pretrained``
first; what it accepts depends on the family (a weight name such as ``"audioset"``, or for
DASS the path of a released checkpoint), and a family without weights refuses anything truthy.
A recipe that must know what a family can do before building it asks :func:`model_class`.
"""

from __future__ import annotations

import fnmatch
import inspect
import typing
from collections.abc import Callable

from torch import nn

_MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register ``fn`` under its function name; returns ``fn`` unchanged (a decorator).

    ``fn`` must take a ``pretrained`` argument and annotate the class it returns (read by
    :func:`model_class`).
    """
    name = fn.__name__
    if name in _MODELS:
        raise ValueError(f"model {name!r} is registered twice")
    if "pretrained" not in inspect.signature(fn).parameters:
        raise TypeError(f"model factory {name!r} must take a pretrained= argument")
    _MODELS[name] = fn
    return fn


def list_models(pattern: str = "*") -> list[str]:
    """Registered model names matching a shell-style ``pattern``, sorted."""
    return sorted(n for n in _MODELS if fnmatch.fnmatch(n, pattern))


def _factory(name: str) -> Callable[..., nn.Module]:
    if name not in _MODELS:
        raise KeyError(f"unknown model {name!r}; available: {', '.join(list_models())}")
    return _MODELS[name]


def create_model(name: str, pretrained: str | bool | None = None, **kwargs) -> nn.Module:
    """Build the registered model ``name``; keyword arguments go to its constructor.

    ``pretrained``: any falsy value (``None``, ``False``, ``""``) means random weights; anything
    else is handed to the family, which loads those weights or raises a ``ValueError`` naming
    what it accepts.
    """
    return _factory(name)(pretrained=pretrained or None, **kwargs)


def model_class(name: str) -> type[nn.Module]:
    """The class that ``create_model(name)`` builds, without building it (read from the factory's
    return annotation). Its class attributes say what the family can do, e.g. ``accepts_mix``."""
    factory = _factory(name)
    returned = typing.get_type_hints(factory).get("return")
    if not isinstance(returned, type):
        raise TypeError(f"model factory {name!r} does not annotate the class it returns")
    return returned
