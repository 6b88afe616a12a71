"""ASGI entry point: `daphne wsproj.asgi:application`. No route for other paths."""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wsproj.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.urls import path  # noqa: E402

from wsproj import consumers  # noqa: E402

application = ProtocolTypeRouter({
    "http": django_asgi_app,
    "websocket": URLRouter([
        path("ws/echo/", consumers.EchoConsumer.as_asgi()),
        path("ws/reject/", consumers.RejectConsumer.as_asgi()),
        path("ws/role/", consumers.RoleConsumer.as_asgi()),
        path("ws/crash/", consumers.CrashConsumer.as_asgi()),
    ]),
})
