"""Lightweight simulated MedLab users that speak Streamlit's own websocket protocol (no browser).

Used by bench/workshop_load.py (thirty participants) and tests/e2e/test_workshop_load.py (four). A browser per
participant would measure chromium on a 2-core machine, not the server; no maintained load-testing tool speaks
Streamlit's protocol (Streamlit's own load tests drive Playwright; Locust has no Streamlit user), so this is a
small client built on the `websockets` package and Streamlit's own protobuf classes (streamlit.proto):

- connect to ws://host/_stcore/stream (subprotocol "streamlit", the participant's cookies in the handshake, as a
  browser sends them; st.context.cookies reads them);
- a rerun is a BackMsg `rerun_script` carrying a ClientState (query string, page_script_hash, widget states); the
  server answers with ForwardMsgs (new_session, navigation, deltas, auto_rerun, ...) until `script_finished`;
- widgets are found by their user key: a keyed widget's element id ends with "-<key>" (Streamlit's
  compute_and_register_element_id); a button press is a `trigger_value`, a selectbox a `string_value` (the
  option as drawn), a number input a `double_value`/`int_value`;
- `st.fragment(run_every=...)` makes the server send `auto_rerun` (interval, fragment id); the browser's timer
  then asks for fragment reruns, and `watch` does the same, so watching a run costs the server what a browser
  watching it costs.

Timing: `rerun` returns the seconds from sending the BackMsg to the `script_finished` of that run (a script run
interrupted by st.rerun() is followed to the end of the run that replaced it).
"""
from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import websockets
from streamlit.proto.BackMsg_pb2 import BackMsg
from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

def run_async(coroutine: Any) -> Any:
    """asyncio.run(coroutine) on a thread of its own, returning its result or raising its error.

    In the test session Playwright's sync API keeps an event loop running on the main thread once a browser test
    has run, and asyncio.run refuses to start a second loop there."""
    outcome: dict[str, Any] = {}

    def target() -> None:
        try:
            outcome["result"] = asyncio.run(coroutine)
        except BaseException as error:  # handed back to the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=target, name="load-clients")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]


FINISHED = ForwardMsg.ScriptFinishedStatus
FULL_RUN_ENDS = (FINISHED.FINISHED_SUCCESSFULLY, FINISHED.FINISHED_WITH_COMPILE_ERROR)


@dataclass
class Widget:
    id: str
    kind: str                      # the element's proto field: "button", "selectbox", "number_input", ...
    label: str
    options: list[str] = field(default_factory=list)


@dataclass
class Interaction:
    what: str                      # e.g. "open train", "start", "fragment"
    start: float                   # time.time() when the BackMsg was sent
    seconds: float                 # until script_finished


