"""Form fields must come out exactly as WTForms writes them: the portal only writes their
attributes faster (``lkapp.forms.html_params``)."""

from __future__ import annotations

from decimal import Decimal

import pytest
import wtforms.widgets
import wtforms.widgets.core
from hypothesis import given
from hypothesis import strategies as st
from markupsafe import Markup
from wtforms import (
    BooleanField,
    DateField,
    Form,
    PasswordField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.fields.choices import SelectChoice

from lkapp import create_app
from lkapp.forms import html_params, wtforms_html_params


def test_the_app_renders_form_attributes_with_the_faster_html_params():
    create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    assert wtforms.widgets.core.html_params is html_params
    assert wtforms.widgets.html_params is html_params
    assert wtforms.widgets.core.Input.html_params is html_params
    assert wtforms.widgets.core.Button.html_params is html_params


@pytest.mark.parametrize(
    "attributes",
    [
        {"name": "email", "id": "email", "type": "email", "value": "a\"b<c>&d'e"},
        {"checked": True, "readonly": False, "required": True, "name": "confirm"},
        {"data_hx_get": "/x?a=1&b=2", "aria_describedby": "f-help f-error", "class_": "wide"},
        {"for_": "m12-T1", "value": Markup('already <b>"safe"</b>')},
        {"value": 12345, "min": Decimal("0.001"), "placeholder": None, "inputmode": "decimal"},
        {"value": "Зонa T1 · Éjszakai", "title": "'single' & \"double\""},
        {},
    ],
)
def test_the_attributes_are_those_wtforms_writes(attributes):
    assert html_params(**attributes) == wtforms_html_params(**attributes)
    assert isinstance(html_params(**attributes), Markup)


@given(
    st.dictionaries(
        st.from_regex(r"[a-z][a-z_]{0,12}", fullmatch=True),
        st.one_of(st.booleans(), st.text(max_size=20), st.integers(), st.none()),
        max_size=8,
    )
)
def test_any_attributes_come_out_as_wtforms_writes_them(attributes):
    assert html_params(**attributes) == wtforms_html_params(**attributes)


class EveryKind(Form):
    name = StringField("Name <b>", render_kw={"inputmode": "text", "autocomplete": "off"})
    secret = PasswordField("Password")
    note = TextAreaField("Note")
    kind = SelectField(
        "Kind",
        choices=[
            SelectChoice("", "All"),
            SelectChoice("invoice", "Invoice & co"),
            SelectChoice("act", '"Act"', render_kw={"data_kind": "act"}),
        ],
    )
    grouped = SelectField(
        "Grouped",
        choices=[
            SelectChoice("paid", "Paid", optgroup="Paid"),
            SelectChoice("due", optgroup="<Not>"),
        ],
    )
    agree = BooleanField("I agree")
    day = DateField("Day")
    send = SubmitField("Send")


def _render_every_field(form: Form) -> str:
    return "\n".join(
        f"{field.label()} {field(aria_invalid='false', data_hx_get='/x?a=1&b=2')}" for field in form
    )


def test_every_kind_of_field_renders_the_same_html(monkeypatch):
    create_app({"TESTING": True, "SECRET_KEY": "x", "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    form = EveryKind(data={"name": 'O\'Brien "&" Sons', "kind": "act", "agree": True})
    ours = _render_every_field(form)

    monkeypatch.setattr(wtforms.widgets.core, "html_params", wtforms_html_params)
    monkeypatch.setattr(wtforms.widgets, "html_params", wtforms_html_params)
    monkeypatch.setattr(
        wtforms.widgets.core.Input, "html_params", staticmethod(wtforms_html_params)
    )
    monkeypatch.setattr(
        wtforms.widgets.core.Button, "html_params", staticmethod(wtforms_html_params)
    )
    theirs = _render_every_field(form)

    assert ours == theirs
    assert 'value="O&#39;Brien &#34;&amp;&#34; Sons"' in ours
    assert '<option data-kind="act" selected value="act">&#34;Act&#34;</option>' in ours
