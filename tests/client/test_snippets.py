"""The version page's pandas snippet works as written against a live server."""

from __future__ import annotations

import io
import re
from html import unescape

import pandas as pd
import pytest

from tests.client.conftest import big_csv

pytestmark = pytest.mark.django_db(transaction=True)

DATA = big_csv(500)


def test_the_pandas_snippet_reads_the_version(
    live_server, member, token, public_dataset, publish, monkeypatch
):
    from django.test import Client as WebClient

    publish(public_dataset, data=DATA)
    web = WebClient(HTTP_HOST=live_server.url.removeprefix("http://"))
    web.force_login(member)
    html = web.get("/datasets/churn/versions/1/").content.decode()
    snippet = unescape(re.search(r'id="snippet-pandas">.*?<code>(.*?)</code>', html, re.S).group(1))
    assert live_server.url in snippet

    monkeypatch.setenv("GRANARY_TOKEN", token(member))
    scope: dict = {}
    exec(snippet, scope)  # noqa: S102 (our own page's snippet, run as a user would)
    pd.testing.assert_frame_equal(scope["df"], pd.read_csv(io.BytesIO(DATA)))
