"""`status`: what is mirrored, encoded, published and queued here, and what the gateway still holds."""

from __future__ import annotations

from picturetime_client import GatewayError
from picturetime_sync.capture import queued_files
from picturetime_sync.console import EXIT_ERROR, EXIT_OK, say
from picturetime_sync.settings import SyncSettings
from picturetime_sync.state import StateDB


def show_status(settings: SyncSettings, *, offline: bool = False) -> int:
    """Print the local state, then (unless offline) the gateway's side."""
    show_local(settings)
    if offline:
        return EXIT_OK
    gateway = settings.gateway_url.strip()
    if not gateway or not settings.api_key:
        say("gateway      not configured (run `picturetime-sync login`)")
        return EXIT_OK
    with settings.connect() as client:
        try:
            page = client.pending(limit=1000)
            latest = client.latest_timelapse()
        except GatewayError as exc:
            say(f"gateway      {gateway}: {gateway_hint(exc)}")
            return EXIT_ERROR
    more = "+" if page.more else ""
    say(f"gateway      {gateway}")
    say(f"pending      {len(page.frames)}{more} frame(s) waiting to be mirrored")
    if latest:
        say(f"online       version {latest.version} ({latest.frames} frames)")
    else:
        say("online       no timelapse published yet")
    return EXIT_OK


def show_local(settings: SyncSettings) -> None:
    """Frames, the last encode and publish, capture events and the capture queue."""
    data_dir = settings.dir
    if data_dir is None:
        say("no data folder configured (--dir, PT_SYNC_DIR or `login --dir`)")
        return
    say(f"data folder  {data_dir}")
    if (data_dir / "state.db").exists():
        with StateDB(data_dir / "state.db") as state:
            count, acked, first, last = state.frame_summary()
            span = f", {first[:10]} .. {last[:10]}" if first and last else ""
            say(f"mirrored     {count} frames ({acked} acknowledged{span})")
            enc = state.last_encode()
            if enc:
                say(
                    f"encoded      {enc.frames} frames, {enc.duration:.1f} s at {enc.encoded_at} -> {enc.path}"
                )
            pub = state.last_publish()
            if pub:
                say(f"published    version {pub.version} ({pub.frames} frames) at {pub.published_at}")
            else:
                say("published    nothing yet")
            for kind, label in (("captured", "last capture"), ("error", "last error")):
                event = state.last_capture_event(kind)
                if event:
                    say(f"{label:<12} {event[0]} {event[1]}")
    else:
        say("mirrored     nothing yet (no state.db)")
    queued = queued_files(data_dir / "capture-queue")
    if queued:
        say(f"capture queue {len(queued)} image(s) waiting for upload")


def gateway_hint(exc: GatewayError) -> str:
    """The error, with what to check when the key was refused."""
    if exc.fatal:
        return f"{exc} - check the API key"
    return str(exc)
