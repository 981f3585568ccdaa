"""Granary's project configuration: settings, URLs, the WSGI and Celery applications."""

import os

# Arrow picks its allocator once, when pyarrow loads, so this must come before any import of it.
# Its default here, mimalloc, keeps freed pages per thread: an ingest then held 50 MB more than
# with jemalloc, which datasets.ingest.reader also tells to give pages back at once.
# Set the variable yourself to choose another ("mimalloc", "system").
os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "jemalloc")

from config.celery import app as celery_app

__all__ = ["celery_app"]
