"""The hub's producers: the authoritative registry (`registry.py`), a
producer's balance and history (`history.py`), and the officer's commands
over them and over advances (`commands.py`)."""