class StreamlitClient:
    """One browser tab's worth of Streamlit session, driven from asyncio.

    `base_url`: http://host:port; `cookies`: name -> value sent in the websocket handshake."""

    def __init__(self, base_url: str, cookies: dict[str, str] | None = None, timeout_s: float = 300.0) -> None:
        self.ws_url = base_url.replace("http://", "ws://").replace("https://", "wss://").rstrip("/") + "/_stcore/stream"
        self.cookies = dict(cookies or {})
        self.timeout_s = timeout_s
        self.pages: dict[str, str] = {}            # url_pathname ("" = home) -> page_script_hash
        self.page_hash = ""
        self.widgets: dict[str, Widget] = {}        # user key -> widget, as drawn by the latest runs
        self.fragments: dict[str, float] = {}       # fragment id -> auto-rerun interval (s)
        self._due: dict[str, float] = {}            # fragment id -> when its timer fires next (monotonic s)
        self.exceptions: list[str] = []             # st.exception / uncaught errors the server drew
        self.texts: list[str] = []                  # markdown, alerts and headings of the latest full run
        self.media_urls: list[str] = []             # /media/... images the server drew for this session
        self.interactions: list[Interaction] = []
        self.messages = 0
        self._ws: Any = None
        self._reader: asyncio.Task | None = None
        self._finished: asyncio.Queue[int] = asyncio.Queue()
        self._lock = asyncio.Lock()                 # one script run at a time, as the browser does

    # --- connection ------------------------------------------------------------------------------------------
    async def connect(self) -> None:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items())} if self.cookies else {}
        self._ws = await websockets.connect(self.ws_url, subprotocols=["streamlit"], additional_headers=headers,
                                            max_size=None, open_timeout=self.timeout_s, ping_interval=None)
        self._reader = asyncio.create_task(self._read())

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):
                pass

    # --- what the user does ----------------------------------------------------------------------------------
    async def open(self, path: str = "") -> float:
        """Open a page by its URL path ("" = Home, "dataset", "train"), as a click in the navigation does."""
        if path and path not in self.pages and not self.pages:
            await self.rerun("open home")  # the first run sends the navigation (page hashes)
        page_hash = self.pages.get(path, "")
        if path and not page_hash:
            raise RuntimeError(f"no page {path!r}; the server has {sorted(self.pages)}")
        return await self.rerun(f"open {path or 'home'}", page_hash=page_hash, keep_widgets=False)

    async def set(self, key: str, value: Any, what: str | None = None) -> float:
        """Change a widget (by its user key) and rerun, as the browser does after an edit."""
        return await self.rerun(what or f"set {key}", widgets={key: value})

    async def click(self, key: str, what: str | None = None, widgets: dict[str, Any] | None = None) -> float:
        """Press a button (by its user key), with other widget values sent along."""
        return await self.rerun(what or f"click {key}", widgets=widgets, trigger=key)

    async def rerun(self, what: str, page_hash: str | None = None, widgets: dict[str, Any] | None = None,
                    trigger: str | None = None, keep_widgets: bool = True, fragment_id: str = "") -> float:
        async with self._lock:
            message = BackMsg()
            state = message.rerun_script
            state.query_string = ""
            if page_hash is not None:
                self.page_hash = page_hash
            state.page_script_hash = self.page_hash
            if fragment_id:
                state.fragment_id = fragment_id
                state.is_auto_rerun = True
            for key, value in (widgets or {}).items():
                self._widget_state(state.widget_states.widgets.add(), key, value)
            if trigger:
                proto = state.widget_states.widgets.add()
                proto.id = self.widget(trigger).id
                proto.trigger_value = True
            if not fragment_id:
                self.fragments.clear()  # a full run re-registers its fragments' timers
                self.texts = []
                if not keep_widgets:
                    self.widgets.clear()
            while not self._finished.empty():
                self._finished.get_nowait()
            start_wall, start = time.time(), time.perf_counter()
            await self._ws.send(message.SerializeToString())
            wanted = (FINISHED.FINISHED_FRAGMENT_RUN_SUCCESSFULLY,) if fragment_id else FULL_RUN_ENDS
            while True:
                status = await asyncio.wait_for(self._finished.get(), self.timeout_s)
                if status in wanted or (fragment_id and status in FULL_RUN_ENDS):
                    break
            seconds = time.perf_counter() - start
            self.interactions.append(Interaction(what, start_wall, seconds))
            return seconds

    async def tick(self) -> int:
        """Rerun the fragments whose timers are due (as an open browser tab does); returns how many ran."""
        now = time.monotonic()
        count = 0
        for fragment_id in [f for f in self._due if f not in self.fragments]:
            del self._due[fragment_id]
        for fragment_id, interval in list(self.fragments.items()):
            if now >= self._due.setdefault(fragment_id, now + interval):
                self._due[fragment_id] = now + interval
                await self.rerun("fragment", fragment_id=fragment_id)
                count += 1
        return count

    async def watch(self, until, poll_s: float = 0.25, timeout_s: float = 900.0) -> int:
        """Let the page's fragments rerun on their own timers until `until()` is true. Returns how many ran."""
        deadline = time.monotonic() + timeout_s
        count = 0
        while not until():
            if time.monotonic() > deadline:
                raise TimeoutError("watched for too long")
            count += await self.tick()
            await asyncio.sleep(poll_s)
        return count

    def widget(self, key: str) -> Widget:
        if key not in self.widgets:
            raise KeyError(f"no widget with key {key!r} on the page; drawn: {sorted(self.widgets)}")
        return self.widgets[key]

    # --- protocol details ------------------------------------------------------------------------------------
    def _widget_state(self, proto: Any, key: str, value: Any) -> None:
        widget = self.widget(key)
        proto.id = widget.id
        if widget.kind in ("selectbox", "radio"):
            if widget.kind == "radio":
                proto.int_value = [o for o in widget.options].index(value) if isinstance(value, str) else int(value)
            else:  # the option as drawn: an exact match, else the first that starts with `value`
                text = str(value)
                proto.string_value = text if text in widget.options else next(
                    (o for o in widget.options if o.startswith(text)), text)
        elif widget.kind == "number_input":
            proto.double_value = float(value)
        elif widget.kind in ("checkbox", "toggle"):
            proto.bool_value = bool(value)
        elif isinstance(value, str):
            proto.string_value = value
        else:
            raise ValueError(f"cannot set a {widget.kind} from {value!r}")

    async def _read(self) -> None:
        async for data in self._ws:
            message = ForwardMsg()
            message.ParseFromString(data)
            self.messages += 1
            kind = message.WhichOneof("type")
            if kind == "navigation":
                self.pages = {page.url_pathname: page.page_script_hash for page in message.navigation.app_pages}
                if message.navigation.page_script_hash:
                    self.page_hash = message.navigation.page_script_hash
            elif kind == "new_session" and message.new_session.page_script_hash:
                self.page_hash = message.new_session.page_script_hash
            elif kind == "delta":
                self._delta(message.delta)
            elif kind == "auto_rerun":
                self.fragments[message.auto_rerun.fragment_id] = max(0.1, message.auto_rerun.interval)
            elif kind == "stop_auto_rerun":
                self.fragments.pop(message.stop_auto_rerun.fragment_id, None)
            elif kind == "script_finished":
                self._finished.put_nowait(message.script_finished)

    def _delta(self, delta: Any) -> None:
        if delta.WhichOneof("type") != "new_element":
            return
        element = delta.new_element
        kind = element.WhichOneof("type")
        if kind is None:
            return
        proto = getattr(element, kind)
        if kind == "exception":
            self.exceptions.append(f"{proto.type}: {proto.message}")
            return
        if kind == "imgs":
            self.media_urls += [image.url for image in proto.imgs if image.url.startswith("/media/")]
        if kind in ("markdown", "alert", "heading") and hasattr(proto, "body"):
            self.texts.append(proto.body)
        element_id = getattr(proto, "id", "") if hasattr(proto, "id") else ""
        if element_id.startswith("$$ID-"):
            key = element_id.split("-", 2)[-1]  # "$$ID-<hash>-<user key>"; "None" for a widget without a key
            label = getattr(proto, "label", "") if hasattr(proto, "label") else ""
            options = list(getattr(proto, "options", [])) if hasattr(proto, "options") else []
            self.widgets[key if key != "None" else f"label:{label}"] = Widget(element_id, kind, label, options)


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by linear interpolation between closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# --- a workshop participant -----------------------------------------------------------------------------------
TINY_RECIPE = {"dataset": "Chest phantom 28 px", "epochs": 1, "batch_size": 32}  # small_cnn: the form's default
LIVE = ("queued", "running", "stopping")


