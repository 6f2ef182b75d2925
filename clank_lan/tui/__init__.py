"""The operator console: a Textual app in a process of its own, and the engine's end of its line.

``clank-lan serve`` starts the console on its terminal (``spawn``) and serves it (``host``: polls,
commands, the quit); ``clank-lan attach`` starts the same console for a headless appliance. The
engine's side (``host``, ``view``, ``feed``, ``wire``, ``rows``, ``tournament``) never imports
Textual; only the console's side (``app``, ``attach``) does.

Why a process of its own: an organiser's laptop runs a whole LAN party, and the screen's layout
and drawing then cost the servers nothing: in a login storm, keys no longer wait behind the
servers' work, and the games never wait behind a repaint. If the screen itself fails (a bug in a
dialog), the consoles must not be dropped: the console's process ends with ``UI_FAILED``, its
traceback goes to the log file, and the servers keep running headless until Ctrl+C.
"""

#: Exit status after the screen failed and the servers then ran on headless until stopped.
UI_FAILED = 3
