"""This application sends and stores no telemetry: OpenVINO's usage reporting is switched off.

Why it is needed: OpenVINO's Python package reports usage to Google Analytics through the
``openvino_telemetry`` package, on by default. ``import openvino`` (and every model
conversion) sends events and writes a client id and usage counts under ``~/intel`` (on
Windows ``%LOCALAPPDATA%\\Intel Corporation``), unless a consent file there says no. The app
is used offline on private photos, so it must do neither.

How: OpenVINO's own opt-out (``opt_in_out --opt_out``) writes that consent file into the
same ``~/intel`` folder, so it would itself leave a file behind, and it is per user, not per
application. OpenVINO has a second, built-in switch: when ``openvino_telemetry`` cannot be
imported, every OpenVINO module uses its own no-op stand-in
(``openvino.tools.ovc.telemetry_stub``), which sends and writes nothing. Marking the module
as unavailable in ``sys.modules`` before OpenVINO is imported takes that path, without
touching the user's files or environment. The packaged build leaves ``openvino_telemetry``
out as well (build_exe.spec).
"""

from __future__ import annotations

import logging
import sys

log = logging.getLogger(__name__)

TELEMETRY_MODULE = "openvino_telemetry"


def disable_openvino_telemetry() -> bool:
    """Make OpenVINO use its no-telemetry stand-in; call before ``openvino`` is first imported.

    Returns True when telemetry is off for this process. Idempotent. If OpenVINO's telemetry was
    already imported (by code that imported openvino before this package), its consent is
    withdrawn for this process instead, and a warning is logged.
    """
    module = sys.modules.get(TELEMETRY_MODULE, None)
    if TELEMETRY_MODULE not in sys.modules:
        sys.modules[TELEMETRY_MODULE] = None  # type: ignore[assignment]  # "import" now raises ImportError
        return True
    if module is None:
        return True
    # Imported already: the singleton may exist; stop it from sending anything more.
    telemetry_class = getattr(module, "Telemetry", None)
    instance = getattr(telemetry_class, "_SingletonMetaClass__single_instance", None)
    if instance is not None:
        instance.consent = False
    log.warning("OpenVINO was imported before its telemetry could be switched off; "
                "its usage reporting is now disabled for this process")
    return False
