"""The admin UI at /admin: sign-in with the admin token, then a session cookie; CSRF on every form."""

from downradar.web.admin.routes import router

__all__ = ["router"]
