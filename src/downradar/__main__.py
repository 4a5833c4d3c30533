from downradar.cli import app

app()
