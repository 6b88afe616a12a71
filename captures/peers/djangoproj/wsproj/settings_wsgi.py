"""Settings for plain `manage.py runserver` (WSGI, no Channels, no Daphne): runserver-404.

DEBUG is on, as on a developer's machine: the 404 page is Django's technical 404.
"""
SECRET_KEY = "capture-peer-not-secret"
DEBUG = True
ALLOWED_HOSTS = ["*"]
INSTALLED_APPS = []
ROOT_URLCONF = "wsproj.urls"
DATABASES = {}
USE_TZ = True
