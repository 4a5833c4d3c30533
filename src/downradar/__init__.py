"""Downradar: finds out a service is down from the people who use it."""

__version__ = "0.1.0"
