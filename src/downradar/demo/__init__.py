"""The demo `make run` serves: its catalog, the seeded fortnight of history, the live traffic with the
replayed outage, the played provider page and the terminal mailbox."""
