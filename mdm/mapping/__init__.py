"""Declarative source mappings: one TOML file per source system, rows to canonical records."""

from mdm.mapping.models import EntityMapping, FieldRule, SourceInfo, SourceMapping
from mdm.mapping.service import MappedRecord, apply_mapping, load_mapping, load_mappings

__all__ = [
    "EntityMapping",
    "FieldRule",
    "MappedRecord",
    "SourceInfo",
    "SourceMapping",
    "apply_mapping",
    "load_mapping",
    "load_mappings",
]
