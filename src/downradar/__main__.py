from downradar.cli.main import app

app()
