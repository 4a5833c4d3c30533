"""Synthetic probes: what the catalog and the admin API define, checks run from one or more locations, and
the results that the detector reads as evidence next to user reports."""
