"""Exceptions raised by kvopt; the CLI prints any ``KvoptError`` as one line and exits 2."""


class KvoptError(Exception):
    """Base class of every error kvopt raises on purpose."""


class InstanceError(KvoptError, ValueError):
    """An instance (or the file it came from) breaks the format or the model's rules."""


class ScheduleError(KvoptError):
    """A schedule breaks the model: arrival, memory limit or completion."""


class BackendUnavailableError(KvoptError):
    """A solver backend cannot be loaded."""
