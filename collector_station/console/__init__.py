"""The bench operator's console: a Spanish touch screen served by the station.

`view.py` turns the station's state into what the screen shows (pure);
`live.py` reads that state from a running Station and pushes changes to the
open pages; `app.py` is the Starlette application (one page, server-sent
events, one handler per operator action); `server.py` runs it with uvicorn
in a thread of the station process. The intake logic itself stays in the
station (one state machine, two faces: this screen and the keypad on
standard input). See docs/console.md.
"""
