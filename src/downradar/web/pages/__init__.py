"""The public HTML pages: the overview, history and incident pages, service pages, embeds, feeds and
subscriptions."""
