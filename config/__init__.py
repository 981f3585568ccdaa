"""Granary's project configuration: settings, URLs, the WSGI and Celery applications."""

from config.celery import app as celery_app

__all__ = ["celery_app"]