@dataclass
class Participant:
    """What one simulated participant did: its workspace, its runs (ids) and its session's interactions."""
    name: str
    via_form: bool
    workspace: str = ""
    run_ids: list[str] = field(default_factory=list)
    client: StreamlitClient | None = None


def workshop_secrets(join_code: str = "load-join-1", admin_code: str = "load-admin-1", max_queued_runs: int = 0
                     ) -> str:
    """A secrets.toml for a workshop server (no per-run caps; `max_queued_runs` 0 = no limit)."""
    return (f'[workshop]\njoin_code = "{join_code}"\nadmin_code = "{admin_code}"\n'
            f"max_queued_runs = {max_queued_runs}\n")


def join_token(home, name: str, secrets_toml: str) -> tuple[str, str]:
    """Join through core.access.sessions.SessionStore.join, the function the join form calls: (token, workspace)."""
    import tomllib

    from core.access.config import access_config
    from core.access.sessions import SessionStore

    secrets = tomllib.loads(secrets_toml)
    token, identity = SessionStore(home).join(name, secrets["workshop"]["join_code"], access_config(secrets))
    return token, identity.workspace


async def participant_session(base_url: str, home, secrets_toml: str, participant: Participant, runs: int,
                              store, browse_every_s: float = 8.0, recipe: dict[str, Any] | None = None,
                              timeout_s: float = 1800.0) -> Participant:
    """Join (through the join form's widgets, or with a cookie from SessionStore.join), open Dataset and Train,
    pick the tiny recipe on the Train form, press Start `runs` times and watch until the runs end: the page's
    fragments rerun on their timers, and every `browse_every_s` the participant opens Dataset or Train again."""
    import tomllib

    from core.access.sessions import SESSION_COOKIE, SessionStore

    recipe = {**TINY_RECIPE, **(recipe or {})}
    cookies = {}
    if not participant.via_form:
        token, participant.workspace = join_token(home, participant.name, secrets_toml)
        cookies[SESSION_COOKIE] = token
    client = participant.client = StreamlitClient(base_url, cookies)
    await client.connect()
    try:
        await client.open("")
        if participant.via_form:
            code = tomllib.loads(secrets_toml)["workshop"]["join_code"]
            await client.rerun("join", widgets={"label:Display name": participant.name, "label:Join code": code},
                               trigger=next(k for k in client.widgets if k.startswith("FormSubmitter:join")))
            participant.workspace = next(p.workspace for p in SessionStore(home).participants()
                                         if p.display_name == participant.name)
        await client.open("dataset")
        await client.open("train")
        ready_by = time.monotonic() + timeout_s
        while "train-start" not in client.widgets:  # a new server still generating its built-in datasets
            if time.monotonic() > ready_by or client.exceptions:
                raise RuntimeError(f"{participant.name}: no Start button on the Train page; the page drew "
                                   f"{client.exceptions or sorted(client.widgets)}")
            await asyncio.sleep(2)
            await client.open("train")
        await client.set("dataset-picker", recipe["dataset"], "pick dataset")
        form = {"train-epochs": recipe["epochs"], "train-batch_size": str(recipe["batch_size"])}
        await client.rerun("set epochs", widgets=form)
        before = {r.id for r in store.list(participant.workspace)}
        for _ in range(runs):
            await client.click("train-start", "start", widgets=form)
        participant.run_ids = [r.id for r in store.list(participant.workspace) if r.id not in before]

        def ended() -> bool:
            return all(r.status not in LIVE for r in store.list(participant.workspace) if r.id in participant.run_ids)

        deadline = time.monotonic() + timeout_s
        pages = ["dataset", "train"]
        next_browse = time.monotonic() + browse_every_s
        while not ended():
            if time.monotonic() > deadline:
                states = [(r.id, r.status, r.message) for r in store.list(participant.workspace)]
                raise TimeoutError(f"{participant.name}: runs still live after {timeout_s:.0f} s: {states}")
            if time.monotonic() >= next_browse:
                await client.open(pages[0])
                pages.reverse()
                next_browse = time.monotonic() + browse_every_s
            await client.tick()
            await asyncio.sleep(0.25)
        if client.page_hash != client.pages.get("train"):
            await client.open("train")  # the finished runs, as the participant would look at them
    finally:
        await client.close()
    return participant


