"""PII detection and redaction: detectors, the redaction engine and the streaming filter."""

from gateway.policy.config import Action, CustomPattern, PolicyConfigError, RedactionConfig
from gateway.policy.cursor import Redaction
from gateway.policy.detector import Detector, Finding
from gateway.policy.errors import PiiBlockedError
from gateway.policy.pseudonym import PseudonymState
from gateway.policy.redactor import DENY_WORD, Redactor
from gateway.policy.stream import OutputFilter

__all__ = [
    "DENY_WORD",
    "Action",
    "CustomPattern",
    "Detector",
    "Finding",
    "OutputFilter",
    "PiiBlockedError",
    "PolicyConfigError",
    "PseudonymState",
    "Redaction",
    "RedactionConfig",
    "Redactor",
]
