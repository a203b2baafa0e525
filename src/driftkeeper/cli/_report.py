"""`driftkeeper report` (placeholder until the monitor lands)."""
