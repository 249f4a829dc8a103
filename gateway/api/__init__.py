"""The HTTP layer: the only package that knows Litestar and ASGI."""
