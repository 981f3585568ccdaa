"""What datasets tells the apps above it, which it may not import: a version was created (in
`processing`) or its ingest ended (`ready` or `failed`). The quality app listens, to record the
version's standing against the suite and to validate a ready one."""

from django.dispatch import Signal

# Sent with `version` (a Version), inside the transaction that changed it or right after ingest.
version_status_changed = Signal()
