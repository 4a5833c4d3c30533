"""The core: clock, settings, the model (statuses, impacts, records), the catalog and logging. No I/O
beyond reading the catalog file."""
