"""The REST service of Zone Explorer (FastAPI). Build the app with :func:`server.app.create_app`."""
