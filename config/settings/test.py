"""Settings for the test suite: same as production but for fast hashing, plain static files and http."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("GRANARY_DATA_DIR", tempfile.mkdtemp(prefix="granary-test-data-"))
# The test client and the live server speak plain http (tests/config checks the HTTPS defaults).
os.environ.setdefault("GRANARY_HTTPS", "false")

from config.settings.base import *  # noqa: F403
from config.settings.base import STORAGES

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A connection per request, as the suite has always run: threads of live servers and workers come
# and go, and the test database is dropped at the end.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
STORAGES = {
    **STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
STATIC_ROOT = Path(tempfile.mkdtemp(prefix="granary-test-static-"))

# A file, not SQLite's shared in-memory database: the live server, the Celery worker and the
# test share it from several threads, and in-memory shared cache answers "table is locked"
# at once instead of waiting for the lock like a file in WAL mode does.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    DATABASES["default"]["TEST"] = {  # noqa: F405
        "NAME": os.path.join(tempfile.gettempdir(), f"granary-test-{os.getpid()}.sqlite3")
    }
