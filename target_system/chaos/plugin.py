"""SecureConnect's probe plugin, the `chaosgate.probes` entry point `secureconnect`
(target_system/pyproject.toml): its flows by feature and its ledger writers by name."""

from __future__ import annotations

from collections.abc import Callable

from chaosgate.probes.plugin import LedgerWriter, ProbePlugin
from target_system.chaos.probes import (
    chat_ws,
    history,
    login,
    me,
    poll,
    presence,
    push_notify,
    push_register,
    refresh,
    register,
    send,
    setup,
    storage_download,
    storage_upload,
    video_call,
    video_signal,
)
from target_system.chaos.writers import (
    CallRecords,
    ChatMessages,
    FileUploads,
    PollVotes,
    PushNotifications,
    Sessions,
)


def plugin() -> ProbePlugin:
    """The entry point: SecureConnect's probes by feature and its ledger writers by name."""
    writers: dict[str, Callable[[], LedgerWriter]] = {
        "chat.messages": ChatMessages,
        "poll.votes": PollVotes,
        "sessions": Sessions,
        "push.notifications": PushNotifications,
        "video.calls": CallRecords,
        "storage.files": FileUploads,
    }
    return ProbePlugin(
        setup=setup,
        probes={
            "auth.register": register,
            "auth.login": login,
            "auth.refresh": refresh,
            "auth.me": me,
            "chat.send": send,
            "chat.history": history,
            "chat.ws": chat_ws,
            "chat.poll": poll,
            "presence": presence,
            "video.call": video_call,
            "video.signal": video_signal,
            "storage.upload": storage_upload,
            "storage.download": storage_download,
            "push.register": push_register,
            "push.notify": push_notify,
        },
        writers=writers,
    )
