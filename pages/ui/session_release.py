"""Release what an ended browser session holds on the server.

Streamlit keeps a disconnected session for `server.disconnectedSessionTTL` seconds (120 by default) so a tab
that reconnects gets it back. Then its MemorySessionStorage (Streamlit 1.67) forgets the session without shutting
it down, and only when the storage is next written: AppSession.shutdown never runs, so that session's uploaded
files (UploadedFileManager, held in server RAM) and its media files (images and downloads the pages drew,
MediaFileManager) stay in memory until the server stops. A closed session's st.session_state goes with the
AppSession object.

`release_ended_sessions` starts, once per server, a thread that every few seconds asks Streamlit's event loop to
reap the expired sessions and shut each down as Streamlit does a session it closes itself (uploads removed, media
references cleared). It reads Streamlit internals (Runtime._session_mgr, its session storage's TTL cache and
storage lock): where they differ, e.g. in AppTest or a later Streamlit, it changes nothing and returns False.
"""
from __future__ import annotations

import threading
import time

import streamlit as st

REAP_AT_MOST_EVERY_S = 30.0


@st.cache_resource(show_spinner=False)
def release_ended_sessions() -> bool:
    """Start the reaper (once per server process); whether it runs."""
    try:
        from streamlit import config
        from streamlit.runtime import Runtime

        runtime = Runtime.instance()
        manager = runtime._session_mgr
        cache = manager._session_storage._cache
        lock = manager._storage_lock
        loop = runtime._get_async_objs().eventloop
        if not callable(getattr(cache, "expire", None)) or not callable(getattr(manager, "is_active_session", None)):
            return False
        every_s = min(REAP_AT_MOST_EVERY_S, max(1.0, config.get_option("server.disconnectedSessionTTL") / 2))
    except Exception:  # noqa: BLE001  (no runtime, e.g. AppTest; or other internals)
        return False

    def reap() -> None:  # on Streamlit's event loop, where it shuts sessions down itself
        with lock:
            expired = cache.expire()
        for session_id, info in expired:
            if not manager.is_active_session(session_id):
                info.session.shutdown()

    def every_few_seconds() -> None:
        while not loop.is_closed():
            time.sleep(every_s)
            try:
                loop.call_soon_threadsafe(reap)
            except RuntimeError:  # the loop closed: the server is stopping
                return

    threading.Thread(target=every_few_seconds, name="medlab-session-release", daemon=True).start()
    return True
