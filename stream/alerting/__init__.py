"""Bad-buzz detection as pure logic: windows, baselines, significance tests, the detector, the alert event,
explanations, and the simulations and scoring that measure it.

Nothing here talks to a server: the live alerter (``badbuzz.services.alerting``), the backtest and the
simulations feed the same classes the same minute counts, so what a backtest shows is what production would do.
"""
