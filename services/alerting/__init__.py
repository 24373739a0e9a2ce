"""The alert service and its delivery channels: the loop that runs the detector on the stored rollups, the
store it reads and writes, leader election, and every channel (Redis, webhooks, console, file) behind one
contract, delivered from a transactional outbox (see ``channels.py``). The pure logic is in
``badbuzz.stream.detection``.
"""
