"""Reading, mapping and validating input data (see ``docs/data-format.md``)."""

from ._load import LoadResult, load
from .mapping import Mapping, read_mapping
from .readers import read_source

__all__ = ["load", "LoadResult", "Mapping", "read_mapping", "read_source"]
