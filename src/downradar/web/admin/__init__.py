"""The admin UI at /admin: sign-in with the admin token, then a session cookie; CSRF on every form. Each
form is validated with the JSON API's request model for the same change (web/api/models.py)."""

from downradar.web.admin.routes import router

__all__ = ["router"]
