"""What each page shows, shaped from engine calls (no engine logic here: it calls zone_explorer and optimizers)."""
