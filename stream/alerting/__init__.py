"""Bad-buzz detection as pure logic: windows, baselines, significance tests, the detector, explanations.

Nothing here talks to a server: the live alerter (``badbuzz.services``), the backtest and the simulations
feed the same classes the same minute counts, so what a backtest shows is what production would do.
"""
