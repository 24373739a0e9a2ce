"""The live page for the communications team, served by the API at ``/``.

Server-side templates (Jinja2) and a server-drawn SVG timeline (``chart.py``): no front-end build step, no
chart library. The page polls ``/ui/board`` every few seconds and swaps in the fresh fragment, so a new
alert shows up within seconds of firing, with its explanation, example tweets and an acknowledge form.

Authentication is the API's keys: the login form (or ``/?key=…``, which ``badbuzz demo --serve`` prints)
stores the key in an HttpOnly, SameSite=Strict cookie; acknowledging needs a write key. Writes also require
a custom header, which a cross-site form cannot send, so a forged request from another site is refused.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup
from pydantic import BaseModel, Field
from sqlalchemy import Engine

from badbuzz.services.alerting.store import AlertStore, as_utc
from badbuzz.services.api import queries
from badbuzz.services.api.auth import ApiKey, find_key
from badbuzz.services.api.chart import Band, timeline_svg
from badbuzz.stream.detection.detector import DetectorConfig
from badbuzz.stream.detection.event import AlertEvent
from badbuzz.stream.detection.severity import rank

HERE = Path(__file__).resolve().parent
COOKIE = "badbuzz_key"
UI_HEADER = "x-badbuzz-ui"
REFRESH_S = 3
TIMELINE_HOURS = 6


class UiAck(BaseModel):
    who: str = Field(min_length=1, max_length=200)
    note: str = Field("", max_length=2_000)


def mount_page(app: FastAPI, db: Engine, config: DetectorConfig, keys: list[ApiKey],
               clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]))
    env.filters["pct"] = lambda v: "–" if v is None else f"{v:.0%}"
    env.filters["hm"] = lambda ts: "–" if ts is None else f"{ts:%d %b %H:%M}"
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

    def render(name: str, status: int = 200, **ctx: Any) -> HTMLResponse:
        return HTMLResponse(env.get_template(name).render(refresh_s=REFRESH_S, **ctx), status_code=status,
                            headers={"Cache-Control": "no-store"})

    def current_key(request: Request) -> ApiKey | None:
        presented = request.cookies.get(COOKIE, "")
        return find_key(keys, presented) if presented else None

    def login_response(key: str, request: Request) -> Response:
        response = RedirectResponse("/", status_code=303)
        response.set_cookie(COOKIE, key, httponly=True, samesite="strict", secure=request.url.scheme == "https",
                            max_age=12 * 3600, path="/")
        return response

    @app.get("/", include_in_schema=False)
    def page(request: Request, key: str | None = None) -> Response:
        if key is not None:  # a link with the key in it (badbuzz demo --serve): set the cookie, drop the key
            if find_key(keys, key) is None:
                return render("login.html", 401, error="That key is not valid.")
            return login_response(key, request)
        api_key = current_key(request)
        if api_key is None:
            return render("login.html", error=None if not keys else "")
        return render("page.html", key=api_key)

    @app.post("/ui/login", include_in_schema=False)
    async def login(request: Request) -> Response:
        form = urllib.parse.parse_qs((await request.body())[:4096].decode("utf-8", "replace"))
        key = (form.get("key") or [""])[0].strip()
        if not key or find_key(keys, key) is None:
            return render("login.html", 401, error="That key is not valid.")
        return login_response(key, request)

    @app.post("/ui/logout", include_in_schema=False)
    def logout() -> Response:
        response = RedirectResponse("/", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.get("/ui/board", include_in_schema=False)
    def board(request: Request, topic: str | None = None) -> Response:
        api_key = current_key(request)
        if api_key is None:
            raise HTTPException(401, "log in again")
        return render("board.html", **board_context(db, config, topic, clock()), can_ack=api_key.allows("write"))

    @app.post("/ui/alerts/{alert_id}/ack", include_in_schema=False)
    def ui_ack(alert_id: str, body: UiAck, request: Request) -> Response:
        api_key = current_key(request)
        if api_key is None:
            raise HTTPException(401, "log in again")
        if request.headers.get(UI_HEADER) != "1":
            raise HTTPException(403, "acknowledge from the page")
        if not api_key.allows("write"):
            raise HTTPException(403, f"the key {api_key.name!r} is read-only")
        if not queries.acknowledge(db, alert_id, body.who, body.note, api_key.name, clock()):
            raise HTTPException(404, f"no alert {alert_id!r}")
        return Response(status_code=204)


def board_context(db: Engine, config: DetectorConfig, selected: str | None, now: datetime) -> dict[str, Any]:
    """What the board shows: a tile per topic, the selected topic's timeline, the firing alerts in full."""
    tiles = queries.topic_statuses(db, config, queries.topic_names(db))
    firing, _ = queries.alert_rows(db, state="firing", limit=50)
    acks = queries.acks_for(db, [row.id for row in firing])  # one query for all of them: this runs every 3 s
    alerts: list[dict[str, Any]] = []
    for full in firing:
        event = AlertEvent(full.id, full.topic, "firing", full.fired_at, full.window_start, full.window_end,
                           full.negative_rate, full.baseline_rate, full.volume, full.p_value,
                           [(t, z) for t, z in full.top_terms], list(full.examples), None, full.emotions or {},
                           full.signal or "share", full.scale_minutes or 0, full.expected_negatives,
                           full.languages or {}, full.emotion_coverage, full.severity or "moderate",
                           full.history_minutes, full.baseline_note or "")
        alerts.append({"row": full, "summary": event.summary(), "acks": acks.get(full.id, []),
                       "examples": list(full.examples)[:5], "severity": full.severity or "moderate"})
    # worst first, then newest: what the team should look at first is at the top
    alerts.sort(key=lambda a: (-rank(a["row"].severity), -a["row"].fired_at.timestamp()))
    names = [t["topic"] for t in tiles]
    if selected not in names:  # a firing topic, else the one that alerted last, else the first
        latest, _ = queries.alert_rows(db, limit=1)
        fallback = latest[0].topic if latest and latest[0].topic in names else (names[0] if names else None)
        selected = next((a["row"].topic for a in alerts), fallback)
    chart = None
    if selected is not None:
        status = next(t for t in tiles if t["topic"] == selected)
        newest = status["last_minute"]["minute"]
        # end at the topic's newest minute of tweet time, so a replayed history shows as well as a live feed
        end = (newest or now.replace(second=0, microsecond=0)) + timedelta(minutes=1)
        start, step_min = chart_window(db, selected, end)
        step = timedelta(minutes=step_min)
        points = queries.timeline(db, selected, start, end, step_min)
        rows, _ = queries.alert_rows(db, topic=selected, since=start, until=end, limit=200)
        bands = [Band(r.id, as_utc(r.fired_at), as_utc(r.resolved_at) if r.resolved_at else None) for r in rows]
        # the SVG escapes every text it holds (chart.py), so it goes in as markup
        chart = Markup(timeline_svg(points, bands, start, end, step, status["baseline_share"],
                                    f"negative share of {selected}"))
    return {"tiles": tiles, "alerts": alerts, "selected": selected, "chart": chart, "now": now}


def chart_window(db: Engine, topic: str, end: datetime) -> tuple[datetime, int]:
    """(start, minutes per point): at most TIMELINE_HOURS back, but no longer than the topic's data goes (a new
    topic or a short replay fills the chart instead of a sliver at its right edge), at least an hour, and
    about 120 points whatever the span."""
    earliest = end - timedelta(hours=TIMELINE_HOURS)
    found = AlertStore(db).first_minute(topic, since=earliest)
    first = as_utc(found) if found is not None else earliest
    start = min(max(earliest, first - timedelta(minutes=10)), end - timedelta(hours=1))
    span = int((end - start) / timedelta(minutes=1))
    return start, max(1, -(-span // 120))
