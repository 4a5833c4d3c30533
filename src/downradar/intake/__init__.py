"""Report intake: validation, client hashing, per-address limits, dedup and the group-commit writer; the
comments reporters leave and their moderation."""
