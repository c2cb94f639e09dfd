"""Disaster recovery: WAL streaming, base and logical backups, verification, restore drills."""
