"""Settings for the ASGI app served by Daphne + Channels (daphne-* captures)."""
SECRET_KEY = "capture-peer-not-secret"
DEBUG = False
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = ["channels"]
ROOT_URLCONF = "wsproj.urls"
DATABASES = {}
USE_TZ = True
ASGI_APPLICATION = "wsproj.asgi.application"
