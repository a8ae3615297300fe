"""The controller's HTTP endpoints (``extctl run --http-addr``): metrics, health, and later webhooks."""

from controller.http.health import Health
from controller.http.server import HttpServer, Request, Response, Route

__all__ = ["Health", "HttpServer", "Request", "Response", "Route"]
