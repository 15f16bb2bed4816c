"""Import-only stand-in: see tokenizers/__init__.py."""

from . import __getattr__  # noqa: F401
