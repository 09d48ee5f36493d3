"""kvopt: hindsight-optimal and online scheduling of LLM inference under a KV-cache limit."""

from kvopt.exceptions import BackendUnavailableError, InstanceError, KvoptError, ScheduleError
from kvopt.instance import Instance
from kvopt.result import SolveResult, SolveStatus
from kvopt.schedule import Schedule
from kvopt.verify import Evaluation, verify

__version__ = "0.1.0"

__all__ = [
    "BackendUnavailableError", "Evaluation", "Instance", "InstanceError", "KvoptError",
    "Schedule", "ScheduleError", "SolveResult", "SolveStatus", "__version__", "verify",
]
