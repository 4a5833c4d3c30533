"""The `downradar` command line (Typer): one module per group of verbs."""
