"""The live page in a real headless Chromium, over the real stack: an episode streamed through Kafka, the
scorer and the alerter into PostgreSQL shows up on the page within seconds of firing, and acknowledging it
from the page is stored.

Browser: Debian's ``chromium`` driven by Selenium through Debian's ``chromedriver`` (``make browser`` installs
both). The screenshot the README shows is written by this test to ``docs/img/live-page.png`` when
``BADBUZZ_SCREENSHOT=1``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest

from tests.integration.conftest import (
    AlerterProcess,
    ApiProcess,
    ScorerProcess,
    Stack,
    Topics,
    produce,
    wait_until,
)
from tests.integration.test_alerting_stream import EpisodeStream
from tests.webhook_receiver import Receiver

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TOPIC = "baggage"


@pytest.fixture
def browser() -> Iterator[object]:
    from selenium import webdriver

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.fail("chromium / chromedriver not found: `make browser` (deploy/stack.sh install chromium)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1400",
                "--disable-gpu", "--force-device-scale-factor=1"):
        opts.add_argument(arg)
    b = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=driver))
    b.set_page_load_timeout(30)
    yield b
    b.quit()


@pytest.fixture
def api(database: str, tiny_model_dir: Path, tmp_path: Path) -> Iterator[ApiProcess]:
    proc = ApiProcess(database, tiny_model_dir, tmp_path / "api.log", key_name="comms-lead").start()
    yield proc
    proc.stop()


def test_the_page_shows_an_injected_episode_within_seconds_and_acknowledges_it(
    stack: Stack, topics: Topics, database: str, scorer_factory: Callable[..., ScorerProcess],
    receiver: Receiver, s140_sample: Path, api: ApiProcess, browser: object, tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    base, key = api.base, api.key
    started = time.monotonic()
    browser.get(f"{base}/?key={key}")  # the link `badbuzz demo --serve` prints: signs in, then drops the key
    assert browser.current_url.rstrip("/") == base, "the key stayed in the address bar"
    wait_until(lambda: browser.find_element(By.ID, "board").get_attribute("aria-busy") == "false", 15,
               "the board's first load")
    loaded = time.monotonic() - started
    assert browser.find_elements(By.CSS_SELECTOR, "article.alert") == []
    assert "No bad buzz right now" in browser.find_element(By.ID, "board").text

    alerter = AlerterProcess(stack, topics, database, receiver.url, tmp_path / "alerter.log").start()
    scorer = scorer_factory(BADBUZZ_BATCH_MAX_SIZE="256")
    try:
        episode = EpisodeStream.build(s140_sample)
        produce(stack.kafka, topics.raw, EpisodeStream.records(episode.first))
        wait_until(lambda: (TOPIC, "firing") in receiver.states(), 240, "the alerter firing", scorer.tail)
        fired = time.monotonic()
        wait_until(lambda: bool(browser.find_elements(By.CSS_SELECTOR, "article.alert")), 30,
                   "the alert on the page", lambda: browser.page_source[-3000:])
        shown = time.monotonic() - fired
        card = browser.find_element(By.CSS_SELECTOR, "article.alert")
        assert TOPIC in card.find_element(By.TAG_NAME, "h3").text
        assert "Bad buzz on" in card.find_element(By.CLASS_NAME, "summary").text
        assert len(card.find_elements(By.CSS_SELECTOR, ".examples li")) >= 3
        tile = browser.find_element(By.CSS_SELECTOR, f'.tile[data-topic="{TOPIC}"]')
        assert "firing" in (tile.get_attribute("class") or "")
        # the timeline marks it
        wait_until(lambda: bool(browser.find_elements(By.CSS_SELECTOR, "svg.timeline rect.alert-band.firing")), 15,
                   "the alert band on the timeline")
        if os.environ.get("BADBUZZ_SCREENSHOT") == "1":
            (ROOT / "docs" / "img").mkdir(parents=True, exist_ok=True)
            browser.save_screenshot(str(ROOT / "docs" / "img" / "live-page.png"))

        # acknowledge from the page, as a person would: type, click
        started = time.monotonic()
        form = card.find_element(By.CSS_SELECTOR, "form.ack")
        form.find_element(By.NAME, "who").send_keys("Léa (comms)")
        form.find_element(By.NAME, "note").send_keys("holding statement out")
        form.find_element(By.TAG_NAME, "button").click()
        wait_until(lambda: "Acknowledged by Léa (comms)" in browser.find_element(By.ID, "board").text, 15,
                   "the acknowledgement on the page", lambda: browser.page_source[-3000:])
        acked = time.monotonic() - started
        with psycopg.connect(database.replace("postgresql+psycopg://", "postgresql://")) as conn:
            rows = conn.execute("SELECT who, note, key_name FROM alert_acks").fetchall()
        assert rows == [("Léa (comms)", "holding statement out", "comms-lead")]
        print(f"[measure] live page: first load {loaded:.2f} s; alert on the page {shown:.1f} s after the alerter "
              f"fired (polling every 3 s); acknowledgement stored and shown {acked:.1f} s after the click")
    finally:
        alerter.stop()
        scorer.stop()
