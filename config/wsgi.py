"""WSGI entry point for gunicorn: `gunicorn config.wsgi`."""

import os
import threading

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

application = get_wsgi_application()


def _load_great_expectations() -> None:
    from quality.runner import gx_load

    gx_load()


# Saving a suite checks each expectation with Great Expectations, whose import takes seconds. Load
# it beside the first requests rather than inside one: the web app itself starts without it.
threading.Thread(target=_load_great_expectations, name="granary-load-gx", daemon=True).start()
