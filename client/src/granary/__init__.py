"""Granary's Python client: pull pinned, verified versions of datasets for training.

from granary import Client

client = Client("https://granary.example.org")   # or GRANARY_URL / GRANARY_TOKEN, or `granary login`
df = client.read("churn@prod")                   # a pandas DataFrame
manifest = client.checkout(["churn@latest"], purpose="train churn model v7")
manifest.save("granary.lock")                    # later: client.pull_manifest("granary.lock")
"""

from __future__ import annotations

__version__ = "0.1.0"

from granary.client import Client, Version
from granary.errors import (
    AuthError,
    ConfigError,
    Conflict,
    GranaryError,
    IntegrityError,
    NotFound,
    TransferError,
)
from granary.manifest import Manifest, ManifestItem

__all__ = [
    "AuthError",
    "Client",
    "ConfigError",
    "Conflict",
    "GranaryError",
    "IntegrityError",
    "Manifest",
    "ManifestItem",
    "NotFound",
    "TransferError",
    "Version",
    "__version__",
]
