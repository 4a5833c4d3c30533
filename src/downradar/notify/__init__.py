"""Notifications: operators' alert routes and public subscribers, the outbox, grouping, paging keys and
reminders, one module per channel (`channels/`), and the delivery worker that sends and retries."""
