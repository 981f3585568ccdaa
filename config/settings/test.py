"""Settings for the test suite: same as production but for fast hashing and plain static files."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRANARY_DATA_DIR", tempfile.mkdtemp(prefix="granary-test-data-"))

from config.settings.base import *  # noqa: F403
from config.settings.base import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="granary-test-static-"))
