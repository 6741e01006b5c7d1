"""The analyst workspace: a REST API over the store (``app.py``), tokens (``users.py``)."""
