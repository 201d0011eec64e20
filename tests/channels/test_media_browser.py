"""In Chromium, under the pages' Content-Security-Policy: a LINE sticker shows as its image, a
video and a voice message load in their players, all from our own origin."""

from __future__ import annotations

import io
import json
import struct
import wave
from typing import Any

import httpx
import pytest
from PIL import Image
from playwright.async_api import Browser, expect

from madoguchi.channels.models import Channel
from tests.browser import sign_in
from tests.channels.conftest import Recorder
from tests.channels.test_line import sign, text_event
from tests.conftest import LiveServer
from tests.fixtures import Factory, auth, eventually

pytestmark = pytest.mark.e2e

# A short WebM recorded by the browser itself from a canvas (no video file in the repository).
# The recorder is given data every 100 ms and painted until it has some: on a loaded machine a
# recording stopped after a dozen animation frames could hold no picture at all.
RECORD_VIDEO = """async () => {
  const canvas = document.createElement("canvas");
  canvas.width = 64;
  canvas.height = 48;
  const paint = canvas.getContext("2d");
  const recorder = new MediaRecorder(canvas.captureStream(30), { mimeType: "video/webm" });
  const chunks = [];
  recorder.ondataavailable = (event) => { if (event.data.size) chunks.push(event.data); };
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start(100);
  const began = performance.now();
  for (let frame = 0; frame < 12 || chunks.length < 2 || performance.now() - began < 400; frame++) {
    paint.fillStyle = `hsl(${frame * 30}, 80%, 50%)`;
    paint.fillRect(0, 0, 64, 48);
    await new Promise((resolve) => requestAnimationFrame(resolve));
  }
  recorder.stop();
  await stopped;
  return Array.from(new Uint8Array(await new Blob(chunks).arrayBuffer()));
}"""

# Resolves with the element's readyState once it has its metadata, or with the media error's
# code and message when it fails to load.
LOADED = """(element) => new Promise((resolve) => {
  if (element.readyState >= 1) return resolve(element.readyState);
  const failed = () => resolve(`error ${element.error?.code}: ${element.error?.message}`);
  element.addEventListener("loadedmetadata", () => resolve(element.readyState));
  element.addEventListener("error", failed);
  element.load();
})"""

# The picture's size once a WebM plays from a blob address, on a page without our CSP.
PLAYS = """async (bytes) => {
  const video = document.createElement("video");
  video.muted = true;
  video.src = URL.createObjectURL(new Blob([new Uint8Array(bytes)], { type: "video/webm" }));
  document.body.append(video);
  return await new Promise((resolve) => {
    video.addEventListener("loadeddata", () => resolve(`${video.videoWidth}x${video.videoHeight}`));
    video.addEventListener("error", () => resolve(`error ${video.error?.code}`));
  });
}"""


async def recorded_video(browser: Browser) -> bytes:
    """A WebM that Chromium has shown it can play: recorded and played back on a blank page."""
    context = await browser.new_context()
    try:
        page = await context.new_page()
        played = ""
        for _ in range(3):
            webm = bytes(await page.evaluate(RECORD_VIDEO))
            played = await page.evaluate(PLAYS, list(webm))
            if played == "64x48":
                return webm
        raise AssertionError(f"Chromium did not record a playable WebM: {played}")
    finally:
        await context.close()


def voice() -> bytes:
    """A quarter second of a 440 Hz tone, as WAV."""
    out = io.BytesIO()
    with wave.open(out, "wb") as sound:
        sound.setnchannels(1)
        sound.setsampwidth(2)
        sound.setframerate(8000)
        samples = (int(8000 * ((n // 9) % 2 * 2 - 1)) for n in range(2000))
        sound.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()


async def test_sticker_video_and_voice_load_from_our_origin_under_the_csp(
    live_server: LiveServer,
    factory: Factory,
    browser: Browser,
    line: Channel,
    recorder: Recorder,
) -> None:
    member = await factory.member(role="owner", name="店長")
    token = await factory.token(member)
    base = live_server.url
    expect.set_options(timeout=5000)
    webm = await recorded_video(browser)
    page = await (await browser.new_context(viewport={"width": 390, "height": 844})).new_page()
    outside: list[str] = []
    page.on(
        "request",
        lambda request: (
            outside.append(request.url)
            if not request.url.startswith((base, "ws://127.0.0.1", "data:", "blob:"))
            else None
        ),
    )
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    await sign_in(page, base, member.email)

    sticker = io.BytesIO()
    Image.new("RGBA", (96, 90), (250, 200, 0, 255)).save(sticker, format="PNG")
    recorder.answer(
        "GET",
        "/stickershop/v1/sticker/52002734/android/sticker.png",
        (200, sticker.getvalue()),
        content_type="image/png",
    )
    recorder.answer("GET", "/v2/bot/message/9001/content", (200, webm), content_type="video/webm")
    recorder.answer("GET", "/v2/bot/message/9002/content", (200, voice()), content_type="audio/wav")
    events = [
        {
            **text_event(message_id, ""),
            "message": {"id": message_id, **message},
        }
        for message_id, message in (
            ("9000", {"type": "sticker", "packageId": "11537", "stickerId": "52002734"}),
            ("9001", {"type": "video", "duration": 400, "contentProvider": {"type": "line"}}),
            ("9002", {"type": "audio", "duration": 250, "contentProvider": {"type": "line"}}),
        )
    ]
    body = json.dumps({"destination": "Uxxxxxxxx", "events": events}).encode()
    async with httpx.AsyncClient(base_url=base, headers=auth(token)) as api:
        answer = await api.post(
            f"/webhooks/line/{line.id}",
            content=body,
            headers={"X-Line-Signature": sign(body), "Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.text

        async def all_three() -> dict[str, Any] | None:
            items = (await api.get("/api/v1/conversations")).json()["items"]
            if not items:
                return None
            path = f"/api/v1/conversations/{items[0]['id']}/messages"
            stored = (await api.get(path)).json()["items"]
            return items[0] if len(stored) == 3 else None

        # Stored right after the 200 (connectors.webhooks): the three arrive in a moment.
        item = await eventually(all_three)

    await page.goto(f"{base}/c/{item['id']}")
    thread = page.locator("#thread-messages")
    image = thread.locator(".message-sticker img")
    await expect(image).to_be_visible()
    assert await image.evaluate("(img) => img.decode().then(() => img.naturalWidth)") == 96
    video = thread.locator("video.message-video")
    audio = thread.locator("audio.message-audio")
    await expect(video).to_be_visible()
    await expect(audio).to_be_visible()
    for player in (video, audio):
        state = await player.evaluate(LOADED)
        assert isinstance(state, int) and state >= 1, state
    assert await audio.evaluate("(element) => element.duration") == pytest.approx(0.25, abs=0.01)
    for element in (image, video, audio):
        assert (await element.evaluate("(element) => element.currentSrc")).startswith(
            f"{base}/files/"
        )
    assert outside == [] and refused == []
