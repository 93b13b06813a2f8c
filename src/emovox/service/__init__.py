"""The HTTP/WebSocket service and the web page it serves."""

from emovox.service.access import ServiceAccess
from emovox.service.app import WS_PROTOCOL, create_app
from emovox.service.limits import ServiceLimits
from emovox.service.server import serve

__all__ = ["WS_PROTOCOL", "ServiceAccess", "ServiceLimits", "create_app", "serve"]
