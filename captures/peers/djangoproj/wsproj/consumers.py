"""Channels consumers, one per daphne-* scenario."""
from channels.generic.websocket import WebsocketConsumer


class EchoConsumer(WebsocketConsumer):
    """/ws/echo/: accept and echo every text message."""

    def receive(self, text_data=None, bytes_data=None):
        self.send(text_data=text_data)


class RejectConsumer(WebsocketConsumer):
    """/ws/reject/: close before accept: Daphne answers the upgrade with 403."""

    def connect(self):
        self.close()


class RoleConsumer(WebsocketConsumer):
    """/ws/role/: accept, then on the first message close with 4001 "role rejected"."""

    def receive(self, text_data=None, bytes_data=None):
        self.send(text_data='{"error": "role not allowed"}')
        self.close(code=4001, reason="role rejected")


class CrashConsumer(WebsocketConsumer):
    """/ws/crash/: accept, then raise in receive: Daphne sends Close 1011."""

    def receive(self, text_data=None, bytes_data=None):
        raise RuntimeError("consumer bug")
