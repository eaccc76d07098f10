"""One URL, two renderings: a full page, or only the block HTMX swaps (DESIGN.md, "HTMX")."""

from __future__ import annotations

import json

from flask import current_app, g, make_response, render_template, request
from flask import redirect as http_redirect
from flask_babel import gettext as _
from flask_login.signals import user_unauthorized
from markupsafe import Markup
from werkzeug.urls import iri_to_uri


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

    The partial comes after the page's ``<title>``, which htmx puts in the document: a tab
    or a filtered list is then named as a full load of its address would name it. Both answers
    carry ``Vary: HX-Request`` so a cache never serves one for the other.
    """
    if wants_fragment():
        body = (
            str(page_title(page, context))
            + render_template(partial, **context)
            + render_template("_flashes.html", oob=True)
        )
    else:
        body = render_template(page, **context)
    response = make_response(body, status)
    response.vary.add("HX-Request")
    return response


def page_title(page: str, context: dict) -> Markup:
    """The ``<title>`` element of ``page`` with ``context``, as base.html writes it."""
    app = current_app._get_current_object()
    template = app.jinja_env.get_template(page)
    values = dict(context)
    app.update_template_context(values)
    block = template.blocks.get("title")
    if block is None:
        text = _("My Account")
    else:  # the block's output, escaped by the template as it went
        text = Markup("".join(block(template.new_context(values))))  # noqa: S704  # nosec B704
    return Markup("<title>%s · %s</title>") % (text, values["utility_name"])


def hx_trigger(response, event: str, detail=None):
    """Ask htmx to fire ``event`` on the client once the response is swapped."""
    triggers = json.loads(response.headers.get("HX-Trigger", "{}"))
    triggers[event] = detail if detail is not None else True
    response.headers["HX-Trigger"] = json.dumps(triggers)
    return response


def redirect(location: str):
    """Post/redirect/get for plain forms; for htmx a full navigation via ``HX-Redirect``.

    htmx would follow a 302 inside the XMLHttpRequest and swap the next page into the form.
    The address goes percent-encoded, as Werkzeug writes ``Location``: a header holds Latin-1
    at most (gunicorn answers 500 to a ``next`` naming a contract number in Cyrillic).

    A form sent after its session ended is sent to sign in, which would lose what was typed:
    for htmx the answer also carries the note app.js shows beside the form, which it keeps
    (a 200: a 204 has no body); without JavaScript a page shows back what was typed.
    """
    from .main.errors import form_kept_note, render_signed_out  # errors uses this module

    sent_form = request.method not in ("GET", "HEAD") and g.get("sign_in_first", False)
    if request.headers.get("HX-Request") == "true":
        response = make_response(form_kept_note() if sent_form else "", 200 if sent_form else 204)
        response.headers["HX-Redirect"] = iri_to_uri(location)
        return response
    if sent_form and (page := render_signed_out()) is not None:
        return make_response(page)
    return http_redirect(location)


@user_unauthorized.connect
def _note_sign_in_first(app, **extra) -> None:
    """Flask-Login is about to answer "sign in first" (the session ended): see ``redirect``."""
    g.sign_in_first = True