# --- fairness -------------------------------------------------------------------------------------------------
def launch_time(record) -> float | None:
    """When the job runner took a run from the queue: the store's `launched` (stamped by the runner), else its
    `started` (stamped by the worker a moment later)."""
    return getattr(record, "launched", None) or record.started


def start_order(records: list) -> list:
    """Runs in the order the job runner started them."""
    return sorted((r for r in records if launch_time(r) is not None), key=lambda r: (launch_time(r), r.created))


def round_robin_violations(records: list, margin_s: float = 0.2) -> list[str]:
    """Sentences for runs that started although a run of an earlier round was waiting (the issue's rule: a
    participant's second queued run never starts before every other participant's first).

    Judged from the store alone. When run s was launched (time d), the waiting runs were those submitted before d
    (less `margin_s`, the runner's own reading of the queue) and launched at d or later. A waiting run's round is
    the number of its workspace's runs launched since the earliest waiting submission or still running at d, plus
    its waiting runs submitted before it; s must have the lowest (round, submission time). Runs with a teacher's
    priority are left out."""
    ordered = start_order(records)
    problems = []
    for chosen in ordered:
        decided = launch_time(chosen)
        waiting = [r for r in records if r.created <= decided - margin_s
                   and (launch_time(r) is None or launch_time(r) >= decided)]
        waiting += [chosen] if chosen not in waiting else []
        if any(getattr(r, "priority", 0) for r in waiting):
            continue
        since = min(r.created for r in waiting)
        turns = [r for r in records if launch_time(r) is not None and launch_time(r) < decided
                 and (launch_time(r) >= since or r.finished is None or r.finished > decided)]

        def round_of(run) -> int:
            return (sum(r.workspace == run.workspace for r in turns)
                    + sum(r.workspace == run.workspace and r.created < run.created for r in waiting))

        mine = (round_of(chosen), chosen.created)
        ahead = [r for r in waiting if r is not chosen and (round_of(r), r.created) < mine]
        if ahead:
            problems.append(f"{chosen.workspace}'s run {chosen.id} (round {mine[0]}) started while "
                            f"{ahead[0].workspace}'s run {ahead[0].id} (round {round_of(ahead[0])}) waited")
    return problems


def order_text(records: list) -> str:
    """The start order as "workspace#n" (n: that workspace's n-th run by submission), e.g. "anna#1 ben#1 anna#2"."""
    ordinal = {}
    for workspace in {r.workspace for r in records}:
        mine = sorted((r for r in records if r.workspace == workspace), key=lambda r: r.created)
        ordinal.update({r.id: n for n, r in enumerate(mine, 1)})
    return " ".join(f"{r.workspace}#{ordinal[r.id]}" for r in start_order(records))
