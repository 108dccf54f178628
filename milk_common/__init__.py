"""Small pieces that the station and the hub share (errors, config loading)."""
