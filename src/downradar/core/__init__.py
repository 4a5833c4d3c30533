"""The core: clock, settings, the model (statuses, impacts, records), the catalog, logging and the
supervisor of background loops (asyncio only). No I/O beyond reading the catalog file."""
