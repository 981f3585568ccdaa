"""What datasets tells the apps above it, which it may not import.

- `version_status_changed`: a version was created (in `processing`) or its ingest ended (`ready`
  or `failed`). The quality app listens, to record the version's standing against the suite and
  to validate a ready one.
- `dataset_changed`: something a catalog search shows or filters on changed: the card (title,
  summary, README, tags, licence, visibility, status, team), the column docs, the latest or
  certified version. The search app listens, to re-index the dataset.
- `datasets_popularity_changed`: only the checkout counts of some datasets changed (a checkout, or
  the daily recount); search updates their popularity without re-indexing their text.
"""

from django.dispatch import Signal

# Sent with `version` (a Version), inside the transaction that changed it or right after ingest.
version_status_changed = Signal()

# Sent with `dataset_id` (an int), inside the transaction that made the change, so the search
# index commits or rolls back with it.
dataset_changed = Signal()

# Sent with `dataset_ids` (a list of ints), inside the transaction that changed the counts.
datasets_popularity_changed = Signal()
