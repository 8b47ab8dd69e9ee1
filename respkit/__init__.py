"""respkit: contrastive learning for respiratory sounds.

The library behind the book. Each subpackage is imported on demand, so
``import respkit`` stays cheap.
"""

__version__ = "0.1.0"
