"""The Rasa HTTP API client: what it sends, and that refusals and outages are errors.
(Its success against the real Rasa server is in test_pause_with_rasa.py.)"""
from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from threadline.handoff.rasa_api import RasaApi, RasaApiError


@pytest.fixture
async def fake_rasa():
    seen = []

    async def events(request):
        seen.append((request.match_info["customer"], dict(request.query), await request.json()))
        if request.query.get("token") != "right":
            return web.json_response({"status": "failure"}, status=401)
        return web.json_response({"sender_id": request.match_info["customer"], "paused": False})

    app = web.Application()
    app.router.add_post("/conversations/{customer}/tracker/events", events)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")), seen
    await server.close()


async def test_events_go_to_the_customers_tracker_with_token_and_options(fake_rasa):
    url, seen = fake_rasa
    answer = await RasaApi(url, "right").append_events(
        "cus_ana", [{"event": "bot", "text": "Hi, Carla here"}], output_channel="whatsapp", execute_side_effects=True)
    assert answer == {"sender_id": "cus_ana", "paused": False}
    assert seen == [("cus_ana", {"token": "right", "output_channel": "whatsapp", "execute_side_effects": "true"},
                     [{"event": "bot", "text": "Hi, Carla here"}])]


async def test_a_refusal_or_an_unreachable_server_is_an_error(fake_rasa):
    url, _ = fake_rasa
    with pytest.raises(RasaApiError, match="401"):
        await RasaApi(url, "wrong").append_events("cus_ana", [{"event": "resume"}])
    with pytest.raises(RasaApiError, match="unreachable"):
        await RasaApi("http://127.0.0.1:9", "right", timeout_s=2).append_events("cus_ana", [{"event": "resume"}])


def test_the_token_must_be_configured(monkeypatch, tmp_path):
    monkeypatch.setenv("RASA_AUTH_TOKEN", "")
    with pytest.raises(RasaApiError, match="RASA_AUTH_TOKEN"):
        RasaApi.from_env()
    monkeypatch.setenv("RASA_AUTH_TOKEN", "s3cret")
    monkeypatch.setenv("RASA_PORT", "5999")
    api = RasaApi.from_env()
    assert (api.base_url, api.token) == ("http://127.0.0.1:5999", "s3cret")
