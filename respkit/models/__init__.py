"""Models, all reachable through :func:`create_model`.

Importing a family's module registers its configurations; add one line here per family.
"""

from respkit.models.registry import create_model, list_models, register_model

__all__ = ["create_model", "list_models", "register_model"]
