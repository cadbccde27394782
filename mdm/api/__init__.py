"""The hub's HTTP API (Litestar): the app factory, error mapping, tracing and the v1 routes.

Only this package knows HTTP. Its views are thin: they parse the request, call a function of
`mdm.api.v1.service` (which owns one unit of work per request) and shape the response.
"""
