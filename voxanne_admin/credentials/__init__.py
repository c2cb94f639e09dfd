"""Provider credentials: stored encrypted at rest, rotated without downtime, their age watched."""
