"""What accounts tells the apps above it: a team's name changed (`team_changed`, with `team_id`),
sent inside the transaction that renamed it; the search index re-indexes the team's datasets."""

from django.dispatch import Signal

team_changed = Signal()
