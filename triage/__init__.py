"""Triage: what a report is, which level and office must handle it, how urgent, whether it repeats.

Pure by rule: imports nothing of this project's and does no I/O after loading its data.
(The triage engine itself is built by its own issue; the pipeline already stores its fields.)
"""
