"""The environment of every git process extctl starts: an allow-list, enforced where gitpython spawns.

Owns: ``git_child_env`` (pure: the variables a git child may inherit from extctl's environment, plus the
``GIT_*`` settings extctl itself chose for that call), ``git_settings`` (a context manager that adds
such settings for the git processes started inside it, in this thread or task only), and the one hook
that applies both: gitpython always starts git with a copy of ``os.environ`` plus additions and has no
way to drop a variable (gitpython-developers/GitPython#924), so on import this module wraps gitpython's
process factories (``git.cmd.safer_popen``, and ``git.cmd.Popen`` for its timeout watchdog's ``pgrep``)
and hands every child ``git_child_env(os.environ, <settings>)`` instead.
Inherited: ``PATH``, ``HOME``, ``TMPDIR``, ``LANG``/``LC_*``, proxy variables (``HTTPS_PROXY``,
``NO_PROXY``… both cases), ``SSL_CERT_FILE``/``SSL_CERT_DIR``, ``GIT_SSL_CAINFO``/``GIT_SSL_CAPATH``
and where git reads its config (``GIT_CONFIG_GLOBAL``/``GIT_CONFIG_SYSTEM``/``GIT_CONFIG_NOSYSTEM``).
Every other ``GIT_*`` variable comes from extctl (askpass helper, ssh command, ``GIT_CONFIG_COUNT``
entries, ``GIT_DIR``…); ``LC_ALL``/``LANGUAGE`` are ``C`` (git's messages are parsed in English).
Never inherited: any ``EXTCTL_*`` variable, tokens, ``SSH_AUTH_SOCK`` (keys come only from
``EXTCTL_GIT_SSH_KEY_FILE``), or anything else not listed.
Must not: hold credentials, or be bypassed: extctl starts git only through gitpython.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from types import ModuleType
from typing import Any

_INHERITED = frozenset({
    "PATH", "HOME", "TMPDIR", "LANG",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "no_proxy", "all_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "GIT_SSL_CAINFO", "GIT_SSL_CAPATH",
    "GIT_CONFIG_GLOBAL", "GIT_CONFIG_SYSTEM", "GIT_CONFIG_NOSYSTEM",
})
_LOCALE = re.compile(r"^LC_[A-Z_]+$")
# What gitpython sets for every git it starts (its parsers, and ``giterrors``, read English messages).
_FIXED = {"LC_ALL": "C", "LANGUAGE": "C"}

_SETTINGS: ContextVar[Mapping[str, str] | None] = ContextVar("extctl_git_settings", default=None)


def inherited(name: str) -> bool:
    """True if a git child may see extctl's own value of the variable ``name``."""
    return name in _INHERITED or (_LOCALE.match(name) is not None and name != "LC_ALL")


def git_child_env(environ: Mapping[str, str], settings: Mapping[str, str]) -> dict[str, str]:
    """The complete environment of one git process: the allow-listed part of ``environ``, then the
    ``GIT_*`` ``settings`` extctl chose for the call. ``EXTCTL_*`` names are dropped from both."""
    env = {name: value for name, value in environ.items() if inherited(name)}
    env.update(_FIXED)
    env.update({name: value for name, value in settings.items() if name.startswith("GIT_")})
    return env


@contextmanager
def git_settings(**settings: str) -> Iterator[None]:
    """Add ``GIT_*`` settings for every git process started inside the block (nests; per thread/task)."""
    token = _SETTINGS.set({**current_settings(), **settings})
    try:
        yield
    finally:
        _SETTINGS.reset(token)


def current_settings() -> dict[str, str]:
    """The settings in effect for git processes started here."""
    return dict(_SETTINGS.get() or {})


_EXECUTABLE_VAR, _REFRESH_VAR = "GIT_PYTHON_GIT_EXECUTABLE", "GIT_PYTHON_REFRESH"


def _import_gitpython() -> tuple[ModuleType, bool]:
    """``import git`` without the ``git version`` it runs on import, which would start before the wrapper
    below exists and so see extctl's whole environment: during the import gitpython is pointed at an
    executable that is not on PATH (a ``FileNotFoundError``, no process), in its quiet mode. Returns the
    module and whether the check still has to be made (``git.refresh``, once the wrapper is in place)."""
    if "git" in sys.modules:
        return sys.modules["git"], False
    saved = {name: os.environ.get(name) for name in (_EXECUTABLE_VAR, _REFRESH_VAR)}
    os.environ[_EXECUTABLE_VAR] = "extctl-deferred-git-check"
    os.environ[_REFRESH_VAR] = "quiet"
    try:
        import git  # noqa: PLC0415 - imported here, with the environment above
        import git.cmd  # noqa: PLC0415
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return git, True


_git, _check_git = _import_gitpython()
# The factory gitpython had before this module wrapped it (``__wrapped__`` if a reload wraps it twice).
_gitpython_popen = getattr(_git.cmd.safer_popen, "__wrapped__", _git.cmd.safer_popen)


def _allow_listed_popen(*args: Any, **kwargs: Any) -> Any:
    """gitpython's process factory with the environment it built replaced by the allow-listed one."""
    kwargs["env"] = git_child_env(os.environ, current_settings())
    return _gitpython_popen(*args, **kwargs)


_allow_listed_popen.__wrapped__ = _gitpython_popen  # type: ignore[attr-defined]
_git.cmd.safer_popen = _allow_listed_popen
# gitpython's timeout watchdog (``kill_after_timeout``) finds git's children with ``pgrep``/``ps`` through
# the module's own ``Popen`` name: those get the allow-listed environment too.
_git.cmd.Popen = _allow_listed_popen
if _check_git:
    # gitpython's own check of the git executable, now through the wrapper. Quiet, as on import (extctl
    # sets GIT_PYTHON_REFRESH=quiet): a missing git is reported by the first git call that needs it.
    with contextlib.suppress(_git.exc.GitCommandNotFound):
        _git.refresh()
