"""Offline tools behind the command line: demo, benchmarks, replay, backtest, alert evaluation, model making."""
