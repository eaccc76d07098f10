"""One URL, two renderings: a full page, or only the block HTMX swaps (DESIGN.md, "HTMX")."""

from __future__ import annotations

import json

from flask import make_response, render_template, request
from flask import redirect as http_redirect


def wants_fragment() -> bool:
    """True for an HTMX request that swaps a block (not boosted, not a history restore)."""
    headers = request.headers
    return (
        headers.get("HX-Request") == "true"
        and headers.get("HX-Boosted") != "true"
        and headers.get("HX-History-Restore-Request") != "true"
    )


def render(page: str, partial: str, status: int = 200, **context):
    """Render ``page`` for a normal request, ``partial`` (plus pending flashes) for HTMX.

    Both answers carry ``Vary: HX-Request`` so a cache never serves one for the other.
    """
    if wants_fragment():
        body = render_template(partial, **context) + render_template("_flashes.html", oob=True)
    else:
        body = render_template(page, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def hx_trigger(response, event: str, detail=None):
    """Ask htmx to fire ``event`` on the client once the response is swapped."""
    triggers = json.loads(response.headers.get("HX-Trigger", "{}"))
    triggers[event] = detail if detail is not None else True
    response.headers["HX-Trigger"] = json.dumps(triggers)
    return response


def redirect(location: str):
    """Post/redirect/get for plain forms; for htmx a full navigation via ``HX-Redirect``.

    htmx would follow a 302 inside the XMLHttpRequest and swap the next page into the form.
    """
    if request.headers.get("HX-Request") == "true":
        response = make_response("", 204)
        response.headers["HX-Redirect"] = location
        return response
    return http_redirect(location)
