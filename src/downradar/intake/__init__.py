"""Report intake: validation, client hashing, per-address limits, the counting rule (counting.py, which
replay follows too), the dedup-and-roll-up writer behind group commit; the comments reporters leave and
their moderation."""
