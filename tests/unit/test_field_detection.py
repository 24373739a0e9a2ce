"""Issue 28: detection on field-like traffic. Over-dispersion, complaint-only volume alerts, severity, priors for
new topics, alerts that do not stay open for ever, and what an alert says about its baseline."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np

from badbuzz.stream.detection.baselines import ShareDispersion, TopicPrior, VolumeBaseline
from badbuzz.stream.detection.detector import Detector, DetectorConfig, TopicState
from badbuzz.stream.detection.severity import rank, severity_of
from badbuzz.stream.simulation.simulation import FieldProfile, LabelNoise, SimWeek, simulate
from badbuzz.stream.simulation.tiers import Cell, measure_cell

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday


def feed(det: Detector, counts: list[tuple[int, int]], start: int = 0) -> list[tuple[int, str]]:
    out = []
    for i, (n, k) in enumerate(counts, start=start):
        ev = det.observe(T0 + timedelta(minutes=i), n, k)
        if ev.transition:
            out.append((i, ev.transition))
    return out


def test_phi_is_learned_from_hours_that_vary_beyond_the_binomial_and_only_from_their_upper_side() -> None:
    rng = np.random.default_rng(1)
    binomial, dispersed, praised = ShareDispersion(), ShareDispersion(), ShareDispersion()
    for _ in range(400):
        n = 200
        binomial.add(n, int(rng.binomial(n, 0.3)), False)
        binomial.end_of_hour(0.3)
        p = rng.beta(0.3 * 60, 0.7 * 60)  # hour shares with variance ~ 4x the binomial at 200 tweets
        dispersed.add(n, int(rng.binomial(n, p)), False)
        dispersed.end_of_hour(0.3)
        praised.add(n, int(rng.binomial(n, 0.3 if rng.random() < 0.5 else 0.05)), False)  # half the hours far below
        praised.end_of_hour(0.3)
    assert 0.8 < binomial.phi < 1.3
    assert dispersed.phi > 2.5
    assert praised.phi < 1.6  # hours far *below* the usual do not blunt the upward tests


def field_week(per_hour: float, share: float, seed: int, weeks: float = 2.0) -> list[tuple[int, int]]:
    """Minute counts of a clean field-like history (surges and mention spikes included)."""
    week = simulate(per_hour, seed=seed, weeks=weeks, warmup_days=7.0, base_share=share, with_episodes=False,
                    field=FieldProfile(), noise=LabelNoise())
    return list(zip(week.n.tolist(), week.k.tolist(), strict=True))


def test_a_binomial_test_fires_on_field_noise_where_the_quasi_binomial_one_stays_quiet() -> None:
    """Field-like weeks at 20,000 tweets an hour of a 75 %-negative brand (two histories): a detector that
    believes the binomial (φ pinned at 1) raises half as many false alerts again as the one that learns φ, and
    at least three more. Measured on ten such histories (seeds 1-10, two scored weeks each): 39 false alerts
    against 18; on these two, 15 against 1. (At 2,000 an hour the two now differ little: the effect floor and
    the hour-of-day baseline do most of the work there.)"""
    learned = pinned = 0
    for seed in (1, 10):
        week = simulate(20000, seed=seed, weeks=3.0, warmup_days=7.0, base_share=0.75, with_episodes=False,
                        field=FieldProfile(), noise=LabelNoise())
        counts = list(zip(week.n.tolist(), week.k.tolist(), strict=True))

        def false_alerts(det: Detector, week: SimWeek = week, counts: list[tuple[int, int]] = counts) -> int:
            def inside(i: int) -> bool:  # the surges are episodes: alerting on them is right
                return any(ep.start <= i <= ep.start + ep.minutes + 60 for ep in week.episodes)
            return sum(1 for i, t in feed(det, counts) if t == "firing" and i >= week.eval_start and not inside(i))

        learned += false_alerts(Detector("t", DetectorConfig()))
        # the binomial test: no φ, and no allowance for an hour of the day's offset not yet learned
        naive = Detector("t", DetectorConfig(dispersion_floor_minutes=0, share_swing_logit=0.0))
        naive.state.dispersion = _Pinned()
        pinned += false_alerts(naive)
    assert pinned >= 1.5 * learned and pinned >= learned + 3, (pinned, learned)


class _Pinned(ShareDispersion):
    """φ = 1 whatever the hours say: the binomial test."""

    @property
    def phi(self) -> float:
        return 1.0


def test_more_tweets_at_a_lower_share_are_a_mention_spike_not_a_complaint_alert() -> None:
    """A steady topic, then an hour with five times the tweets whose extra tweets are positive: the negative
    count doubles (the model's false positives), the share halves. No alert; the same count at the usual
    share fires."""
    rng = np.random.default_rng(3)
    calm = [(n, int(rng.binomial(n, 0.3))) for n in rng.poisson(30, size=4 * 1440)]

    def spike(share: float) -> list[tuple[int, int]]:
        return [(n, int(rng.binomial(n, share))) for n in rng.poisson(150, size=60)]

    det = Detector("t", DetectorConfig())
    feed(det, calm)
    mention = feed(det, spike(0.12), start=len(calm))  # 150 x 0.12 = 18 negatives a minute against 9
    assert not [t for _, t in mention if t == "firing"]
    det2 = Detector("t", DetectorConfig())
    feed(det2, calm)
    complaints = feed(det2, spike(0.3), start=len(calm))
    assert [t for _, t in complaints if t == "firing"]


def test_severity_is_how_big_not_how_sure() -> None:
    assert severity_of(600, 200) == "critical"  # 400 extra at 3x
    assert severity_of(90, 30) == "critical"  # 60 extra at 3x
    assert severity_of(70, 35) == "high"
    assert severity_of(40, 30) == "moderate"  # very sure at volume, but 10 extra tweets
    assert rank("critical") > rank("high") > rank("moderate") > rank(None)


def test_an_alert_that_lasts_all_day_resolves_and_its_level_becomes_the_usual() -> None:
    rng = np.random.default_rng(5)
    calm = [(n, int(rng.binomial(n, 0.25))) for n in rng.poisson(40, size=3 * 1440)]
    shifted = [(n, int(rng.binomial(n, 0.5))) for n in rng.poisson(40, size=2 * 1440)]
    det = Detector("t", DetectorConfig())
    events = feed(det, calm + shifted)
    fired = [i for i, t in events if t == "firing"]
    resolved = [i for i, t in events if t == "resolved"]
    assert fired and resolved and resolved[0] - fired[0] <= DetectorConfig().max_firing_minutes + 15
    assert len(fired) <= 2  # the new level is learned, not paged every hour
    assert det.baseline is not None and det.baseline > 0.4


def test_an_hour_of_the_day_seen_on_one_day_is_that_days_level_not_a_known_fact() -> None:
    """A busy topic's second day: three hours at 2.4 times the tweets of the same hours yesterday, at the usual
    share. One day says little about an hour's level (real hours vary ±40 %), so no alert. The same three
    hours after a month of days like the first are a real jump in volume, and fire."""
    day = [(100, 25)] * 1440
    busy = [(240, 60) if 600 <= i < 780 else (100, 25) for i in range(1440)]  # 10:00-13:00, 2.4x
    young = Detector("t", DetectorConfig())
    assert not feed(young, day + busy)
    old = Detector("t", DetectorConfig())
    assert [t for _, t in feed(old, day * 30 + busy)][:1] == ["firing"]
    # the profile's own variance falls with the days it rests on, to the weighted mean's floor
    seen = [young.state.volume.uncertainty(T0.replace(hour=10)), old.state.volume.uncertainty(T0.replace(hour=10))]
    assert seen[0] > 3 * seen[1] > 0


def test_a_new_topic_borrows_the_day_shape_of_the_mature_ones() -> None:
    """A mature topic with a deep day: a new topic started at night expects the morning rise instead of
    taking it for a bad buzz."""
    mature = Detector("brand", DetectorConfig())
    feed(mature, field_week(200, 0.3, seed=2, weeks=2.0))
    prior = TopicPrior.pool([mature.state.volume], [mature.state.dispersion.phi])
    assert prior is not None and prior.topics == 1
    assert max(prior.day_shape) / min(prior.day_shape) > 5  # the deep day was learned
    assert prior.to_json() == TopicPrior.from_json(prior.to_json()).to_json()  # type: ignore[union-attr]
    assert TopicPrior.pool([VolumeBaseline()], [1.0]) is None  # nothing mature, nothing to borrow

    night = datetime(2026, 2, 2, 1, tzinfo=UTC)
    new = Detector("new", DetectorConfig(), prior=prior)
    alone = Detector("new", DetectorConfig())
    for i in range(120):  # two quiet night hours
        for det in (new, alone):
            det.observe(night + timedelta(minutes=i), 1, 0 if i % 3 else 1)
    afternoon = night.replace(hour=15)
    with_prior, without = new.state.volume.expected(afternoon), alone.state.volume.expected(afternoon)
    assert with_prior is not None and without is not None and with_prior > 3 * without
    assert "day shape of 1 other topic" in new.state.history_note()


def test_a_borrowed_shape_gives_a_steady_level_from_the_quiet_hours() -> None:
    """The level under a borrowed day shape is a ratio of sums (the counts' maximum likelihood): a night
    minute's one negative over a shape of 0.05 must not count as twenty. Six hours from 01:00 of a topic whose
    negatives follow the shape in expectation (about 45 of them): the level learned is near the true one on
    every seed; averaging each minute's ratio missed by more than half on some."""
    import random

    shape = [0.05] * 6 + [0.5, 1.0, 1.5, 2.0, 2.0, 2.0, 1.8, 1.6, 1.6, 1.6, 1.8, 2.0, 1.8, 1.2, 0.8, 0.5, 0.2, 0.1]
    start = datetime(2026, 2, 2, 1, tzinfo=UTC)
    true_level = 1.0  # negatives a minute at a shape of 1
    c = DetectorConfig()  # the detector's own learning rates, as Detector.observe passes them
    errors = []
    for seed in range(12):
        rng = random.Random(seed)
        vol = VolumeBaseline(prior_shape=shape)
        for i in range(360):
            minute = start + timedelta(minutes=i)
            lam = true_level * shape[minute.hour]
            count = sum(1 for _ in range(20) if rng.random() < lam / 20)  # binomial(20, lam/20) ~ Poisson(lam)
            vol.observe(minute, count, True, day_weight=c.day_weight, week_weight=c.week_weight,
                        level_decay=0.5 ** (1 / c.level_halflife_minutes), dispersion_weight=c.dispersion_weight,
                        min_inv_size=c.min_inv_size, max_inv_size=c.max_inv_size)
        assert vol.shaped_level is not None
        errors.append(abs(vol.shaped_level / true_level - 1))
    assert max(errors) < 0.5, [round(e, 2) for e in errors]


def test_a_seeded_state_keeps_its_baselines_and_starts_afresh_in_time() -> None:
    det = Detector("t", DetectorConfig())
    feed(det, field_week(200, 0.5, seed=3, weeks=1.0))
    seeded = det.state.seeded("history.csv")
    assert seeded.last_minute is None and not seeded.recent and seeded.status == "ok"
    assert seeded.share.k == det.state.share.k and seeded.volume.day == det.state.volume.day
    assert "seeded from history.csv" in seeded.history_note()
    again = TopicState.from_json(seeded.to_json())
    live = Detector("t", DetectorConfig(), again)
    ev = live.observe(T0 + timedelta(days=30), 5, 2)  # a month later: no walk through the gap
    assert ev.baseline is not None and math.isfinite(ev.baseline)


def test_cold_start_cells_measure_only_the_first_days() -> None:
    cell = Cell(200, 0.5, (1,), 1.0, LabelNoise(), DetectorConfig(), FieldProfile(), None, ("ours",), 6.0, True)
    report = measure_cell(cell)["ours"]
    assert report.episodes >= 1
    assert 0 < report.clean_weeks < 2 * 3.0 / 7 + 0.01  # two histories of three scored days at most


def binomial_minutes(rng: np.random.Generator, minutes: int, n: int, share: float) -> list[tuple[int, int]]:
    return [(n, int(rng.binomial(n, share))) for _ in range(minutes)]


def test_a_mostly_negative_brand_gets_one_alert_for_a_six_hour_episode_not_one_an_hour() -> None:
    """A 75 %-negative brand whose odds double for six hours (share 0.857: 1.14 times its usual, under the old
    resolve bar of 1.15 in share). The alert must stay open while the share stays up; with a share-ratio bar it
    resolved ten minutes after firing and fired again after each cooldown (measured before the fix: 5 alerts)."""
    rng = np.random.default_rng(3)
    calm = binomial_minutes(rng, 2 * 1440, 300, 0.75)
    episode = binomial_minutes(rng, 360, 300, 6 / 7)
    after = binomial_minutes(rng, 360, 300, 0.75)
    events = feed(Detector("t", DetectorConfig()), calm + episode + after)
    firing = [i for i, t in events if t == "firing" and 2 * 1440 <= i < 2 * 1440 + 420]
    assert len(firing) == 1, events
    # the old behaviour: a resolve bar the episode does not clear (its odds are x2) and no minimum duration
    old = DetectorConfig(resolve_odds_ratio=2.1, keep_firing_minutes=0)
    flapping = [i for i, t in feed(Detector("t", old), calm + episode + after) if t == "firing"]
    assert len(flapping) >= 3, flapping


def test_a_spike_of_mentions_and_its_tail_do_not_teach_the_usual_share() -> None:
    """Three hours of five times the tweets at a fifth of the share (a campaign), then two hours at the usual
    volume but still far below the usual share (the tail): afterwards the usual share is where it was. A detector
    that learns from them (mention spikes not recognised without extra negatives, low minutes at full weight)
    loses several points, and its next hours at the old share look like a bad buzz."""
    def run(config: DetectorConfig) -> tuple[float, float]:
        rng = np.random.default_rng(5)
        det = Detector("t", config)
        feed(det, binomial_minutes(rng, 2 * 1440, 100, 0.6))
        before = det.baseline
        feed(det, binomial_minutes(rng, 180, 500, 0.15) + binomial_minutes(rng, 120, 100, 0.3)
             + binomial_minutes(rng, 180, 100, 0.6), start=2 * 1440)
        assert before is not None and det.baseline is not None
        return before, det.baseline

    before, after = run(DetectorConfig())
    assert abs(after - before) < 0.02, (before, after)
    before, after = run(DetectorConfig(mention_min_ratio=1e9, low_weight=1.0, suspect_weight=1.0))
    assert before - after > 0.05, (before, after)


def test_one_odd_hour_moves_its_hour_of_the_day_by_a_bounded_step() -> None:
    from badbuzz.stream.detection.baselines import ShareBaseline

    base = ShareBaseline()
    base.learn_hour(3, 10_000, 1_000, 0.5)  # an hour at 10 % against a usual 50 %: -2.2 logits
    assert -0.125 - 1e-9 <= base.hour_logit[3] < -0.12  # a quarter of the 0.5 step, not of -2.2
    base.learn_hour(3, 10_000, 1_000, 0.5, max_step=5.0)
    assert base.hour_logit[3] < -0.6


def test_a_new_busy_topic_stays_quiet_in_the_morning_whether_it_borrows_the_daily_swing_or_allows_for_it() -> None:
    """A busy 75 %-negative brand whose share rises from night to afternoon (the simulator's ±10 %, 0.56 to
    0.66 in the served model's labels: odds x1.5, over the firing floor). A new topic started at 06:00 learns
    its share from the night. Taking its unlearned hours' offsets for exact (``share_swing_logit`` 0) and
    borrowing only the day shape, its first morning pages; borrowing the share's daily swing too, or counting
    each young hour's unknown offset in the test (the default), it does not. Measured on twenty cold starts
    (seeds 1-20), before the allowance existed: 17 false share alerts in the first day against 3; these ten:
    8 against 2, and 0 with the allowance, borrowed swing or not."""
    mature = Detector("brand", DetectorConfig())
    feed(mature, field_week(20000, 0.75, seed=9, weeks=2.0))
    prior = TopicPrior.pool([mature.state.volume], [mature.state.dispersion.phi], [mature.state.share.hour_logit])
    assert prior is not None and prior.share_hours is not None
    assert prior.share_hours[14] - prior.share_hours[3] > 0.25  # afternoons angrier than nights, in log-odds
    assert TopicPrior.from_json(prior.to_json()) == prior
    without_swing = TopicPrior(prior.topics, prior.day_shape, prior.inv_size, prior.phi)

    def first_day_share_alerts(p: TopicPrior, config: DetectorConfig) -> int:
        alerts = 0
        for seed in range(1, 11):
            week = simulate(20000, seed=seed, weeks=1.25 / 7, warmup_days=0.25, base_share=0.75, with_episodes=False,
                            field=FieldProfile(), noise=LabelNoise())
            det = Detector("new", config, prior=p)
            for i, (minute, n, k) in enumerate(week.counts()):
                ev = det.observe(minute, n, k)
                alerts += ev.transition == "firing" and ev.strongest.signal == "share" and i >= week.eval_start
        return alerts

    exact = DetectorConfig(share_swing_logit=0.0)
    borrowed, not_borrowed = first_day_share_alerts(prior, exact), first_day_share_alerts(without_swing, exact)
    assert 2 * borrowed < not_borrowed and not_borrowed >= borrowed + 4, (borrowed, not_borrowed)
    allowed = first_day_share_alerts(without_swing, DetectorConfig())
    assert allowed <= borrowed and 2 * allowed < not_borrowed, (allowed, borrowed, not_borrowed)
    assert first_day_share_alerts(prior, DetectorConfig()) <= borrowed


def test_scoring_counts_an_episode_covered_by_an_open_alert_as_found_without_a_time_to_detect() -> None:
    from badbuzz.stream.simulation.simulation import SimEpisode
    from badbuzz.stream.simulation.tiers import Fired, TierReport, score_episodes

    surge = SimEpisode("surge", 600, 60, 1.0, 4.0, True, 9.0)
    turn = SimEpisode("share", 666, 180, 2.0, 1.0, True, 7.0)  # begins six minutes after the surge ends
    late = SimEpisode("share", 2000, 60, 2.0, 1.0, True, 6.0)
    later = SimEpisode("share", 4000, 60, 2.0, 1.0, True, 6.0)
    week = SimWeek(200.0, T0, 5000, 0, (surge, turn, late, later), np.zeros(5000), np.zeros(5000))
    alerts = [Fired(T0 + timedelta(minutes=603), T0 + timedelta(minutes=760)),  # open well into the turn
              Fired(T0 + timedelta(minutes=1990), T0 + timedelta(minutes=2010)),  # fired before `late`, shut early
              Fired(T0 + timedelta(minutes=3000))]  # never resolves, but fired 16 h before `later`: covers nothing
    report = TierReport()
    score_episodes(week, alerts, report)
    assert (report.targets, report.targets_detected, report.covered) == (4, 2, 1)
    assert report.ttd == [3.0]  # the surge's; the covered turn has none
    assert report.false_alerts == 2  # the one that closed ten minutes into `late`, and the one always on
    assert report.ttd_by_shape == {"surge": [3.0]}


def test_an_hour_of_the_day_not_yet_learned_widens_the_share_test_until_it_is() -> None:
    """Each hour's offset starts unknown (1), shrinks by (1 - w)^2 per day learned, and a state saved before the
    field existed counts as learned; the same busy hour, 5 points over the usual, is far less significant while
    the hour is young, and next to nothing of the allowance is left once it has been learned for two weeks."""
    from badbuzz.stream.detection.baselines import ShareBaseline

    base = ShareBaseline()
    assert base.unknown(9) == 1.0
    base.learn_hour(9, 20_000, 11_000, 0.5)  # w = 0.25 * 20000 / 20100
    w = 0.25 * 20_000 / 20_100
    assert math.isclose(base.hour_unknown[9], (1 - w) ** 2)
    assert math.isclose(base.unknown(9), 0.5 * (1 - w) ** 2 + 0.5)  # the neighbours are still unknown
    assert ShareBaseline.from_json({"k": 1.0, "n": 2.0}).hour_unknown == [0.0] * 24
    assert ShareBaseline.from_json(base.to_json()).hour_unknown == base.hour_unknown

    def p_of(days_learned: int) -> float:
        det = Detector("t", DetectorConfig())
        minute = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)
        for _ in range(6 * 60):  # six quiet hours at 20,000 tweets an hour, 50 % negative
            det.observe(minute, 333, 167)
            minute += timedelta(minutes=1)
        for _ in range(days_learned):
            for h in range(24):
                det.state.share.learn_hour(h, 20_000, 10_000, 0.5)
        for _ in range(60):  # then an hour at 55 %
            ev = det.observe(minute, 333, 183)
            minute += timedelta(minutes=1)
        return min(t.p_value for t in ev.tests if t.signal == "share" and t.minutes == 60)

    young, settled = p_of(0), p_of(14)
    assert young > 1e3 * settled, (young, settled)
    assert settled < 2 * p_of(30)  # two weeks in, next to nothing of the allowance is left


def test_an_hour_of_the_day_never_seen_is_a_rough_guess_of_the_volume() -> None:
    """Without a borrowed day shape, a topic's first morning is compared with its night's level: the hour's
    expected count carries a relative variance of 0.6 (±77 %), a borrowed shape 0.1, a seen hour neither."""
    from badbuzz.stream.detection.baselines import UNSEEN_HOUR_VARIANCE

    vol = VolumeBaseline()
    morning = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    alone = vol.uncertainty(morning)
    vol.prior_shape = [1.0] * 24
    borrowed = vol.uncertainty(morning)
    assert UNSEEN_HOUR_VARIANCE == 0.6 and math.isclose(alone - borrowed, 0.5)
    vol.day[9] = 0.5
    vol.day_seen[9] = 60
    assert vol.uncertainty(morning) < borrowed - 0.09
