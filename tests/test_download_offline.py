""""Download" without a network fails within seconds, with a sentence a reviewer can act on.

It used to show "Connecting to ModelScope…" for about 30 s (modelscope's retries), then a raw
error cut mid-word. No test here makes internet traffic: the network is a closed local port,
or is taken away at the socket level (name lookups and connections refused, or a name lookup
that never answers), or the hub is replaced by a stand-in that fails the way modelscope does.
"""

from __future__ import annotations

import errno
import gc
import importlib
import re
import socket
import threading
import time
from pathlib import Path

import pytest
from gui_helpers import pump, screenshot, wait_for, xvfb_display  # noqa: F401 - fixture

from desktop.engine import ModelDownloadError, download_model
from desktop.engine import models as models_mod

pytest.importorskip("modelscope")

FAST = 6.0  # seconds: CONNECT_TIMEOUT (4 s) and some slack


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_network(monkeypatch):
    """Every name lookup and connection of this process fails, as on a machine without network."""
    def lookup(host, *args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    def connect(self, address):
        raise OSError(errno.ENETUNREACH, "Network is unreachable")

    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    monkeypatch.setattr(socket.socket, "connect", connect)


def _assert_offline_sentence(message: str, host: str, target: Path) -> None:
    assert message.startswith(f"This computer cannot connect to ModelScope ({host}): there seems to be no "
                              "internet connection. Connect to the internet and press Download again.")
    assert "configuration.json and pytorch_model.pt" in message and models_mod.MODEL_URL in message
    assert message.endswith(f"put them into this folder: {target}")


def _download_fails(target: Path) -> tuple[ModelDownloadError, float]:
    t0 = time.monotonic()
    with pytest.raises(ModelDownloadError) as err:
        download_model(target)
    return err.value, time.monotonic() - t0


def test_closed_port_fails_at_once(tmp_path, monkeypatch):
    monkeypatch.setenv("MODELSCOPE_DOMAIN", f"127.0.0.1:{_closed_port()}")  # modelscope's own endpoint setting
    target = tmp_path / "cache" / "m2fp"
    err, seconds = _download_fails(target)
    assert seconds < FAST
    _assert_offline_sentence(str(err), "127.0.0.1", target)
    assert err.target == str(target)
    assert not (tmp_path / "cache").exists()  # nothing created, nothing left behind


def test_no_network_at_all(tmp_path, no_network, monkeypatch):
    monkeypatch.delenv("MODELSCOPE_DOMAIN", raising=False)
    target = tmp_path / "m2fp"
    err, seconds = _download_fails(target)
    assert seconds < FAST
    _assert_offline_sentence(str(err), "www.modelscope.cn", target)
    assert list(tmp_path.iterdir()) == []


def test_name_lookup_that_never_answers(tmp_path, monkeypatch):
    """A resolver without network can take far longer than the user waits: give up after seconds."""
    monkeypatch.delenv("MODELSCOPE_DOMAIN", raising=False)
    release = threading.Event()

    def hang(host, *args, **kwargs):
        release.wait(60)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", hang)
    try:
        err, seconds = _download_fails(tmp_path / "m2fp")
    finally:
        release.set()
    assert seconds < FAST
    _assert_offline_sentence(str(err), "www.modelscope.cn", tmp_path / "m2fp")


def test_proxy_is_what_must_be_reachable(monkeypatch):
    """Behind a proxy, the proxy is checked, not ModelScope (which only the proxy can reach)."""
    port = _closed_port()
    monkeypatch.delenv("MODELSCOPE_DOMAIN", raising=False)
    monkeypatch.setenv("https_proxy", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    host, problem = models_mod.modelscope_reachable()
    assert host == "127.0.0.1" and problem is not None


# -- failures during the download ---------------------------------------------------------------


def _hub_failing_with(monkeypatch, exc: BaseException) -> None:
    module = importlib.import_module("modelscope.hub.snapshot_download")

    def hub(model_id, local_dir, allow_patterns, progress_callbacks):
        cb = progress_callbacks[0]("pytorch_model.pt", 250_000_000)
        cb.update(1 << 20)
        raise exc

    monkeypatch.setattr(module, "snapshot_download", hub)
    monkeypatch.setattr(models_mod, "modelscope_reachable", lambda: ("www.modelscope.cn", None))


def _lost_connection() -> BaseException:
    import requests

    url = "https://www.modelscope.cn/api/v1/models/damo/cv_resnet101_image-multiple-human-parsing/repo?Revision=master"
    try:
        try:
            raise requests.exceptions.ConnectionError(f"HTTPSConnectionPool(host='www.modelscope.cn', port=443): "
                                                      f"Max retries exceeded with url: {url}")
        except requests.exceptions.ConnectionError as inner:
            raise RuntimeError("[E1020] Connection failed") from inner  # how modelscope wraps it
    except RuntimeError as outer:
        return outer


@pytest.mark.parametrize("exc,says", [
    (_lost_connection(), "The connection to ModelScope failed during the download. Check the internet "
                         "connection and press Download again."),
    (OSError(errno.ENOSPC, "No space left on device"), "There is not enough free disk space for the model"),
])
def test_failure_during_the_download_is_one_sentence(exc, says, tmp_path, monkeypatch):
    _hub_failing_with(monkeypatch, exc)
    target = tmp_path / "m2fp"
    err, _ = _download_fails(target)
    message = str(err)
    assert message.startswith(says)
    assert message.endswith(f"into this folder by hand: {target}")
    assert "HTTPSConnectionPool" not in message and "Errno" not in message
    assert list(tmp_path.iterdir()) == []  # the half download is gone


def test_an_unknown_failure_is_quoted_whole_words_only(tmp_path, monkeypatch):
    words = [f"word{n:03d}" for n in range(60)]
    _hub_failing_with(monkeypatch, ValueError(" ".join(words)))
    err, _ = _download_fails(tmp_path / "m2fp")
    quoted = re.search(r"ModelScope did not deliver the model \((.*?)\)", str(err)).group(1)
    assert quoted.endswith(" …")
    assert all(w in words for w in quoted[:-2].split())  # every word whole, none cut


# -- the window -------------------------------------------------------------------------------


@pytest.mark.gui
def test_model_dialog_offline_says_what_to_do_and_opens_the_folder(xvfb_display, tmp_path, monkeypatch,  # noqa: F811
                                                                   no_network):
    monkeypatch.setenv("M2FP_CONFIG_DIR", str(tmp_path / "config"))
    monkeypatch.setenv("M2FP_LOG_DIR", str(tmp_path / "logs"))
    monkeypatch.delenv("MODELSCOPE_DOMAIN", raising=False)
    from desktop.app import create_root
    from desktop.app import model_dialog as dialog_mod

    opened = []
    monkeypatch.setattr(dialog_mod, "open_folder", opened.append)
    target = tmp_path / "cache" / "models" / "m2fp"
    root, _ = create_root()
    root.deiconify()
    try:
        dialog = dialog_mod.ModelDialog(root, on_done=lambda path: None, target=str(target), download=download_model)
        t0 = time.monotonic()
        dialog.start_download()
        wait_for(root, lambda: "cannot connect" in dialog.progress_text.cget("text"), 20, "the offline message")
        assert time.monotonic() - t0 < FAST + 1
        _assert_offline_sentence(dialog.progress_text.cget("text"), "www.modelscope.cn", target)
        screenshot(root, "gui_model_dialog_offline", dialog)
        assert dialog.open_target_button.winfo_ismapped()
        assert dialog.download_button.instate(["!disabled"])  # the user can try again
        dialog.open_target_button.invoke()
        assert target.is_dir() and opened == [target]
    finally:
        root.destroy()
        dialog = root = None
        gc.collect()
