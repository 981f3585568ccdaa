"""Validators for the names every app shares: slugs and sha256 digests."""

from django.core.validators import RegexValidator

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$"
slug_validator = RegexValidator(
    SLUG_PATTERN,
    "Use 1 to 64 lowercase letters, digits, '-' or '_', starting and ending with a letter or digit.",
    code="invalid_slug",
)
SHA256_HEX = r"^[0-9a-f]{64}$"
