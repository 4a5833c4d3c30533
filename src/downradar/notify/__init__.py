"""Notifications: operators' alert routes, the delivery outbox, signed webhooks and the delivery worker."""
