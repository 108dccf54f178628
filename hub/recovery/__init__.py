"""Recovery by sequence number (docs/recovery.md): what each station holds,
what the hub stored, and the replay requests that close the difference."""
